"""The built-in CPPNs: every weight documented with a label, and their designed properties hold."""
import numpy as np

from fracturelab.cppn import BUILTINS, builtin_net, load_cppn


def test_every_link_is_labelled_and_maps_to_a_weight():
    for name in BUILTINS:
        net = builtin_net(name)
        assert all(link.label for link in net.genome.links), name
        assert len(net.labels) == len(net.genome.links), name
        assert load_cppn(name).arch == net.arch


def test_face_is_left_right_symmetric_and_not_blank():
    img = builtin_net("face").render(64)
    np.testing.assert_allclose(img, img[:, ::-1], atol=1e-6)
    assert img.std() > 0.1


def test_sweeping_a_labelled_weight_moves_its_part():
    """Built-ins are ground truth: the 'Mouth open close' weight changes the lower half (the mouth) far more than
    the upper half (the eyes)."""
    net = builtin_net("face")
    wid = next(w for w, text in net.labels.items() if text == "Mouth open close")
    p = net.params.copy()
    p[wid] += 1.0
    delta = np.abs(type(net)("f", net.arch, p).render(64) - net.render(64)).mean(-1)
    assert delta[40:].mean() > 5 * delta[:28].mean()


def test_sunset_is_in_colour():
    img = builtin_net("sunset").render(32)
    assert np.abs(img[..., 0] - img[..., 2]).max() > 0.2
