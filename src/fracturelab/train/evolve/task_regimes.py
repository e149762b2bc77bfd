"""Evolution regimes for the task testbed (REGIMES es, cmaes, neat, neat-novelty): the same run folders, curves and
early stopping on the validation split as the SGD regimes, with a generation in place of an optimizer step.

Settings: TrainSettings.max_steps = most generations, batch_size = training examples per fitness evaluation (all of
them when the train set is smaller; the same batch for the whole population of a generation), eval_every, patience,
stop_val_acc as for SGD; the strategy's own settings come from TrainSettings.evolve, a string "key=value,..." of
ESSettings fields (e.g. "population=128,sigma=0.1,lr=0.1"), or for neat / neat-novelty of NEATSettings fields
(e.g. "population=100,initial_hidden=4"). Fitness = -(the model's training loss); neat-novelty: the novelty of the
set of training examples a genome gets right. NEAT needs the cppn model (coordinate inputs; neat_task.py), whose
arch becomes the kept genome's.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ...errors import FracturelabError
from ...settings import from_options, key_values
from ..loop import Context, EarlyStop, Phase, record
from .batched import PopulationLoss
from .es import make_strategy
from .settings import ESSettings, NEATSettings, NoveltySettings, cma_method


def parse_evolve(text: str, cls=ESSettings, **defaults):
    """'population=64,sigma=0.05' -> cls(...) checked (fracturelab.settings.from_options; values read as Python
    literals); defaults are cls fields the text may override."""
    return from_options(cls, {**defaults, **key_values(text, cls, "evolve")}, "evolve", strings=True)


def _batches(n: int, bs: int, rng: np.random.Generator):
    """Endless seeded minibatch indices (the whole set every time when it is no larger than bs)."""
    while True:
        if n <= bs:
            yield np.arange(n)
            continue
        order = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            yield np.sort(order[i:i + bs])


def _encoded_batches(model, train, bs: int, seed: int):
    """Endless (size, encoded training batch) pairs (seeded); a full-batch run encodes its one batch once."""
    whole = None
    for idx in _batches(len(train), bs, np.random.default_rng([seed, 2000])):
        if len(idx) == len(train):
            whole = whole if whole is not None else model.encode(train)
            yield len(idx), whole
        else:
            yield len(idx), model.encode([train[i] for i in idx])


def evolve_phase(model, ctx: Context, name: str, train, val, es: ESSettings) -> Phase:
    """Evolve the model's weights with es; every eval_every generations score the strategy's mean on val (a curve
    row) and keep the best; stop on stop_val_acc, patience or max_steps generations, except that patience first
    spends es.restarts (IPOP: from the initial weights again, twice the population). The model ends with the kept
    weights."""
    s = ctx.settings
    ev = PopulationLoss(model)
    x0, restart = ev.flat(), 0
    strat = make_strategy(x0, es)
    batches = _encoded_batches(model, train, s.batch_size, ctx.seed)
    stop, best_w = EarlyStop(s, ctx.step), x0
    seen, run_loss, run_n = 0, 0.0, 0
    for k in range(1, s.max_steps + 1):
        n, batch = next(batches)
        pop = strat.ask()
        losses, _ = ev(pop, batch)
        strat.tell(pop, torch.nan_to_num(losses, nan=math.inf))
        ctx.step += 1
        seen += n * len(pop)
        run_loss, run_n = run_loss + float(losses.mean()), run_n + 1
        if k % s.eval_every and k != s.max_steps:
            continue
        ev.load(strat.mean)
        train_loss, train_exact = ev(strat.mean[None], batch)
        _, improved, done = record(ctx, stop, model, name, val, float(train_loss[0]), float(train_exact.float().mean()),
                                   {"pop_mean_fitness": -run_loss / run_n, "pop_best_fitness": -float(losses.min()),
                                    "restart": restart})
        run_loss, run_n = 0.0, 0
        if improved:
            best_w = strat.mean.clone()
        if done and stop.stopped == "patience" and restart < es.restarts:
            restart += 1
            es = replace(es, population=2 * es.population, seed=es.seed + 1000003 * restart)
            strat = make_strategy(x0, es)
            stop.resume()
        elif done:
            break
    ev.load(best_w)
    model.eval()
    return stop.phase(name, k, seen)


def es_regime(model, ctx: Context, data, train, val) -> list[Phase]:
    """OpenAI-ES (or PGPE: evolve='method=pgpe') over the model's weights."""
    es = parse_evolve(ctx.settings.evolve, seed=ctx.seed)
    if es.method not in ("openai", "pgpe"):
        raise FracturelabError(f"regime 'es' runs method openai or pgpe, not {es.method!r} (use regime 'cmaes')")
    return [evolve_phase(model, ctx, "es", train, val, es)]


def cmaes_regime(model, ctx: Context, data, train, val) -> list[Phase]:
    """CMA-ES over the model's weights: full CMA-ES up to max_cma weights, separable above (or as evolve says)."""
    n = sum(p.numel() for p in dict(model.named_parameters()).values())
    es = parse_evolve(ctx.settings.evolve, method=cma_method(n),
                      seed=ctx.seed)
    if es.method not in ("cma", "sepcma"):
        raise FracturelabError(f"regime 'cmaes' runs method cma or sepcma, not {es.method!r} (use regime 'es')")
    return [evolve_phase(model, ctx, "cmaes", train, val, es)]


def neat_phase(model, ctx: Context, name: str, train, val, s: NEATSettings,
               novelty: NoveltySettings | None = None) -> Phase:
    """NEAT over CPPN classifiers (neat_task.py), a generation per step: every eval_every generations the
    generation's lowest-training-loss genome is installed in the model and scored on val (a curve row); the best is
    kept; stop on stop_val_acc, patience or max_steps generations. The model ends as the kept genome's classifier."""
    from .neat_task import install, run_neat_task

    ts = ctx.settings
    s.generations = ts.max_steps
    batches = _encoded_batches(model, train, ts.batch_size, ctx.seed)
    stop = EarlyStop(ts, ctx.step)
    st = {"k": 0, "kept": None, "seen": 0, "run_loss": 0.0, "run_n": 0}

    def feed():
        for n, batch in batches:
            st["seen"] += n * s.population
            yield batch

    def on_generation(conv, loss, exact, losses) -> bool:
        st["k"] += 1
        ctx.step += 1
        st["run_loss"], st["run_n"] = st["run_loss"] + float(losses[torch.isfinite(losses)].mean()), st["run_n"] + 1
        if st["k"] % ts.eval_every and st["k"] != ts.max_steps:
            return False
        install(model, conv)
        _, improved, done = record(ctx, stop, model, name, val, loss, float(exact.float().mean()),
                                   {"pop_mean_fitness": -st["run_loss"] / st["run_n"], "pop_best_fitness": -loss,
                                    "hidden_layers": conv.arch.n_hidden, "width": conv.arch.width})
        st["run_loss"], st["run_n"] = 0.0, 0
        if improved:
            st["kept"] = conv
        return done

    run_neat_task(model, s, feed(), on_generation, novelty)
    install(model, st["kept"])
    model.eval()
    return stop.phase(name, st["k"], st["seen"])


def neat_regime(model, ctx: Context, data, train, val) -> list[Phase]:
    """NEAT over CPPN topologies, fitness -(training loss): the model must be the cppn classifier (coordinate
    inputs); it ends as the kept genome's classifier, its arch the evolved one."""
    return [neat_phase(model, ctx, "neat", train, val, parse_evolve(ctx.settings.evolve, NEATSettings,
                                                                    seed=ctx.seed))]


def neat_novelty_regime(model, ctx: Context, data, train, val) -> list[Phase]:
    """Novelty search with NEAT: fitness = novelty of which training examples a genome gets right (no objective);
    the training loss and val only pick which discovered net is kept."""
    return [neat_phase(model, ctx, "neat-novelty", train, val, parse_evolve(ctx.settings.evolve, NEATSettings,
                                                                            seed=ctx.seed), NoveltySettings())]


TASK_REGIMES = {"es": es_regime, "cmaes": cmaes_regime, "neat": neat_regime, "neat-novelty": neat_novelty_regime}
"""Evolution regimes for train_run (merged into fracturelab.train.REGIMES)."""
