"""Print a study's verdicts (OUT/summary.json) as the README's verdict table (markdown), then each claim's reason and
caveats.

    python examples/summary_table.py fracturelab-out            # docs/study.md's table, caveats below it
    python examples/summary_table.py fracturelab-out --brief    # the README's: more than two units as a range, no note or caveats
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fracturelab.study.claims import UNIT_BREAKDOWNS


def fmt(x) -> str:
    return "–" if x is None else f"{x:.3g}"


def per_unit(c: dict, brief: bool) -> str:
    """The claim's effect per task (or reference), each with its n; brief: more than four as their range."""
    units = [(k, v) for kind, d in c["breakdown"].items() if kind in UNIT_BREAKDOWNS for k, v in d.items()]
    effects = [v["effect"] for _, v in units if v["effect"] is not None]
    if brief and len(units) > 2 and effects:
        return f"{len(units)} units, {fmt(min(effects))} to {fmt(max(effects))}"
    return "; ".join(f"{k} {fmt(v['effect'])} (n {v['n']})" for k, v in units)


def main(out: str, brief: bool = False) -> None:
    s = json.loads((Path(out) / "summary.json").read_text())
    if s.get("profile_note") and not brief:
        print(f"*{s['profile_note']}*\n")
    print("| # | claim (as measured) | verdict | effect [interval] (level) | SESOI | p (Holm) | power at SESOI | n | "
          "per task / reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in s["claims"]:
        per = per_unit(c, brief)
        ci = f"[{fmt(c['ci'][0])}, {fmt(c['ci'][1])}]"
        print(f"| {c['id']} | {c['claim']} | {c['verdict']} | {fmt(c['effect'])} {ci} ({100 * c['level']:.2f} %) | "
              f"±{c['sesoi']:g} | {fmt(c['p_holm'])} | {fmt(c.get('power'))} | {c['n']} {c['unit']}s, {c['runs']} runs | "
              f"{per or '–'} |")
    if brief:
        return
    print()
    for c in s["claims"]:
        notes = ([c["reason"]] if c["verdict"] == "inconclusive" else []) + c["caveats"]
        if notes:
            print(f"- claim {c['id']}: " + "; ".join(notes))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--brief"]
    main(args[0] if args else "fracturelab-out", brief="--brief" in sys.argv[1:])
