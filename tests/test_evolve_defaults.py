"""Evolution defaults on CPPN targets: CMA-ES starts from the target's best constant image (so it never ends worse
than one), on a small default arch; the CLI's defaults are those docs/evolution.md's table measured."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from fracturelab.cli import main
from fracturelab.cppn import builtin_net
from fracturelab.cppn.arch import Arch
from fracturelab.train.evolve.matched import constant_start, cppn_losses, evolve_target
from fracturelab.train.evolve.settings import CPPN_ARCH, CPPN_SIGMA, ESSettings


def _constant_mse(img):
    return float(((img - img.reshape(-1, 3).mean(0)) ** 2).mean())


@pytest.mark.parametrize("name", ["face", "sunset"])  # grey and colour
@pytest.mark.parametrize("arch", [CPPN_ARCH, "3;cache:2,gaussian:1,sin:3"])
def test_constant_start_renders_the_mean_colour(name, arch):
    img = builtin_net(name).render(16)
    a = Arch.parse(arch)
    x0 = constant_start(a, img)
    loss = float(cppn_losses(a, img)(x0[None])[0])
    assert loss == pytest.approx(_constant_mse(img), abs=1e-6)  # exactly the best constant image
    assert constant_start(Arch.parse("1;sin:4"), img) is None  # no gaussian unit: no constant start


def test_cmaes_never_ends_worse_than_a_constant_image():
    img = builtin_net("sunset").render(8)
    ev = evolve_target(img, "cmaes", seed=1, es=ESSettings(method="sepcma", population=6, generations=2,
                                                            sigma=CPPN_SIGMA), progress=False)
    assert str(ev.net.arch) == CPPN_ARCH and ev.settings["start"] == "constant"
    assert ev.mse <= _constant_mse(img) + 1e-6
    lecun = evolve_target(img, "cmaes", seed=1, es=ESSettings(method="sepcma", population=6, generations=2,
                                                               sigma=CPPN_SIGMA), progress=False, start="lecun")
    assert lecun.mse > _constant_mse(img)  # a random pattern: what the old default started from


def test_cli_defaults(tmp_path, monkeypatch):
    from fracturelab.train.evolve import matched
    seen = {}
    real = matched.evolve_target

    def spy(target, method, *args, **kw):  # the budget the CLI hands over when none is given
        seen[method] = (kw["es"] or kw["neat"]).generations
        return real(target, method, *args, **{**kw, **({"es": replace(kw["es"], generations=2)} if kw["es"]
                                                        else {"neat": replace(kw["neat"], generations=2)})})
    monkeypatch.setattr(matched, "evolve_target", spy)
    for method in ("cmaes", "neat"):
        assert main(["evolve", "face", "-o", str(tmp_path / method), "--method", method, "--res", "8",
                     "--population", "6"]) == 0
    assert seen == {"cmaes": 1500, "neat": 300}
    monkeypatch.setattr(matched, "evolve_target", real)
    out = tmp_path / "e"
    assert main(["evolve", "apple", "-o", str(out), "--method", "cmaes", "--res", "8", "--generations", "2"]) == 0
    s = json.loads((out / "settings.json").read_text())
    assert s["arch"] == CPPN_ARCH and s["es"]["method"] == "sepcma" and s["es"]["sigma"] == CPPN_SIGMA
    assert s["es"]["population"] == 100 and s["start"] == "constant"
    own = tmp_path / "own"
    assert main(["evolve", "face", "-o", str(own), "--method", "cmaes", "--arch", "own", "--res", "8",
                 "--generations", "1", "--population", "4"]) == 0
    assert json.loads((own / "settings.json").read_text())["arch"] == str(builtin_net("face").arch)
