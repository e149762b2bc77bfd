"""docs/cppn-fer.md's map-metric table: FER's Picbreeder and SGD nets (skull, butterfly, apple) and the built-ins.

    python examples/fer_metrics_table.py [--picbreeder ../shared/data/picbreeder]
"""
import argparse
from pathlib import Path

from fracturelab.cppn import load_cppn
from fracturelab.fer.maps import map_metrics

COLS = ["novel_maps", "roughness", "effective_dim_ratio_max", "effective_dim_ratio_mean", "symmetric_fraction",
        "redundancy"]

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--picbreeder", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/picbreeder")
    nets = ap.parse_args().picbreeder / "fer" / "nets"
    specs = [nets / f"{k}_{i}" for i in ("skull", "butterfly", "apple") for k in ("picbreeder", "sgd")]
    print("| net | " + " | ".join(COLS) + " |\n|" + "---|" * (len(COLS) + 1))
    for spec in specs + ["face", "target", "sunset"]:
        net = load_cppn(spec)
        m = map_metrics(net, res=64)
        print(f"| {net.name} | " + " | ".join(f"{m[c]:.4g}" for c in COLS) + " |")
