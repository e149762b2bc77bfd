"""Plain-data summaries of a CPPN, for `fracturelab genome` and `fracturelab builtins`."""
from __future__ import annotations

from .nets import Net


def describe(net: Net) -> dict:
    """Arch, sizes and labels of a net; genome counts where the net came from a genome."""
    out = {
        "name": net.name,
        "source": net.source,
        "arch": str(net.arch),
        "n_params": net.arch.n_params,
        "n_hidden_layers": net.arch.n_hidden,
        "width": net.arch.width,
        "n_nodes": None,
        "n_links": None,
        "labels": {str(k): v for k, v in sorted(net.labels.items())},
    }
    if net.genome is not None:
        kinds = [n.kind for n in net.genome.nodes.values()]
        out |= {"n_nodes": len(kinds), "n_links": len(net.genome.links),
                "n_inputs": kinds.count("in"), "n_hidden_nodes": kinds.count("hidden"),
                "n_outputs": kinds.count("out"), "colour": "grey" if net.genome.is_grey else "hsv"}
    return out


def describe_text(d: dict) -> str:
    lines = [f"{d['name']}  ({d['source']})",
             f"  arch        {d['arch']}",
             f"  layers      {d['n_hidden_layers']} hidden, width {d['width']}, {d['n_params']:,} weights"]
    if d["n_nodes"] is not None:
        lines.append(f"  genome      {d['n_nodes']} nodes ({d['n_inputs']} in, {d['n_hidden_nodes']} hidden, "
                     f"{d['n_outputs']} out), {d['n_links']} links, {d['colour']}")
    if d["labels"]:
        lines.append(f"  labels      {len(d['labels'])} weights labelled (weight ID: text)")
        lines += [f"    {k:>6}: {v}" for k, v in d["labels"].items()]
    else:
        lines.append("  labels      none")
    return "\n".join(lines)
