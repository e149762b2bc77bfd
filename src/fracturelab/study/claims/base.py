"""What a claim plug-in declares (one module per claim in this package; __init__.py registers them).

A claim module holds its `Claim` record: the claim as measured and why, its measure (study rows -> stats.Estimate),
and its figure (the report draws it from the loaded study and the claim's summary.json entry). A claim may also
declare a table the report shows beside its figure.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

UNIT_BREAKDOWNS = ("task", "reference")
"""Breakdowns of an estimate by the study's strata (per task; claim 1: per reference network), which the verdict
table lists beside every claim. A claim's other breakdowns (claim 2's per component) are its own figure's."""


@dataclass(frozen=True)
class Row:
    """One row of a claim's table: its cells as (css class, text) pairs, already formatted."""

    cells: list
    """[(css class or "", text), ...], one per column."""
    id: str = ""
    """The row's HTML id (links and tests find a row by it); "" for none."""
    cls: str = ""
    """The row's css class (e.g. whether a check passed); "" for none."""


@dataclass(frozen=True)
class Table:
    """A table the report shows in a claim's section, above its figure."""

    id: str
    """The table's HTML id."""
    title: str
    """Its heading."""
    note: str
    """What its columns mean (a paragraph)."""
    header: list
    """Column headings."""
    rows: list
    """[Row, ...]."""
    empty: str
    """What the table says when it has no row."""


@dataclass(frozen=True)
class Claim:
    """One claim of the study."""

    id: int
    """Stable id (summary.json and the report key claims by it)."""
    text: str
    """The claim as measured (effect > 0 = what it says)."""
    source: str
    """Where the claim comes from."""
    measure: str
    """The effect, in words."""
    unit: str
    """The independent unit the interval leaves out in turn (stats.estimate)."""
    control: str
    """The control that could make the claim fail."""
    why: str
    """Why a network without the property would not produce the effect."""
    sesoi: float
    """Default smallest effect of interest (the spec's analysis.sesoi overrides it), in the effect's units."""
    fn: Callable
    """fn(rows, examples_by_cell, analysis settings) -> stats.Estimate: the measure."""
    figure: str
    """The HTML id of the claim's figure in the report (summary.json's "figure"); no two claims share one."""
    draw: Callable
    """draw(results, entry) -> base64 PNG: the figure, from the loaded study (results.StudyResults) and the claim's
    summary.json entry; it draws (a message, at least) whether or not the claim has an estimate."""
    caption: str
    """What the figure shows, for its caption."""
    title: str
    """The claim's section heading in the report (a question the figure answers)."""
    reworded: str = ""
    """How and why the wording differs from the source's, if it does."""
    table: Callable | None = None
    """table(results, entry) -> Table shown above the figure, or None."""
