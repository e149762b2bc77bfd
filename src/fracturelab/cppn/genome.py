"""Picbreeder genomes: CPPN-X XML files and FER's zips holding one XML entry.

A genome is a NEAT graph: input nodes (x, y, d, bias), hidden nodes, output nodes (`ink` for grey genomes, or
`hue`, `saturation`, `brightness`) and weighted links. CPPN-X genomes (Huizinga, Stanley, Clune 2018) also carry,
per link, the text a person wrote after sweeping that weight (`<color-label id>` -> `<buttons>`).
"""
from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GenomeError

ACTIVATIONS = ("identity", "sin", "cos", "tanh", "sigmoid", "gaussian", "relu")
INPUT_LABELS = ("x", "y", "d", "bias")
GREY_OUTPUTS = ("ink",)
COLOR_OUTPUTS = ("hue", "saturation", "brightness")


@dataclass(frozen=True)
class Node:
    key: str          # "branch/id", unique within a genome
    kind: str         # "in", "hidden" or "out"
    activation: str   # one of ACTIVATIONS
    label: str = ""   # input or output name; "" for hidden nodes


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    weight: float
    label: str | None = None  # what a person saw when sweeping this weight, where the genome has it


@dataclass
class Genome:
    """A feed-forward NEAT graph; links keep the file's order, which decides FER's node order (see layerize)."""

    name: str
    nodes: dict[str, Node]
    links: list[Link]
    path: str = ""
    meta: dict = field(default_factory=dict)

    def inputs(self) -> dict[str, str]:
        """Input label -> node key."""
        return {n.label: k for k, n in self.nodes.items() if n.kind == "in"}

    def outputs(self) -> dict[str, str]:
        """Output label -> node key."""
        return {n.label: k for k, n in self.nodes.items() if n.kind == "out"}

    @property
    def is_grey(self) -> bool:
        return "ink" in self.outputs()

    def labels(self) -> dict[int, str]:
        """Link index -> human label text, for the links that carry one."""
        return {i: l.label for i, l in enumerate(self.links) if l.label}


def _read_text(path: Path) -> str:
    from ..errors import FracturelabError
    from ..io import read_bytes
    from ..limits import check_size, limits

    try:
        data = read_bytes(path, "genome file")
    except FracturelabError as e:  # one line naming the file, as GenomeError
        raise GenomeError(path, str(e).removeprefix(f"{path}: ")) from None
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                entries = [i for i in zf.infolist() if not i.is_dir()]
                if not entries:
                    raise GenomeError(path, "empty zip: no genome entry inside")
                if len(entries) > 1:
                    raise GenomeError(path, f"zip holds {len(entries)} entries, expected one genome XML")
                try:
                    check_size(entries[0].file_size, "max_zip_entry_bytes", "zip entry size in bytes")
                except FracturelabError as e:
                    raise GenomeError(path, str(e)) from None
                with zf.open(entries[0]) as f:  # read no more than the limit, whatever the header claims
                    data = f.read(limits().max_zip_entry_bytes + 1)
                if len(data) > limits().max_zip_entry_bytes:
                    raise GenomeError(path, "zip entry larger than its header says")
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
            raise GenomeError(path, f"broken zip ({e})") from None
    elif data[:2] == b"PK":
        raise GenomeError(path, "truncated or broken zip")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise GenomeError(path, "not XML (not UTF-8 text)") from None


def _parse_xml(path: Path, text: str) -> ET.Element:
    # CPPN-X writes a stray <cppn-data .../> element before the real root <data>: drop it.
    text = re.sub(r"<cppn-data[^>]*/>", "", text, count=1)
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        problem = "truncated XML" if "no element found" in str(e) or "unclosed token" in str(e) else "not XML"
        raise GenomeError(path, f"{problem} ({e})") from None


def _key(path: Path, el: ET.Element | None, what: str) -> str:
    if el is None or el.get("id") is None:
        raise GenomeError(path, f"{what} without a branch/id marking")
    return f"{el.get('branch', '0')}/{el.get('id')}"


def _weight(path: Path, text: str | None, where: str) -> float:
    try:
        w = float(text)
    except (TypeError, ValueError):
        raise GenomeError(path, f"{where}: weight {text!r} is not a number") from None
    if not math.isfinite(w):
        raise GenomeError(path, f"{where}: weight is {text} (not finite)")
    return w


def _activation(path: Path, text: str | None, key: str) -> str:
    name = (text or "").strip()
    name = name[:-3] if name.endswith("(x)") else name
    if name not in ACTIVATIONS:
        raise GenomeError(path, f"node {key}: unknown activation {text!r} (known: {', '.join(ACTIVATIONS)})")
    return name


def _parse_nodes(path: Path, genome: ET.Element) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for el in genome.iterfind("./nodes/node"):
        key = _key(path, el.find("marking"), "node")
        kind = el.get("type", "hidden")
        if kind not in ("in", "hidden", "out"):
            raise GenomeError(path, f"node {key}: unknown type {kind!r}")
        act = _activation(path, el.findtext("activation"), key)
        if key in nodes:
            raise GenomeError(path, f"node {key} appears twice")
        nodes[key] = Node(key, kind, act, el.get("label") or "")
        bias = el.get("bias")
        if bias is not None and _weight(path, bias, f"node {key} bias") != 0.0:
            raise GenomeError(path, f"node {key}: non-zero node bias {bias} (Picbreeder uses the bias input)")
    return nodes


def _parse_links(path: Path, genome: ET.Element, nodes: dict[str, Node]) -> list[Link]:
    texts = {b.find("color-label").get("id"): (b.findtext("text") or "").strip()
             for b in genome.iterfind("./buttons/colorButton") if b.find("color-label") is not None}
    links, seen = [], set()
    for el in genome.iterfind("./links/link"):
        src = _key(path, el.find("source"), "link source")
        dst = _key(path, el.find("target"), "link target")
        for end, k in (("source", src), ("target", dst)):
            if k not in nodes:
                raise GenomeError(path, f"link {src}->{dst}: {end} node {k} does not exist")
        if (src, dst) in seen:  # NEAT has one connection gene per node pair; a repeat is a corrupt or forged file
            raise GenomeError(path, f"link {src}->{dst} appears twice")
        seen.add((src, dst))
        if len(el.findall("weight")) > 1:  # findtext reads the first: which one the file meant is unknowable
            raise GenomeError(path, f"link {src}->{dst} has {len(el.findall('weight'))} weights")
        w = _weight(path, el.findtext("weight"), f"link {src}->{dst}")
        cl = el.find("color-label")
        label = texts.get(cl.get("id")) if cl is not None else None
        links.append(Link(src, dst, w, label or None))
    return links


def _check_structure(path: Path, nodes: dict[str, Node], links: list[Link]) -> None:
    labels_in = {n.label for n in nodes.values() if n.kind == "in"}
    missing = [l for l in INPUT_LABELS if l not in labels_in]
    if missing:
        raise GenomeError(path, f"missing input node(s): {', '.join(missing)}")
    labels_out = {n.label for n in nodes.values() if n.kind == "out"}
    if not (set(GREY_OUTPUTS) <= labels_out or set(COLOR_OUTPUTS) <= labels_out):
        raise GenomeError(path, "missing output node(s): need 'ink' or 'hue', 'saturation' and 'brightness'")
    for l in links:
        if nodes[l.target].kind == "in":
            raise GenomeError(path, f"link {l.source}->{l.target} points into input node {l.target}")
    _check_acyclic(path, nodes, links)


def _check_acyclic(path: Path, nodes: dict[str, Node], links: list[Link]) -> None:
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for l in links:
        succ[l.source].append(l.target)
    state = dict.fromkeys(nodes, 0)  # 0 new, 1 on the stack, 2 done
    for root in nodes:
        if state[root]:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state[nxt] == 1:
                raise GenomeError(path, f"cycle through node {nxt}: a CPPN must be feed-forward")
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))


def load_genome(path) -> Genome:
    """Read a Picbreeder genome (CPPN-X XML, or FER's zip with one XML entry); raise GenomeError on bad input."""
    path = Path(path)
    root = _parse_xml(path, _read_text(path))
    genome = root if root.tag == "genome" else root.find("genome")
    if genome is None:
        raise GenomeError(path, f"no <genome> element (root is <{root.tag}>)")
    nodes = _parse_nodes(path, genome)
    links = _parse_links(path, genome, nodes)
    _check_structure(path, nodes, links)
    return Genome(name=path.stem, nodes=nodes, links=links, path=str(path),
                  meta={"phenotype": genome.get("phenotype", "")})
