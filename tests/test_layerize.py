"""Layerization and rendering against FER's shipped nets, and against a slow node-by-node evaluator of the genome."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from fracturelab.cppn import coord_grid, forward, layerize, load_cppn, load_genome, render
from fracturelab.cppn.color import to_rgb
from fracturelab.cppn.module import ACTIVATION_FNS

FER = {  # FER's arch strings and parameter counts (paper and shipped nets)
    "skull": ("12;cache:15,gaussian:4,identity:2,sin:1", 5478),
    "butterfly": ("16;cache:17,gaussian:4,sigmoid:1,sin:1", 8096),
    "apple": ("33;cache:28,gaussian:3,sigmoid:5,sin:2", 46474),
}


def fer_png(path):
    return np.asarray(Image.open(path), dtype=np.float64)[..., :3] / 255.0


@pytest.mark.parametrize("name", FER)
def test_fer_genomes_layerize_exactly(picbreeder_dir, name):
    lz = layerize(load_genome(picbreeder_dir / "fer" / "genomes" / f"{name}.zip"))
    arch, n_params = FER[name]
    assert str(lz.arch) == arch
    assert lz.arch.n_params == n_params
    shipped = np.load(picbreeder_dir / "fer" / "nets" / f"picbreeder_{name}" / "params.npy")
    np.testing.assert_array_equal(lz.params, shipped)  # every weight in FER's order, bit for bit


@pytest.mark.parametrize("name", FER)
def test_renders_match_fer_images(picbreeder_dir, name):
    nets = picbreeder_dir / "fer" / "nets"
    genome_net = load_cppn(picbreeder_dir / "fer" / "genomes" / f"{name}.zip")
    assert np.mean((genome_net.render(256) - fer_png(nets / f"picbreeder_{name}" / "img.png")) ** 2) < 1e-4
    for kind in ("picbreeder", "sgd"):  # FER's params.npy render to FER's images too
        net = load_cppn(nets / f"{kind}_{name}")
        assert np.mean((net.render(256) - fer_png(nets / f"{kind}_{name}" / "img.png")) ** 2) < 1e-4


def reference_eval(genome, inputs: np.ndarray) -> np.ndarray:
    """The obvious evaluator: walk the NEAT graph node by node in float64 (weights rounded to float32, as the
    layerized net stores them). inputs (N, 4) -> rgb (N, 3)."""
    incoming = {k: [] for k in genome.nodes}
    for link in genome.links:
        incoming[link.target].append(link)
    ins = genome.inputs()
    value = {ins[name]: inputs[:, i] for i, name in enumerate(("x", "y", "d", "bias"))}

    def val(k):
        if k not in value:
            z = sum((val(l.source) * float(np.float32(l.weight)) for l in incoming[k]), np.zeros(len(inputs)))
            value[k] = ACTIVATION_FNS[genome.nodes[k].activation](torch.as_tensor(z)).numpy()
        return value[k]

    outs = genome.outputs()
    if genome.is_grey:
        hsv = np.stack([np.zeros(len(inputs)), np.zeros(len(inputs)), val(outs["ink"])], -1)
    else:
        hsv = np.stack([val(outs["hue"]), val(outs["saturation"]), val(outs["brightness"])], -1)
    return to_rgb(torch.as_tensor(hsv)).numpy()


def test_all_cppnx_genomes_load_layerize_and_render_like_the_graph(picbreeder_dir):
    files = sorted((picbreeder_dir / "cppnx").glob("*.xml"))
    assert len(files) == 16
    inputs = coord_grid(32).double()
    for f in files:
        genome = load_genome(f)
        lz = layerize(genome)
        assert lz.arch.n_params == lz.params.size and all(w is not None for w in lz.link_weight_ids)
        with torch.no_grad():
            img = to_rgb(forward(lz.arch, torch.as_tensor(lz.params).double(), inputs)).numpy()
        np.testing.assert_allclose(img, reference_eval(genome, inputs.numpy()), atol=1e-9, err_msg=f.name)


def test_cppnx_skull_equals_fer_skull(picbreeder_dir):
    a = load_genome(picbreeder_dir / "cppnx" / "576_Skull.xml")
    b = load_genome(picbreeder_dir / "fer" / "genomes" / "skull.zip")
    assert a.nodes == b.nodes
    assert sorted((l.source, l.target, l.weight) for l in a.links) == sorted(
        (l.source, l.target, l.weight) for l in b.links)
    la, lb = layerize(a), layerize(b)
    assert la.arch == lb.arch
    # The two files list links in different orders, so units sit in a different order (FER's weight IDs follow
    # the zip); the weights are the same multiset and the images are identical up to float32 summation order.
    np.testing.assert_array_equal(np.sort(la.params), np.sort(lb.params))
    np.testing.assert_allclose(render(la.arch, la.params, 64), render(lb.arch, lb.params, 64), atol=1e-5)


def test_paper_weight_ids_map_to_labelled_skull_links(picbreeder_dir):
    fer = load_genome(picbreeder_dir / "fer" / "genomes" / "skull.zip")
    lz = layerize(fer)
    labelled = {(l.source, l.target): l.label for l in load_genome(picbreeder_dir / "cppnx" / "576_Skull.xml").links}
    found = {}
    for wid in (4371, 5009, 5097, 37):  # mouth, wink, eye width, jaw (FER's figures)
        i = lz.link_weight_ids.index(wid)
        link = fer.links[i]
        assert lz.params[wid] == np.float32(link.weight)
        found[wid] = labelled[(link.source, link.target)]
    assert found[4371].startswith("Mouth open close")
    assert all(found.values())


def test_weight_ids_are_where_the_weights_are(picbreeder_dir):
    genome = load_genome(picbreeder_dir / "cppnx" / "4547_Face.xml")
    lz = layerize(genome)
    for link, wid in zip(genome.links, lz.link_weight_ids):
        assert lz.params[wid] == np.float32(link.weight)
    assert len(lz.labels) == len(set(lz.link_weight_ids))


def test_wider_window_extends_the_image(picbreeder_dir):
    net = load_cppn(picbreeder_dir / "fer" / "genomes" / "skull.zip")
    r = 1 + 32 / 63  # 16 more pixels at [-1, 1]'s spacing (2/63) on every side
    wide = net.render(96, (-r, r, -r, r))
    inner = net.render(64)
    np.testing.assert_allclose(wide[16:80, 16:80], inner, atol=1e-4)
    assert not math.isclose(float(wide[:8].std()), 0.0)
