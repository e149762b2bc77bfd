"""A finished (or stopped) study as read back from its store, once: what verdicts.py decides from and what the report
renders. Nothing downstream opens the store again, so a report can be written anywhere (an archived, read-only study
included).

    res = load_study("out")            # the latest study of out/results.sqlite
    res.rows, res.examples             # what the claims read; res.cells, res.renders, res.nets what the report shows
    res.provenance, sources(res.cells) # what produced it: the study's provenance, the done cells per source identity
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FracturelabError
from ..provenance import NOTE, UNKNOWN
from .analysis import rows_of
from .cell import CppnCell
from .per_example import parse_meta
from .records import ARCH_TXT, PARAMS_NPY, RENDER_PNG, StoredCell
from .store import STORE, Store


@dataclass(frozen=True)
class StudyNet:
    """A finished CPPN cell's net, as the report's explorer rebuilds it (report/explorer.py)."""

    key: str
    """The cell's key."""
    reference: str
    """The reference as the spec names it: built-in name, genome file or net folder (the explorer loads it)."""
    name: str
    """The reference's own name (the cell's notes), for labels."""
    regime: str
    """reference, sgd, init or sgd_arch (spec.CPPN_REGIMES)."""
    seed: int
    """The cell's seed."""
    arch: str | None
    """The net's arch string (records.ARCH_TXT; None in a store written before the explorer existed)."""
    params: bytes | None
    """The net's flat float32 weights as a .npy file (records.PARAMS_NPY; None likewise)."""


@dataclass(frozen=True)
class StudyResults:
    """What a store holds about its latest study, read once."""

    spec: object
    """The study's spec (spec.StudySpec), as stored."""
    study: dict
    """The studies table's row: id, name, digest, spec, options (keys, picbreeder, executor, workers, threads,
    provenance), created."""
    cells: list[StoredCell]
    """The study's cells in the spec's order, whatever their status."""
    rows: list[dict]
    """One flat row per done cell: its fields and its metrics (analysis.rows_of)."""
    examples: dict
    """{cell key: [test example, ...]} (per_example.parse_meta)."""
    renders: dict[str, bytes]
    """{cell key: PNG of its net's render} of the done CPPN cells that stored one."""
    nets: list[StudyNet]
    """The done CPPN cells' nets, for the explorer."""
    counts: dict[str, int]
    """Rows per table of the whole store (cells, metrics, examples, blobs)."""

    @property
    def provenance(self) -> dict | str:
        """The study's provenance as recorded when it started (provenance.collect; the studies table's options), or
        provenance.UNKNOWN for a store written before provenance was recorded."""
        return self.study["options"].get("provenance") or UNKNOWN


def sources(cells: list[StoredCell]) -> dict[str, int]:
    """{source identity: number of done cells it computed} (a cell's notes[provenance.NOTE]; provenance.UNKNOWN for a
    cell computed before it was recorded), most cells first, ties by identity."""
    counts: dict[str, int] = {}
    for c in cells:
        if c.done:
            s = str(c.notes.get(NOTE) or UNKNOWN)
            counts[s] = counts.get(s, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _net(store: Store, c: StoredCell) -> StudyNet:
    arch, params = store.blob(c.key, ARCH_TXT), store.blob(c.key, PARAMS_NPY)
    p = c.params
    if not isinstance(p.get("reference"), str) or not isinstance(p.get("regime"), str):
        raise FracturelabError(f"{store.path}: cells row {c.key!r} params_json: a CPPN cell without its reference "
                               "and regime; the store was changed outside fracturelab")
    return StudyNet(c.key, p["reference"], c.notes.get("reference", Path(p["reference"]).stem), p["regime"],
                    p.get("seed", 0), arch.decode() if arch is not None else None, params)


def load_study(outdir) -> StudyResults:
    """The latest study of OUTDIR's store, read once (FracturelabError with one line when there is none)."""
    from .spec import spec_from_dict

    path = Path(outdir) / STORE
    if not path.is_file():
        raise FracturelabError(f"{outdir}: no {STORE} (run a study into this folder first)")
    with Store(path, create=False) as store:
        study = store.latest_study()
        if study is None:
            raise FracturelabError(f"{path}: holds no study yet")
        bad = next((k for k in ("name", "digest", "created") if not isinstance(study.get(k), str)), None)
        if bad is not None:  # written as text by fracturelab; anything else would reach summary.json's JSON
            raise FracturelabError(f"{path}: studies row {bad} is not text; the store was changed outside fracturelab")
        try:  # rows fracturelab wrote read as it wrote them; one changed outside it is named, never a traceback
            spec = spec_from_dict(study["spec"])
            keys = study["options"]["keys"]
            cells = store.cells(keys)
            if missing := len(set(keys) - {c.key for c in cells}):  # run_study registers every key it lists at once
                raise FracturelabError(f"{path}: {missing} of the study's cells are missing from the cells table; "
                                       "the store was changed outside fracturelab")
            metrics = store.metrics(keys)
            examples = parse_meta(store.examples(keys))
            cppn = [c for c in cells if c.kind == CppnCell.kind and c.done]
            renders = {c.key: png for c in cppn if (png := store.blob(c.key, RENDER_PNG)) is not None}
            nets = [_net(store, c) for c in cppn]
            counts = store.counts()
        except FracturelabError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as e:  # UnicodeDecodeError is a ValueError
            raise FracturelabError(f"{path}: a row was changed outside fracturelab ({type(e).__name__}: "
                                   f"{str(e)[:120]})") from None
    return StudyResults(spec, study, cells, rows_of(cells, metrics), examples, renders, nets, counts)
