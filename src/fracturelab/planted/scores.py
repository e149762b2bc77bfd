"""Scoring planted pairs: every fracture component and candidate metric on both nets of a pair, and how well each
tells the entangled net from the modular one.

Metrics are the probes' own summary keys (probes.run_probes, settings as the study's standard profile,
STANDARD_OPTIONS), each with a sign so that + = more fractured:
- COMPONENTS: the fracture composite of claims 2, 8 and 9 (study.measures.TASK_COMPOSITE: the same names and signs;
  tests/test_planted.py checks they agree);
- CANDIDATES: other metrics the probes already report, signed by the same reasoning (less disentangled or less
  complete = more fractured; more spread = more fractured; a net no more clusterable than its shuffles = more
  fractured).
AUC of a metric: within each configuration (task x width), the Mann-Whitney probability that an entangled net's
signed value exceeds a modular net's (ties count 1/2); pooled as the mean weighted by each configuration's pairs
(values are compared within a configuration only: metrics differ in scale between tasks, and some, such as the
effective rank per unit, with width; the study's composite is likewise compared within task). by_task: the same
pooled over one task's widths. Interval: percentile bootstrap over pairs, resampled within configuration (`n_boot`,
seeded). paired_frac: the fraction of pairs whose entangled net scores above its own modular partner. n: pairs where
both nets have the metric.
"""
from __future__ import annotations

import numpy as np

COMPONENTS = (("factorization.dci_c", -1.0), ("crosstalk.spread", 1.0), ("clusterability.ncut_rel", 1.0),
              ("geometry.eff_rank_ratio", 1.0))
"""The fracture composite's components (store name, sign: + = more fractured), as study.measures.TASK_COMPOSITE."""

CANDIDATES = (("factorization.dci_d", -1.0), ("factorization.info_c", -1.0), ("factorization.info_m", -1.0),
              ("crosstalk.spread_weight", 1.0), ("crosstalk.spread_direction", 1.0),
              ("clusterability.ncut_z", 1.0), ("geometry.participation_ratio", 1.0))
"""Other metrics scored on the same pairs (store name, sign)."""

PROBE_NAMES = ("factorization", "crosstalk", "clusterability", "geometry")
"""The probes the metrics come from."""

STANDARD_OPTIONS = {"clusterability": {"n_shuffles": 5}, "factorization": {"max_examples": 600}}
"""The standard study profile's probe_options (study/profiles/standard.toml; tests check they agree)."""


def flat_scores(results: dict) -> dict[str, float | None]:
    """{"<probe>.<metric>": value} of the COMPONENTS and CANDIDATES from run_probes' results (None where a probe
    skipped or a value is not finite)."""
    out = {}
    for name, _ in COMPONENTS + CANDIDATES:
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
    """(components, candidates): {name: metric_auc(...) plus its "sign"} for every metric."""
    def table(metrics):
        return {name: {**metric_auc(rows, name, sign, n_boot, seed), "sign": sign} for name, sign in metrics}
    return table(COMPONENTS), table(CANDIDATES)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown(result: dict) -> str:
    """The README table of a planted.json: per metric its AUC, interval, n and per-task AUCs."""
    tasks = sorted(result["tasks"])
    lines = [f"# Planted structure: {result['pairs']} pairs (entangled vs modular, same function)", "",
             ("AUC = P(entangled scores more fractured than modular), within task x width, pooled "
              "(weights: pairs); 95% bootstrap interval over pairs. A component passes at AUC >= 0.9."), "",
             "| metric | kind | AUC | 95% CI | n | paired | " + " | ".join(tasks) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(tasks)]
    for kind in ("components", "candidates"):
        for name, r in result[kind].items():
            per = [_fmt(r["by_task"].get(t, {}).get("auc")) for t in tasks]
            lines.append(f"| {name} | {kind[:-1]} | {_fmt(r['auc'])} | [{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}] | "
                         f"{r['n']} | {_fmt(r['paired_frac'])} | " + " | ".join(per) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], result: dict, path) -> None:
    """Per metric: modular (left) against entangled (right) value of every pair, one line per pair, coloured by
    task; the title gives the AUC."""
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
        ax.set_title(f"{name}\nAUC {_fmt(auc)}" + (" (component)" if kind == "components" else ""), fontsize=8)
        ax.set_xticks([0, 1], ["modular", "entangled"], fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[t], label=t) for t in tasks]
    fig.legend(handles=handles, loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
