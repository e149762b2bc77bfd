"""Plug-ins: Python files or importable modules, outside the package, that add tasks and probes
(fracturelab.tasks.register_task, fracturelab.probes.register_probe).

    from fracturelab import plugins
    plugins.load(["my_task_plugin.py", "mypackage.probes"])   # here, and in every worker process started afterwards

A study's cells run in spawned worker processes that import fracturelab afresh, so a registration made only in the
calling process would not exist there. `load` therefore also names its plug-ins in the environment variable
FRACTURELAB_PLUGINS (paths and module names separated by os.pathsep), which worker processes inherit, and the
registries (fracturelab.tasks, fracturelab.probes) load what it names once they are imported. Each plug-in is
imported at most once per process. A .py plug-in's folder is appended to sys.path first, so it can import the
modules beside it (a task module and the file that registers it); appended, not prepended, so nothing there shadows
an installed module.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import FracturelabError

ENV = "FRACTURELAB_PLUGINS"

_seen: set[str] = set()  # plug-ins imported (or being imported) in this process
_paused = 0  # registries being imported: a plug-in that imports one then would find it half-made


def _ref(plugin) -> str:
    """A plug-in's reference: the absolute path of a .py file, or a module name as given."""
    text = str(plugin)
    if text.endswith(".py"):
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise FracturelabError(f"plug-in {text}: no such file")
        return str(path)
    if not all(part.isidentifier() for part in text.split(".")):
        raise FracturelabError(f"plug-in {text!r}: neither a .py file nor a module name")
    return text


def _import(ref: str) -> None:
    if ref in _seen:
        return
    _seen.add(ref)
    try:
        if ref.endswith(".py"):
            if str(Path(ref).parent) not in sys.path:
                sys.path.append(str(Path(ref).parent))
            # a name of its own per path, so two plug-ins named alike in different folders do not collide
            name = f"fracturelab_plugin_{Path(ref).stem}_{hashlib.sha1(ref.encode()).hexdigest()[:8]}"
            spec = importlib.util.spec_from_file_location(name, ref)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # before running it, as an import would (dataclasses and pickle look it up)
            spec.loader.exec_module(module)
        else:
            importlib.import_module(ref)
    except FracturelabError as e:
        _seen.discard(ref)
        raise FracturelabError(f"plug-in {ref}: {e}") from None
    except SystemExit as e:  # exit(0) at import ended the study silently with exit 0, nothing run or written
        _seen.discard(ref)
        raise FracturelabError(f"plug-in {ref}: exited at import (SystemExit {e.code!r}); a plug-in only defines "
                               "and registers") from None
    except Exception as e:  # noqa: BLE001 - a broken plug-in is bad input: one line naming it
        _seen.discard(ref)
        raise FracturelabError(f"plug-in {ref}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") \
            from None


def load(plugins) -> list[str]:
    """Import the plug-ins (paths of .py files or module names) in this process and name them in FRACTURELAB_PLUGINS
    for worker processes started afterwards; returns their references. A missing file or a plug-in that fails to
    import raises FracturelabError with one line naming it."""
    refs = [_ref(p) for p in plugins]
    for ref in refs:
        _import(ref)
    named = [r for r in os.environ.get(ENV, "").split(os.pathsep) if r]
    os.environ[ENV] = os.pathsep.join(named + [r for r in refs if r not in named])
    return refs


def load_env() -> None:
    """Import the plug-ins FRACTURELAB_PLUGINS names (the registries call this once they are imported; nothing
    while one is still being imported)."""
    if _paused:
        return
    for ref in (r for r in os.environ.get(ENV, "").split(os.pathsep) if r):
        _import(_ref(ref))


def pause() -> None:
    """Hold load_env while a registry package is being imported (its first line)."""
    global _paused
    _paused += 1


def resume() -> None:
    """End pause() (a registry package's last line); the outermost one loads FRACTURELAB_PLUGINS."""
    global _paused
    _paused -= 1
    load_env()
