"""Scoring planted pairs: every fracture metric (fracture.py: COMPONENTS and CANDIDATES, each signed so that
+ = more fractured) on both nets of a pair, and how well each tells the entangled net from the modular one.

Metrics are the probes' own summary keys (probes.run_probes at the standard profile's probe_options, read from
study/profiles/standard.toml as data: standard_options).
AUC of a metric: within each configuration (task x width), the Mann-Whitney probability that an entangled net's
signed value exceeds a modular net's (ties count 1/2); pooled as the mean weighted by each configuration's pairs
(values are compared within a configuration only: metrics differ in scale between tasks, and some, such as the
effective rank per unit, with width; the study's composite is likewise compared within task). by_task: the same
pooled over one task's widths. Interval: percentile bootstrap over pairs, resampled within configuration (`n_boot`,
seeded). paired_frac: the fraction of pairs whose entangled net scores above its own modular partner. n: pairs where
both nets have the metric. passes: composite.passes (AUC >= PLANTED_BAR over >= PLANTED_MIN_PAIRS pairs); enters:
the metric is in composite.TASK_COMPOSITE.
"""
from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np

from ..errors import FracturelabError
from ..fracture import CANDIDATES, COMPONENTS, METRICS, PLANTED_BAR, PLANTED_MIN_PAIRS, TASK_COMPOSITE, passes

PROBE_NAMES = tuple(dict.fromkeys(m.probe for m in METRICS))
"""The probes the metrics come from."""


def check_metrics(metrics=METRICS) -> None:
    """FracturelabError naming the first metric whose probe is not registered, or whose sign is not +-1."""
    from ..probes import PROBES

    for m in metrics:
        if m.probe not in PROBES or "." not in m.name:
            raise FracturelabError(f"fracture metric {m.name!r}: no probe {m.probe!r} reports it "
                                   f"(probes: {', '.join(PROBES)})")
        if m.sign not in (1.0, -1.0):
            raise FracturelabError(f"fracture metric {m.name!r}: sign {m.sign!r} is not +1 or -1")


def unproduced(results: dict[str, dict], metrics=METRICS) -> list[str]:
    """The metrics whose probe ran in `results` (run_probes' output; a skipped or absent probe is not asked) but
    reported no value under the metric's key: a metric no probe produces."""
    out = []
    for m in metrics:
        got = results.get(m.probe)
        if got is not None and "skipped" not in got and m.name.split(".", 1)[1] not in got:
            out.append(m.name)
    return out

STANDARD_PROFILE = "study/profiles/standard.toml"
"""The standard study profile, inside the package: its probe_options are the settings every pair is scored at."""


def standard_options() -> dict:
    """The standard profile's probe_options ({probe: {setting: value}}), read from its TOML file as data (planted/
    does not import study/)."""
    path = resources.files("fracturelab").joinpath(STANDARD_PROFILE)
    try:
        options = tomllib.loads(path.read_text()).get("probe_options", {})
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FracturelabError(f"planted: cannot read the standard profile's probe_options from {path} ({e})") from None
    if not isinstance(options, dict):
        raise FracturelabError(f"planted: {path}: probe_options is not a table")
    return options


def flat_scores(results: dict) -> dict[str, float | None]:
    """{"<probe>.<metric>": value} of every metric from run_probes' results (None where a probe skipped or a value is
    not finite); FracturelabError naming a metric that a probe which ran did not report (a name no probe produces)."""
    if missing := unproduced(results):
        raise FracturelabError(f"planted: fracture metric {missing[0]} is not reported by its probe "
                               "(fracture.py names a key the probe does not produce)")
    out = {}
    for name, _, _ in METRICS:
        probe, key = name.split(".", 1)
        v = results.get(probe, {}).get(key)
        out[name] = float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None
    return out


def mann_whitney_auc(ent: np.ndarray, mod: np.ndarray) -> float:
    """P(ent > mod) + P(ent = mod) / 2 over all (entangled, modular) combinations."""
    diff = np.asarray(ent, float)[:, None] - np.asarray(mod, float)[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _pooled(groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    w = np.array([len(e) for e, _ in groups], float)
    return float(np.dot(w, [mann_whitney_auc(e, m) for e, m in groups]) / w.sum())


def metric_auc(rows: list[dict], name: str, sign: float, n_boot: int = 1000, seed: int = 0) -> dict:
    """{"auc", "ci", "n", "paired_frac", "by_task"} of one metric over pair rows (each {"task", "width", "modular":
    {name: value}, "entangled": {...}}); auc None where no pair has the metric."""
    by_config: dict[tuple, list[tuple[float, float]]] = {}
    for r in rows:
        e, m = r["entangled"].get(name), r["modular"].get(name)
        if e is not None and m is not None:
            by_config.setdefault((r["task"], r["width"]), []).append((sign * e, sign * m))
    n = sum(len(v) for v in by_config.values())
    if n == 0:
        return {"auc": None, "ci": [None, None], "n": 0, "paired_frac": None, "by_task": {}}
    groups = {c: (np.array([p[0] for p in v]), np.array([p[1] for p in v])) for c, v in by_config.items()}
    auc = _pooled(list(groups.values()))
    rng = np.random.default_rng([seed, 27])
    boot = []
    for _ in range(n_boot):
        pick = []
        for e, m in groups.values():
            i = rng.integers(len(e), size=len(e))
            pick.append((e[i], m[i]))
        boot.append(_pooled(pick))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    paired = np.concatenate([e > m for e, m in groups.values()]).mean()
    tasks = sorted({c[0] for c in groups})
    by_task = {t: {"auc": _pooled([g for c, g in groups.items() if c[0] == t]),
                   "n": sum(len(g[0]) for c, g in groups.items() if c[0] == t)} for t in tasks}
    return {"auc": auc, "ci": [float(lo), float(hi)], "n": n, "paired_frac": float(paired), "by_task": by_task}


def auc_table(rows: list[dict], n_boot: int = 1000, seed: int = 0) -> tuple[dict, dict]:
    """(components, candidates): {name: metric_auc(...) plus its "sign", "passes" and "enters"} for every metric."""
    inside = {m.name for m in TASK_COMPOSITE}

    def table(metrics):
        out = {}
        for name, sign, _ in metrics:
            r = metric_auc(rows, name, sign, n_boot, seed)
            out[name] = {**r, "sign": sign, "passes": passes(r["auc"], r["n"]), "enters": name in inside}
        return out
    return table(COMPONENTS), table(CANDIDATES)


def composite_warning(result: dict) -> str | None:
    """One line when this run disagrees with the declared composite: a metric in TASK_COMPOSITE that does not pass,
    or a passing metric of a probe with no metric in it; None when it agrees."""
    table = {**result["components"], **result["candidates"]}
    covered = {m.probe for m in TASK_COMPOSITE}
    failing = [f"{m.name} (AUC {_fmt(table[m.name]['auc'])}, n {table[m.name]['n']})" for m in TASK_COMPOSITE
               if not table[m.name]["passes"]]
    new = [f"{n} (AUC {_fmt(r['auc'])}, n {r['n']})" for n, r in table.items()
           if r["passes"] and n.split(".", 1)[0] not in covered]
    if not failing and not new:
        return None
    parts = [f"in the composite but not passing on this run: {', '.join(failing)}"] if failing else []
    if new:
        parts.append(f"passing, from a probe with no metric in the composite: {', '.join(new)}")
    return (f"planted: the fracture composite (fracture.py; passes = AUC >= {PLANTED_BAR:g} over >= "
            f"{PLANTED_MIN_PAIRS} pairs) disagrees with this run: " + "; ".join(parts))


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def markdown(result: dict) -> str:
    """planted.md: one line on the run, then per metric (components, then candidates) its kind, AUC, 95 % interval,
    n, AUC per task, and whether it passes and enters the composite (the table of docs/planted.md)."""
    tasks = sorted(result["tasks"])
    lines = [(f"{result['pairs']} pairs ({result['unequal']} left out as unequal). AUC = P(entangled scores more "
              "fractured than modular), within task x width, pooled (weights: pairs); 95 % bootstrap interval over "
              f"pairs. passes: AUC >= {PLANTED_BAR:g} over >= {PLANTED_MIN_PAIRS} pairs; enters: in the fracture "
              "composite (fracture.py)."), "",
             "| metric | kind | AUC | 95 % CI | n | " + " | ".join(tasks) + " | passes | enters |",
             "|---|---|---|---|---|" + "---|" * len(tasks) + "---|---|"]
    for kind in ("components", "candidates"):
        for name, r in result[kind].items():
            per = [_fmt(r["by_task"].get(t, {}).get("auc")) for t in tasks]
            lines.append(f"| {name} | {kind[:-1]} | {_fmt(r['auc'])} | [{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}] | "
                         f"{r['n']} | " + " | ".join(per) + f" | {'yes' if r['passes'] else 'no'} | "
                         f"{'yes' if r['enters'] else 'no'} |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], result: dict, path) -> None:
    """Per metric: modular (left) against entangled (right) value of every pair, one line per pair, coloured by
    task; the title gives the AUC and whether it is in the composite."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [(n, "components") for n in result["components"]] + [(n, "candidates") for n in result["candidates"]]
    tasks = sorted({r["task"] for r in rows})
    colours = dict(zip(tasks, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    ncol = 4
    nrow = -(-len(metrics) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow), squeeze=False)
    for ax, (name, kind) in zip(axes.flat, metrics):
        for r in rows:
            m, e = r["modular"].get(name), r["entangled"].get(name)
            if m is not None and e is not None:
                ax.plot([0, 1], [m, e], "-o", ms=2, lw=0.7, alpha=0.6, color=colours[r["task"]])
        auc = result[kind][name]["auc"]
        enters = " (in composite)" if result[kind][name]["enters"] else ""
        ax.set_title(f"{name}\nAUC {_fmt(auc)}{enters}", fontsize=8)
        ax.set_xticks([0, 1], ["modular", "entangled"], fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[t], label=t) for t in tasks]
    fig.legend(handles=handles, loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
