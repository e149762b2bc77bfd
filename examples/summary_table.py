"""Print a study's verdicts (OUT/summary.json) as the README's verdict table (markdown).

    python examples/summary_table.py fracturelab-out
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fracturelab.study.claims import UNIT_BREAKDOWNS


def fmt(x) -> str:
    return "–" if x is None else f"{x:.3g}"


def main(out: str) -> None:
    s = json.loads((Path(out) / "summary.json").read_text())
    if s.get("profile_note"):
        print(f"*{s['profile_note']}*\n")
    print("| # | claim (as measured) | verdict | effect [interval] (level) | SESOI | p (Holm) | power at SESOI | n | "
          "per task / reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in s["claims"]:
        per = "; ".join(f"{k} {fmt(v['effect'])} (n {v['n']})" for kind, d in c["breakdown"].items()
                        if kind in UNIT_BREAKDOWNS for k, v in d.items())
        ci = f"[{fmt(c['ci'][0])}, {fmt(c['ci'][1])}]"
        print(f"| {c['id']} | {c['claim']} | {c['verdict']} | {fmt(c['effect'])} {ci} ({100 * c['level']:.2f} %) | "
              f"±{c['sesoi']:g} | {fmt(c['p_holm'])} | {fmt(c.get('power'))} | {c['n']} {c['unit']}s, {c['runs']} runs | "
              f"{per or '–'} |")
    print()
    for c in s["claims"]:
        notes = ([c["reason"]] if c["verdict"] == "inconclusive" else []) + c["caveats"]
        if notes:
            print(f"- claim {c['id']}: " + "; ".join(notes))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fracturelab-out")
