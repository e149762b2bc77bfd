"""Evolution (fracturelab.train.evolve): batched population evaluation against the one-at-a-time path, the NEAT ->
CPPN converter against neat-python's own network, the strategies on a known minimum, novelty, seeds, bad input."""
import json
import random
import warnings

import neat
import numpy as np
import pytest
import torch

from fracturelab.cli import main
from fracturelab.cppn.arch import Arch
from fracturelab.cppn.module import coord_grid, forward
from fracturelab.cppn.nets import load_netdir
from fracturelab.errors import FracturelabError
from fracturelab.models import DataSpec, make_model
from fracturelab.tasks import make_task
from fracturelab.train.evolve import ESSettings, NEATSettings, NoveltySettings, PopulationLoss, loop_losses, minimize
from fracturelab.train.evolve.es import centred_ranks
from fracturelab.train.evolve.neat_cppn import make_config, neat_to_net
from fracturelab.train.evolve.neat_run import evolve_cppn
from fracturelab.train.evolve.novelty import NoveltyArchive
from fracturelab.train.evolve.task_regimes import parse_evolve

ALL_ACTS = ("sin", "cos", "tanh", "sigmoid", "gaussian", "identity", "relu")


@pytest.mark.parametrize("task,model,task_opts,model_opts", [
    ("leave_square_out", "mlp", {"p": 11, "side": 3}, {"hidden": 16, "depth": 2}),
    ("leave_square_out", "cppn", {"p": 11, "side": 3}, {"arch": "2;sin:4,gaussian:4"}),
    ("lookup", "transformer", {"n_train": 100, "n_test": 20}, {"d_model": 16, "n_layer": 1}),
])
def test_batched_population_equals_one_at_a_time(task, model, task_opts, model_opts):
    d = make_task(task, seed=0, **task_opts)
    m = make_model(model, DataSpec.of(task, d.sets().values(), d.info["settings"]), 0, **model_opts)
    ev = PopulationLoss(m)
    pop = ev.flat() + 0.3 * torch.randn(12, ev.n_params, generator=torch.Generator().manual_seed(0))
    batch = m.encode(d.train[:40])
    with warnings.catch_warnings():  # no warning reaches the user (the transformer's attention fallback is silenced)
        warnings.simplefilter("error")
        fast_loss, fast_exact = ev(pop, batch)
    slow_loss, slow_exact = loop_losses(m, pop, batch)
    assert fast_loss.shape == (12,) and len(set(fast_loss.tolist())) > 1  # individuals really differ
    torch.testing.assert_close(fast_loss, slow_loss, atol=1e-5, rtol=1e-5)
    assert torch.equal(fast_exact, slow_exact)
    assert torch.equal(ev.flat(), torch.cat([p.detach().reshape(-1) for p in m.parameters()]))  # model untouched


def _random_genome(config, key, rng):
    g = config.genome_type(key)
    g.configure_new(config.genome_config)
    for _ in range(12):
        g.mutate(config.genome_config)
    for n in g.nodes.values():
        n.response, n.bias = rng.uniform(-2, 2), rng.gauss(0, 1)
    for c in g.connections.values():
        c.enabled = rng.random() > 0.1
    return g


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_neat_converter_matches_neat_python(n_outputs):
    """Oracle: the converted, layerized torch CPPN computes what neat-python's FeedForwardNetwork computes."""
    config = make_config(NEATSettings(activations=ALL_ACTS, node_add_prob=0.5, conn_add_prob=0.7), n_outputs)
    state = random.getstate()
    random.seed(n_outputs)
    rng = random.Random(10 + n_outputs)
    try:
        genomes = [_random_genome(config, k, rng) for k in range(12)]
    finally:
        random.setstate(state)
    X = coord_grid(12, dtype=torch.float64)
    deep = 0
    for g in genomes:
        net = neat_to_net(g, config)
        ff = neat.nn.FeedForwardNetwork.create(g, config)
        ref = np.array([ff.activate([float(x), float(y), float(d)]) for x, y, d, _ in X.numpy()])
        raw = forward(net.arch, torch.as_tensor(net.params, dtype=torch.float64), X).numpy()
        ours = raw[:, 2:] if n_outputs == 1 else raw
        np.testing.assert_allclose(ours, ref, atol=1e-5)
        if n_outputs == 1:
            assert np.all(raw[:, :2] == 0)  # grey: h = s = 0, as Picbreeder's ink genomes
        deep += net.arch.n_hidden > 2 and any(a == "cache" for a, _ in net.arch.groups)
    assert deep >= 3  # the random genomes exercise multi-layer nets with cache units


def test_neat_converter_rejects_other_aggregation():
    config = make_config(NEATSettings(), 3)
    state = random.getstate()
    try:
        g = _random_genome(config, 0, random.Random(0))
    finally:
        random.setstate(state)
    g.nodes[0].aggregation = "product"
    with pytest.raises(FracturelabError, match="aggregates by 'product'"):
        neat_to_net(g, config)


def test_centred_ranks():
    u = centred_ranks(torch.tensor([3.0, -1.0, 10.0, 0.5]))
    assert torch.allclose(u, torch.tensor([-1 / 6, 0.5, -0.5, 1 / 6]))


@pytest.mark.parametrize("method", ["openai", "pgpe", "sepcma", "cma"])
def test_strategies_find_a_known_minimum(method):
    target = torch.linspace(-1, 1, 10)

    def loss(pop):
        return ((pop - target) ** 2).sum(dim=1)

    s = ESSettings(method=method, population=20, sigma=0.3, lr=0.1, generations=150, seed=3)
    r = minimize(loss, torch.zeros(10), s, progress=False)
    assert r.best_loss < 0.02 * float(loss(torch.zeros(1, 10)))
    short = ESSettings(**{**s.__dict__, "generations": 5})  # seeding shows in a few generations: keep it quick
    again = minimize(loss, torch.zeros(10), short, progress=False)
    assert again.history == r.history[:5]  # same seed, same numbers
    other = minimize(loss, torch.zeros(10), ESSettings(**{**short.__dict__, "seed": 4}), progress=False)
    assert r.history[0] != other.history[0]  # another seed, other draws


def test_minimize_stops_at_stop_loss():
    r = minimize(lambda p: (p ** 2).sum(1), torch.ones(4), ESSettings(method="sepcma", population=8, sigma=0.5,
                                                                          generations=500), stop_loss=0.1,
                 progress=False)
    assert r.stopped == "stop_loss" and r.best_loss <= 0.1 and r.generations < 500


def test_novelty_is_mean_distance_to_k_nearest():
    s = NoveltySettings(k=2, res=2, threshold=0.3, archive_prob=0.0)
    arch = NoveltyArchive(s, seed=0)
    pop = torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 1]])
    nov = arch.novelty(pop)
    for i in range(4):  # brute force: RMS distances to the others, two nearest, mean
        d = sorted(float(((pop[i] - pop[j]) ** 2).mean().sqrt()) for j in range(4) if j != i)
        assert nov[i] == pytest.approx(np.mean(d[:2]), abs=1e-6)
    joined = arch.update(pop, nov)
    assert joined == int((nov > 0.3).sum()) and len(arch.members) == joined


def test_neat_fit_is_seeded_and_improves():
    t = np.zeros((8, 8, 3), np.float32)
    t[:, 4:] = 1.0  # a grey half-plane
    s = NEATSettings(population=20, generations=6, res=8, seed=5)
    a = evolve_cppn(t, s, progress=False)
    b = evolve_cppn(t, s, progress=False)
    assert a.mse == b.mse and np.array_equal(a.net.params, b.net.params)
    assert a.history[-1]["best_mse"] <= a.history[0]["best_mse"]
    img = a.net.render(8)
    assert float(((img - t) ** 2).mean()) == pytest.approx(a.mse, rel=1e-4)  # the saved net is what was scored


def test_neat_novelty_grows_an_archive():
    s = NEATSettings(population=20, generations=4, res=8, seed=1)
    r = evolve_cppn(None, s, novelty=NoveltySettings(res=8, threshold=0.05), progress=False)
    assert r.history[-1]["archive"] > 0 and np.isnan(r.mse)


def test_bad_settings_raise():
    with pytest.raises(FracturelabError, match="unknown ES method"):
        ESSettings(method="sgd").check()
    with pytest.raises(FracturelabError, match="even population"):
        ESSettings(population=7).check()
    with pytest.raises(FracturelabError, match="restarts >= 0"):
        ESSettings(restarts=-1).check()
    with pytest.raises(FracturelabError, match="unknown option 'popsize'"):
        parse_evolve("popsize=3")
    with pytest.raises(FracturelabError, match="expected key=value"):
        parse_evolve("population")
    with pytest.raises(FracturelabError, match="unknown NEAT activation"):
        NEATSettings(activations=("sin", "abs")).check()
    with pytest.raises(FracturelabError, match="too slow"):
        minimize(lambda p: p.sum(1), torch.zeros(50), ESSettings(method="cma", max_cma=10), progress=False)


def test_regime_refuses_wrong_method():
    from fracturelab.train import train_run
    with pytest.raises(FracturelabError, match="regime 'es' runs method openai or pgpe"):
        train_run("leave_square_out", model="cppn", regime="es", p=7, side=2, arch="1;sin:4",
                  evolve="method=sepcma", max_steps=2)


def test_es_regime_writes_a_run(tmp_path):
    from fracturelab.train import train_run
    m = train_run("leave_square_out", model="cppn", regime="cmaes", p=7, side=2, arch="1;sin:4", max_steps=20,
                  eval_every=10, evolve="population=8", outdir=tmp_path / "run")
    assert m["steps"] == 20 and (tmp_path / "run" / "model.pt").is_file()
    rows = (tmp_path / "run" / "curve.csv").read_text().splitlines()
    assert len(rows) == 3 and "pop_mean_fitness" in rows[0]


def test_restarts_double_the_population_and_keep_the_best_run():
    """patience 1: a run's second evaluation without a better validation score restarts the search (IPOP), twice the
    population each time, until the restarts are spent; then the phase stops on patience."""
    from fracturelab.train import train_run
    m = train_run("leave_square_out", model="cppn", regime="cmaes", p=7, side=2, arch="1;sin:4", max_steps=60,
                  eval_every=2, patience=1, stop_val_acc=1.1, evolve="population=8,restarts=2")
    runs = [int(r["restart"]) for r in m["curve"]]
    assert runs == sorted(runs) and set(runs) == {0, 1, 2}
    phase = m["phases"][0]
    assert phase["stopped"] == "patience" and phase["steps"] < 60
    gens = [2 * runs.count(r) for r in (0, 1, 2)]  # generations per run (an evaluation every 2)
    assert phase["examples"] == m["sizes"]["train"] * sum(g * pop for g, pop in zip(gens, (8, 16, 32)))
    assert phase["best_val_acc"] == max(r["val_acc"] for r in m["curve"])  # the best over all runs is kept


def test_cli_evolve_writes_a_net_folder(tmp_path, capsys):
    out = tmp_path / "net"
    assert main(["evolve", "face", "-o", str(out), "--res", "8", "--generations", "3", "--population", "12"]) == 0
    net = load_netdir(out)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["method"] == "neat" and settings["generations"] == 3
    assert settings["final_mse"] == pytest.approx(float(((net.render(8) - _face(8)) ** 2).mean()), rel=1e-4)
    out2 = tmp_path / "cma"
    assert main(["evolve", "target", "-o", str(out2), "--method", "cmaes", "--arch", "1;sin:4", "--res", "8",
                 "--generations", "3", "--population", "6"]) == 0
    assert str(load_netdir(out2).arch) == "1;sin:4"


def _face(res):
    from fracturelab.cppn.builtins import builtin_net
    return builtin_net("face").render(res)


def test_cli_evolve_bad_input(tmp_path, capsys):
    assert main(["evolve", "no_such_thing", "-o", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["evolve", "face", "-o", str(tmp_path / "y"), "--set", "bogus=1"]) == 2
    assert "unknown option 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("regime", ["neat", "neat-novelty"])
def test_neat_regimes_write_a_run(tmp_path, regime):
    from fracturelab.train import load_run, train_run
    kw = dict(model="cppn", regime=regime, p=7, side=2, max_steps=6, eval_every=3, evolve="population=16")
    m = train_run("leave_square_out", outdir=tmp_path / "run", **kw)
    again = train_run("leave_square_out", **kw)
    assert m["steps"] == 6 and m["curve"] == [{**r, "seconds": a["seconds"]} for r, a in zip(again["curve"],
                                                                                       m["curve"])]  # seeded
    rows = (tmp_path / "run" / "curve.csv").read_text().splitlines()
    assert len(rows) == 3 and "hidden_layers" in rows[0]
    net, data, config = load_run(tmp_path / "run")  # rebuilt with the evolved arch, not the settings' default
    assert config["model_settings"]["arch"] == str(net.arch) and config["model_settings"]["scale"] == 1.0
    with torch.no_grad():
        exact = net.loss(net.encode(data.test_id))[1]
    assert float(exact.float().mean()) == pytest.approx(m["id_acc"])
    with pytest.raises(FracturelabError, match="use model 'cppn'"):
        train_run("leave_square_out", model="mlp", regime=regime, p=7, side=2, max_steps=2)


@pytest.mark.parametrize("seed", [0, 1])
def test_neat_classifier_matches_neat_python(seed):
    """Oracle: a K-output NEAT genome converted to a CPPN classifier (layerize with the class nodes as outputs, head
    reading them) gives neat-python's outputs as logits, also when padded into a wider arch of the same depth."""
    from fracturelab.train.evolve.neat_task import Converted, TaskFitness, classifier_weights, install, padded_arch
    d = make_task("leave_square_out", seed=0, p=7, side=2)
    spec = DataSpec.of("leave_square_out", d.sets().values(), d.info["settings"])
    K = len(spec.tgt_vocab)
    config = make_config(NEATSettings(activations=ALL_ACTS, node_add_prob=0.5, conn_add_prob=0.7), K)
    state = random.getstate()
    random.seed(seed)
    try:
        genomes = [_random_genome(config, k, random.Random(20 + seed)) for k in range(8)]
    finally:
        random.setstate(state)
    model = make_model("cppn", spec, 0, arch="1;sin:4")
    batch = model.encode(d.train)
    conv = [Converted(g, config, K) for g in genomes]
    for g, c in zip(genomes, conv):
        ff = neat.nn.FeedForwardNetwork.create(g, config)
        ref = np.array([ff.activate(row[:3].tolist()) for row in batch["x"].double().numpy()])
        install(model, c)
        assert str(model.arch) == str(c.arch) and model.settings.arch == str(c.arch)
        np.testing.assert_allclose(model(batch).detach().numpy(), ref, atol=1e-5)
        wide = padded_arch([c.arch, Arch(c.arch.n_hidden, (("cache", 2), ("relu", 3), ("sin", 5)))])
        big = make_model("cppn", spec, 0, arch=str(wide))
        big.load_state_dict(classifier_weights(c, wide))
        np.testing.assert_allclose(big(batch).detach().numpy(), ref, atol=1e-5)
    assert len({c.arch.n_hidden for c in conv}) > 1  # several depths: the batched fitness groups them
    loss, exact = TaskFitness(model)(conv, batch)
    for i, c in enumerate(conv):  # batched per-depth population == each genome's own classifier
        install(model, c)
        with torch.no_grad():
            one_loss, one_exact = model.loss(batch)
        assert float(loss[i]) == pytest.approx(float(one_loss), abs=1e-5) and torch.equal(exact[i], one_exact)
