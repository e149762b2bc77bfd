"""Layerization of a NEAT genome into FER's dense, bias-free MLP (Kumar et al. 2025, appendix B).

Rules, each checked against FER's shipped nets (tests/test_layerize.py compares every weight):
- Node order: the 4 inputs (x, y, d, bias), then a depth-first post-order walk from the outputs (h, s, v) that visits
  each node's incoming links in file order. This order sorts the cache units and the units within a group.
- Layer of a node: the longest path from an input (inputs are layer 0). The last hidden layer L is the deepest
  output; outputs computed earlier are carried to L.
- A value read at a layer later than the next one is carried by identity `cache` units (weight 1.0) through every
  layer in between. Grey genomes (`ink` output) get hue and saturation identity nodes, fed by ink with weight 0,
  so the last hidden layer holds h, s, v; the output layer selects them with weight 1.0.
- Width of each activation group is its maximum over layers; groups are `cache` first, then alphabetical.
Nodes from which no output can be reached do not affect the image and are left out; their links get no weight ID.

`Net` (a layerized CPPN with its name and labels) lives here too, so built-ins and loaders both build on this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arch import Arch
from .genome import INPUT_LABELS, Genome, Link, Node
from .module import render

HUE, SAT = "_hue", "_saturation"


@dataclass
class Layerized:
    arch: Arch
    params: np.ndarray                   # (n_params,) float32, FER's flat order
    link_weight_ids: list[int | None]    # genome link index -> weight ID (None: link cannot reach an output)
    layers: list[list[str | None]]       # node key held by each unit of hidden layers 1..L (None: padding)
    labels: dict[int, str] = field(default_factory=dict)  # weight ID -> human label, where the genome has one


def _with_hsv_outputs(genome: Genome) -> tuple[dict[str, Node], list[Link], list[str]]:
    nodes, links, outs = dict(genome.nodes), list(genome.links), genome.outputs()
    if genome.is_grey:
        for key in (HUE, SAT):
            nodes[key] = Node(key, "hidden", "identity", key)
            links.append(Link(outs["ink"], key, 0.0))
        return nodes, links, [HUE, SAT, outs["ink"]]
    return nodes, links, [outs["hue"], outs["saturation"], outs["brightness"]]


def _postorder(nodes: dict[str, Node], incoming: dict[str, list[str]], roots: list[str]) -> list[str]:
    seen, order = set(), []
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(incoming[root]))]
        while stack:
            node, it = stack[-1]
            src = next(it, None)
            if src is None:
                order.append(node)
                stack.pop()
            elif src not in seen:
                seen.add(src)
                stack.append((src, iter(incoming[src])))
    return order


def _depths(order: list[str], incoming: dict[str, list[str]], nodes: dict[str, Node]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for k in order:  # post-order visits every source before its target
        depth[k] = 0 if nodes[k].kind == "in" else 1 + max((depth[s] for s in incoming[k]), default=0)
    return depth


def layerize(genome: Genome, outputs: list[str] | None = None) -> Layerized:
    """Turn a genome into FER's layerized MLP: arch, flat weights, and where each genome link went.

    outputs: node keys to read as the net's outputs instead of h, s, v (a K-output net, e.g. a NEAT classifier).
    They are carried to the last hidden layer L as h, s, v are (their units: `layers[-1]`); Dense_L, which would
    select h, s, v, is left zero."""
    own = outputs is None
    nodes, links, outputs = _with_hsv_outputs(genome) if own else (dict(genome.nodes), list(genome.links),
                                                                    list(outputs))
    incoming: dict[str, list[str]] = {k: [] for k in nodes}
    for l in links:
        incoming[l.target].append(l.source)
    inputs = genome.inputs()
    input_keys = [inputs[name] for name in INPUT_LABELS]
    walk = _postorder(nodes, incoming, outputs)
    order = input_keys + [k for k in walk if nodes[k].kind != "in"]
    depth = _depths(walk, incoming, nodes)
    for k in input_keys:
        depth.setdefault(k, 0)
    n_hidden = max(depth[k] for k in outputs)
    last_use = _last_use(links, depth, outputs, n_hidden)
    arch = _arch(order, nodes, depth, last_use, n_hidden)
    from ..limits import check_size

    check_size(arch.n_params, "max_params", f"{genome.name}: layerized arch ({arch.n_hidden} layers of width "
                                            f"{arch.width}): weights")  # before any unit or weight is allocated
    check_size(arch.n_hidden, "max_depth", f"{genome.name}: layerized arch: hidden layers")
    units = _units(order, nodes, depth, last_use, n_hidden)
    layers = [list(input_keys)] + [_row(layer, arch) for layer in units[1:]]
    where = [{k: i for i, k in enumerate(row) if k is not None} for row in layers]  # each node's unit, per layer
    params, link_ids = _link_weights(links[:len(genome.links)], depth, where, arch)
    _carry_weights(params, depth, layers, where, arch)
    for col, k in enumerate(outputs if own else ()):  # Dense_L selects h, s, v
        params[arch.weight_id(n_hidden, where[n_hidden][k], col)] = 1.0
    labels = {wid: genome.links[i].label for i, wid in enumerate(link_ids) if wid is not None and genome.links[i].label}
    return Layerized(arch, params.astype(np.float32), link_ids, layers[1:], labels)


def _last_use(links: list[Link], depth: dict[str, int], outputs: list[str], n_hidden: int) -> dict[str, int]:
    """Node key -> the deepest layer that reads it (outputs: n_hidden + 1, the output layer)."""
    last_use = {k: n_hidden + 1 for k in outputs}
    for l in links:
        if l.target in depth and l.source in depth:
            last_use[l.source] = max(last_use.get(l.source, 0), depth[l.target])
    return last_use


def _units(order: list[str], nodes: dict[str, Node], depth: dict[str, int], last_use: dict[str, int],
           n_hidden: int) -> list[dict]:
    """units[l][act] = node keys of activation group `act` in hidden layer l (1..n_hidden), in `order`: each node
    at its own depth, and as a `cache` unit in every layer between it and its last use."""
    units: list[dict] = [dict() for _ in range(n_hidden + 1)]
    for k in order:
        d = depth[k]
        if d > 0:
            units[d].setdefault(nodes[k].activation, []).append(k)
        for layer in range(d + 1, min(last_use.get(k, 0), n_hidden + 1)):
            units[layer].setdefault("cache", []).append(k)
    return units


def _arch(order: list[str], nodes: dict[str, Node], depth: dict[str, int], last_use: dict[str, int],
          n_hidden: int) -> Arch:
    """The arch of _units' layout, from counts alone (one running sum per group, so a huge arch is known, and
    refused, before any unit is listed): each group as wide as its widest layer, `cache` first, then alphabetical."""
    steps: dict[str, np.ndarray] = {}  # group -> +1 where a run of its units starts, -1 where it ends

    def add(act: str, lo: int, hi: int) -> None:
        if lo < hi:
            d = steps.setdefault(act, np.zeros(n_hidden + 2, dtype=np.int64))
            d[lo] += 1
            d[hi] -= 1

    for k in order:
        d = depth[k]
        if d > 0:
            add(nodes[k].activation, d, d + 1)
        add("cache", d + 1, min(last_use.get(k, 0), n_hidden + 1))
    widths = {a: int(np.cumsum(v).max()) for a, v in steps.items()}
    return Arch(n_hidden, tuple((a, widths[a]) for a in ["cache"] + sorted(set(widths) - {"cache"}) if a in widths))


def _row(layer: dict, arch: Arch) -> list[str | None]:
    """The node key held by each unit of one hidden layer, group by group, None where a group is padded."""
    row: list[str | None] = []
    for a, n in arch.groups:
        keys = layer.get(a, [])
        row += keys + [None] * (n - len(keys))
    return row


def _link_weights(links: list[Link], depth: dict[str, int], where: list[dict], arch: Arch):
    """Flat float64 params holding the genome's link weights, and each link's weight ID (None: cannot reach an
    output); where[l] = {node key: its unit in layer l}."""
    params = np.zeros(arch.n_params, dtype=np.float64)
    link_ids: list[int | None] = []
    for l in links:
        if l.target not in depth or l.source not in depth:
            link_ids.append(None)
            continue
        d = depth[l.target]
        wid = arch.weight_id(d - 1, where[d - 1][l.source], where[d][l.target])
        params[wid] += l.weight
        link_ids.append(wid)
    return params, link_ids


def _carry_weights(params: np.ndarray, depth: dict[str, int], layers: list[list], where: list[dict], arch: Arch):
    """Weight 1.0 into every cache unit (a node held in a layer after its own) from its unit in the layer before."""
    for layer in range(1, arch.n_hidden + 1):
        for col, k in enumerate(layers[layer]):
            if k is not None and depth[k] < layer:
                params[arch.weight_id(layer - 1, where[layer - 1][k], col)] = 1.0


@dataclass
class Net:
    """A layerized CPPN: FER's arch and flat float32 weight vector, plus the weights' human labels where known."""

    name: str
    arch: Arch
    params: np.ndarray
    labels: dict[int, str] = field(default_factory=dict)  # weight ID -> text
    source: str = ""                                      # path, or "builtin:NAME"
    genome: Genome | None = None

    def render(self, res: int = 256, window=None) -> np.ndarray:
        from ..limits import check_pixels

        check_pixels(res, f"{self.name}: render at resolution")
        return render(self.arch, self.params, res, window) if window else render(self.arch, self.params, res)


def net_from_genome(genome: Genome) -> Net:
    lz = layerize(genome)
    return Net(genome.name, lz.arch, lz.params, lz.labels, genome.path, genome)
