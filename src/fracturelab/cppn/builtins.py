"""Built-in factored CPPNs, designed by hand in this project: no download needed, and every weight has a documented
meaning (a label, as Picbreeder's people gave them), so they are a second source of labelled ground truth.

Each is written as a NEAT genome (nodes and labelled links) and goes through the same layerization as a real
Picbreeder genome. Coordinates: x runs left to right, y top to bottom, both over [-1, 1]; d = 1.4*sqrt(x^2+y^2).
"""
from __future__ import annotations

from .genome import Genome, Link, Node
from .layerize import Net, net_from_genome

INPUTS = ("x", "y", "d", "bias")


def _genome(name: str, hidden: dict[str, str], outputs: dict[str, str],
            links: list[tuple[str, str, float, str]]) -> Genome:
    nodes = {k: Node(k, "in", "identity", k) for k in INPUTS}
    nodes |= {k: Node(k, "hidden", act) for k, act in hidden.items()}
    nodes |= {k: Node(k, "out", act, k) for k, act in outputs.items()}
    return Genome(name, nodes, [Link(s, t, w, label) for s, t, w, label in links], path=f"builtin:{name}")


def face() -> Genome:
    """A left-right symmetric face: a bright disc with two dark eyes and a dark mouth. Symmetry comes first (every
    x enters through an even function), and each part has its own weights: sweeping one moves one part."""
    return _genome(
        "face",
        hidden={"head": "sigmoid", "xs": "gaussian", "eye_x": "gaussian", "eye_y": "gaussian",
                "eyes": "sigmoid", "mouth_x": "gaussian", "mouth_y": "gaussian", "mouth": "sigmoid"},
        outputs={"ink": "identity"},
        links=[
            ("d", "head", -7.0, "Head size"),
            ("bias", "head", 5.5, "Head size"),
            ("x", "xs", 2.0, "Eye spacing"),
            ("xs", "eye_x", 2.0, "Eye width"),
            ("bias", "eye_x", -0.79, "Eye spacing"),
            ("y", "eye_y", 5.0, "Eye size"),
            ("bias", "eye_y", 1.25, "Eye height"),
            ("eye_x", "eyes", 4.0, "Eye shape"),
            ("eye_y", "eyes", 4.0, "Eye shape"),
            ("bias", "eyes", -5.0, "Eye size"),
            ("x", "mouth_x", 2.2, "Mouth width"),
            ("y", "mouth_y", 7.0, "Mouth open close"),
            ("bias", "mouth_y", -2.8, "Mouth height"),
            ("mouth_x", "mouth", 4.0, "Mouth shape"),
            ("mouth_y", "mouth", 4.0, "Mouth shape"),
            ("bias", "mouth", -5.0, "Mouth size"),
            ("head", "ink", 0.4, "Face brightness"),
            ("bias", "ink", -0.2, "Global lighting"),
            ("eyes", "ink", -0.35, "Eye darkness"),
            ("mouth", "ink", -0.35, "Mouth darkness"),
        ])


def target() -> Genome:
    """Concentric rings with a dot that can be moved: ring frequency and dot position are separate weights."""
    return _genome(
        "target",
        hidden={"rings": "sin", "dot_x": "gaussian", "dot_y": "gaussian", "dot": "sigmoid"},
        outputs={"ink": "identity"},
        links=[
            ("d", "rings", 9.0, "Ring frequency"),
            ("bias", "rings", 0.0, "Ring phase"),
            ("x", "dot_x", 5.0, "Dot width"),
            ("bias", "dot_x", -2.0, "Dot left right"),
            ("y", "dot_y", 5.0, "Dot height"),
            ("bias", "dot_y", 0.0, "Dot up down"),
            ("dot_x", "dot", 4.0, "Dot shape"),
            ("dot_y", "dot", 4.0, "Dot shape"),
            ("bias", "dot", -5.0, "Dot size"),
            ("rings", "ink", 0.3, "Ring contrast"),
            ("dot", "ink", 0.3, "Dot brightness"),
            ("bias", "ink", 0.6, "Global lighting"),
        ])


def sunset() -> Genome:
    """A colour scene: a sky whose hue shifts from top to bottom, and a sun disc whose position is one weight each."""
    return _genome(
        "sunset",
        hidden={"sun_x": "gaussian", "sun_y": "gaussian", "sun": "sigmoid", "sky": "tanh"},
        outputs={"hue": "identity", "saturation": "identity", "brightness": "identity"},
        links=[
            ("y", "sky", 1.2, "Sky gradient"),
            ("x", "sun_x", 3.0, "Sun width"),
            ("bias", "sun_x", 0.9, "Sun left right"),
            ("y", "sun_y", 3.0, "Sun height"),
            ("bias", "sun_y", 0.6, "Sun up down"),
            ("sun_x", "sun", 4.0, "Sun shape"),
            ("sun_y", "sun", 4.0, "Sun shape"),
            ("bias", "sun", -5.0, "Sun size"),
            ("sky", "hue", 0.12, "Sky colour range"),
            ("bias", "hue", -0.35, "Global hue"),
            ("sun", "hue", 0.1, "Sun colour"),
            ("bias", "saturation", 0.75, "Global saturation"),
            ("sun", "saturation", -0.3, "Sun paleness"),
            ("sky", "brightness", -0.25, "Sky darkening"),
            ("sun", "brightness", 0.25, "Sun brightness"),
            ("bias", "brightness", 0.65, "Global lighting"),
        ])


BUILTINS = {"face": face, "target": target, "sunset": sunset}


def builtin_net(name: str) -> Net:
    net = net_from_genome(BUILTINS[name]())
    net.source = f"builtin:{name}"
    return net
