"""The decay regime (train/regimes.py, intervene.DecaySettings): scratch with AdamW's decay on the weight matrices set
to its strength, nothing else changed. Oracles: at scratch's own weight_decay (the task recipe's) it is scratch exactly (same init, data
order, steps: only the decay differs); a stronger decay gives smaller weights; the same seed gives the same run.
Bad settings, and regime modular on a model that is not the mlp, are one line before any work (run.resolve)."""
import numpy as np
import pytest
import torch

from fracturelab.errors import FracturelabError
from fracturelab.train import run as run_module
from fracturelab.train.regimes import REGIMES
from fracturelab.train.run import prepare, resolve, train_run

SMALL = dict(hidden=32, p=11, side=3, max_steps=60, eval_every=5, patience=10_000, max_val=16, plot=False)


def _trained(regime: str, seed: int = 0, **options):
    """(net, curve's train losses) of one run, trained through REGIMES as train_run does."""
    cfg = resolve("leave_square_out", None, "mlp", regime, **{**SMALL, **options})
    run = prepare(cfg, seed)
    REGIMES[regime](run.net, run.ctx, run.data, run.train, run.val)
    return run.net, np.array([r["train_loss"] for r in run.ctx.curve])


def _matrix_norm(net) -> float:
    return sum(float(p.detach().pow(2).sum()) for p in net.parameters() if p.dim() >= 2) ** 0.5


def test_decay_at_scratchs_own_decay_is_scratch_and_stronger_decay_shrinks_the_weights():
    own = resolve("leave_square_out", None, "mlp", "scratch", **SMALL)["train"].weight_decay  # the recipe's: 1.0
    scratch, a = _trained("scratch")
    same, b = _trained("decay", intervention=f"strength={own!r}")
    assert np.array_equal(a, b)
    assert all(torch.equal(p, q) for p, q in zip(scratch.state_dict().values(), same.state_dict().values()))
    strong, c = _trained("decay", intervention="strength=30.0")
    assert not np.array_equal(a, c)  # the strength is read
    assert _matrix_norm(strong) < 0.8 * _matrix_norm(scratch), (_matrix_norm(strong), _matrix_norm(scratch))


def test_decay_is_deterministic():
    one, a = _trained("decay", seed=3, intervention="strength=3.0")
    two, b = _trained("decay", seed=3, intervention="strength=3.0")
    assert len(a) > 0 and np.array_equal(a, b)
    assert all(torch.equal(p, q) for p, q in zip(one.state_dict().values(), two.state_dict().values()))


def test_bad_decay_settings_and_modular_off_the_mlp_are_one_line_before_any_work(monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the settings were checked")

    monkeypatch.setattr(run_module, "prepare", no_work)
    for options, match in (({"intervention": "strength=-1"}, "strength >= 0"),  # TrainSettings.check: as bimt's
                           ({"intervention": "strength=inf"}, "strength"),
                           ({"intervention": "locality=1.0"}, "locality")):  # a bimt key, unknown to decay
        with pytest.raises(FracturelabError, match=match) as e:
            train_run("leave_square_out", model="mlp", regime="decay", **{**SMALL, **options})
        assert "\n" not in str(e.value)
    with pytest.raises(FracturelabError, match="regime 'modular' trains the mlp, not model 'cppn'") as e:
        train_run("leave_square_out", model="cppn", regime="modular", p=11, side=3)
    assert "\n" not in str(e.value)
