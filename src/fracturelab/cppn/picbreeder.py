"""The real Picbreeder networks shipped with fracturelab: 16 CPPN-X genomes (MIT) and FER's three genomes and six
nets (Apache-2.0), byte-identical copies under fracturelab/data/picbreeder (its README.md gives the format, NOTICE
the sources and licenses).

    from fracturelab.cppn import picbreeder
    picbreeder.ROOT                   # the packaged folder (cppnx/, fer/genomes/, fer/nets/)
    picbreeder.names()                # ['skull', 'butterfly', 'apple', 'picbreeder_skull', ..., '576_Skull', ...]
    picbreeder.resolve("skull")       # ROOT / "fer/genomes/skull.zip"; None for a name not shipped

A name is FER's image (`skull`, `butterfly`, `apple`: its genome zip), FER's net folder (`picbreeder_skull`,
`sgd_skull`, ...) or a CPPN-X genome's file stem (`576_Skull`, `4547_Face`, ...). Every loader that takes a genome
path takes these names too (cppn.nets.load_cppn).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "data" / "picbreeder"
"""The packaged copy of the Picbreeder data folder."""

FER_IMAGES = ("skull", "butterfly", "apple")
"""FER's three images, in the paper's order."""

EXTRA_FILES = ("NOTICE", "fer/LICENSE")
"""Files of the packaged copy that are not in the original data folder: attribution and FER's license text."""


def _table() -> dict[str, str]:
    """name -> path relative to ROOT, in a fixed order: FER's genomes, FER's nets, the CPPN-X genomes."""
    out = {n: f"fer/genomes/{n}.zip" for n in FER_IMAGES}
    out |= {f"{k}_{n}": f"fer/nets/{k}_{n}" for n in FER_IMAGES for k in ("picbreeder", "sgd")}
    out |= {p.stem: f"cppnx/{p.name}" for p in sorted((ROOT / "cppnx").glob("*.xml"))}
    return out


NAMES: dict[str, str] = _table()
"""Every shipped name and its path relative to ROOT."""


def names() -> list[str]:
    """Every shipped network's name (FER's genomes, FER's nets, the CPPN-X genomes)."""
    return list(NAMES)


def resolve(name: str) -> Path | None:
    """The packaged genome file or net folder of a shipped name, or None if no network has that name."""
    rel = NAMES.get(str(name))
    return ROOT / rel if rel is not None else None


def name_of(relpath: str) -> str | None:
    """The shipped name of a path relative to the data folder (e.g. "fer/genomes/skull.zip" -> "skull"), or None."""
    rel = Path(relpath).as_posix().strip("/")
    return next((n for n, r in NAMES.items() if r == rel), None)
