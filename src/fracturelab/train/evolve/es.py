"""Evolution strategies over one flat weight vector: OpenAI-ES, PGPE, separable and full CMA-ES (the `cmaes`
package). All minimize. Every strategy has ask() -> (N, P) population and tell(population, losses); `mean` is its
current best guess (the search distribution's centre). `minimize` runs one against a batched loss function, which
gets the whole population at once.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ...errors import FracturelabError
from .settings import ESSettings


def centred_ranks(losses: torch.Tensor) -> torch.Tensor:
    """Fitness shaping (Salimans et al. 2017): the best (lowest loss) -> +0.5, the worst -> -0.5, linear in rank.
    Makes the update invariant to monotone changes of the loss and robust to outliers."""
    n = len(losses)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[torch.argsort(losses, descending=True)] = torch.arange(n, dtype=torch.float64)
    return (ranks / max(1, n - 1) - 0.5).float()


class _Adam:
    """Adam on the mean, ascending a utility gradient; decoupled weight decay as AdamW."""

    def __init__(self, n: int, lr: float, weight_decay: float, b1=0.9, b2=0.999, eps=1e-8):
        self.m, self.v, self.t = torch.zeros(n), torch.zeros(n), 0
        self.lr, self.wd, self.b1, self.b2, self.eps = lr, weight_decay, b1, b2, eps

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        mh, vh = self.m / (1 - self.b1 ** self.t), self.v / (1 - self.b2 ** self.t)
        return x * (1 - self.lr * self.wd) + self.lr * mh / (vh.sqrt() + self.eps)


class OpenAIES:
    """Mirrored Gaussian perturbations mean +- sigma * eps; gradient of the centred-rank utility, Adam on the mean."""

    def __init__(self, x0: torch.Tensor, s: ESSettings):
        self.mean, self.sigma, self.s = x0.clone().float(), s.sigma, s
        self.gen = torch.Generator().manual_seed(s.seed)
        self.opt = _Adam(len(x0), s.lr, s.weight_decay)
        self.eps = None

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.s.population // 2, len(self.mean), generator=self.gen)

    def ask(self) -> torch.Tensor:
        self.eps = self._noise()
        return torch.cat([self.mean + self.sigma * self.eps, self.mean - self.sigma * self.eps])

    def tell(self, pop: torch.Tensor, losses: torch.Tensor) -> None:
        u = centred_ranks(losses)
        h = len(u) // 2
        grad = (u[:h] - u[h:]) @ self.eps / (len(u) * self.sigma)  # ascent direction of the utility
        self.mean = self.opt.step(self.mean, grad)


class PGPE(OpenAIES):
    """PGPE with symmetric sampling: per-weight sigma, the mean moved by the utility difference of each mirrored pair
    (Adam), sigma by the pair's mean utility against the population's (Sehnke et al. 2010)."""

    def __init__(self, x0: torch.Tensor, s: ESSettings):
        super().__init__(x0, s)
        self.sigma = torch.full_like(self.mean, s.sigma)

    def tell(self, pop: torch.Tensor, losses: torch.Tensor) -> None:
        u = centred_ranks(losses)
        h = len(u) // 2
        up, um = u[:h], u[h:]
        grad_mean = (up - um) @ self.eps / (2 * h)              # eps is already in sigma units: z = sigma * eps
        base = (up + um) / 2 - u.mean()
        grad_sigma = base @ (self.eps ** 2 - 1) / h             # d log-likelihood / d log sigma
        self.mean = self.opt.step(self.mean, grad_mean * self.sigma)
        self.sigma = self.sigma * torch.exp(torch.clamp(self.s.sigma_lr * grad_sigma, -0.2, 0.2))


def _import_cmaes():
    """The cmaes package, imported without scipy.stats when that is not loaded yet: cmaes needs it only for CMAwM
    (unused here) and falls back to its own cmaes._stats; scipy.stats alone takes ~4 s to import on one thread."""
    if "cmaes" in sys.modules or "scipy.stats" in sys.modules:
        import cmaes
        return cmaes
    sys.modules["scipy.stats"] = None  # makes `from scipy import stats` raise ImportError inside cmaes
    try:
        import cmaes
    finally:
        if sys.modules.get("scipy.stats", 0) is None:
            del sys.modules["scipy.stats"]
    return cmaes


class CMAWrap:
    """cmaes.SepCMA or cmaes.CMA behind ask()/tell(); the library samples one individual per ask(), cheap numpy."""

    def __init__(self, x0: torch.Tensor, s: ESSettings):
        cmaes = _import_cmaes()
        if s.method == "cma" and len(x0) > s.max_cma:
            raise FracturelabError(f"full CMA-ES on {len(x0)} weights is too slow (P x P covariance; max_cma "
                                   f"{s.max_cma}): use method sepcma")
        cls = cmaes.CMA if s.method == "cma" else cmaes.SepCMA
        self.opt = cls(mean=x0.double().numpy().copy(), sigma=s.sigma, seed=s.seed, population_size=s.population)

    @property
    def mean(self) -> torch.Tensor:
        return torch.as_tensor(self.opt.mean, dtype=torch.float32)

    # CMA's eigendecompositions run in numpy's BLAS, whose results change in the last bits with its thread count;
    # on a multimodal loss that picks another basin. One BLAS thread keeps a seed's numbers the same on any machine.
    def ask(self) -> torch.Tensor:
        with threadpool_limits(limits=1, user_api="blas"):
            xs = [self.opt.ask() for _ in range(self.opt.population_size)]
        return torch.as_tensor(np.stack(xs), dtype=torch.float32)

    def tell(self, pop: torch.Tensor, losses: torch.Tensor) -> None:
        # CMA wants the float64 vectors it proposed; the float32 copy differs by rounding only
        with threadpool_limits(limits=1, user_api="blas"):
            self.opt.tell([(x.double().numpy(), float(l)) for x, l in zip(pop, losses)])


STRATEGIES = {"openai": OpenAIES, "pgpe": PGPE, "sepcma": CMAWrap, "cma": CMAWrap}


def make_strategy(x0: torch.Tensor, s: ESSettings):
    s.check()
    return STRATEGIES[s.method](x0, s)


@dataclass
class ESResult:
    best: torch.Tensor                       # (P,): the individual or mean with the lowest loss seen
    best_loss: float
    generations: int
    history: list = field(default_factory=list)  # per generation: {generation, best, mean, mean_loss}
    stopped: str = "generations"


def minimize(loss_fn: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, s: ESSettings,
             stop_loss: float | None = None, progress: bool = True, desc: str = "es") -> ESResult:
    """Minimize loss_fn((N, P) population) -> (N,) losses with strategy s.method, from x0. The centre is scored with
    the population (as one more row of the same batched call) so the result can be the distribution's mean."""
    strat = make_strategy(x0, s)
    best, best_loss, hist, stopped = x0.clone(), math.inf, [], "generations"
    bar = tqdm(range(1, s.generations + 1), desc=desc, disable=not progress, file=sys.stderr, mininterval=1.0)
    for g in bar:
        pop = strat.ask()
        scored = torch.cat([pop, strat.mean[None]])  # (N + 1, P): the centre before tell() moves it
        finite = torch.nan_to_num(loss_fn(scored), nan=math.inf)
        strat.tell(pop, finite[:-1])
        i = int(torch.argmin(finite))
        if finite[i] < best_loss:
            best_loss, best = float(finite[i]), scored[i].clone()
        hist.append({"generation": g, "best_fitness": -float(finite[:-1].min()),
                     "mean_fitness": -float(finite[:-1][torch.isfinite(finite[:-1])].mean()),
                     "centre_fitness": -float(finite[-1])})
        bar.set_postfix(best=f"{hist[-1]['best_fitness']:.4g}", mean=f"{hist[-1]['mean_fitness']:.4g}")
        if stop_loss is not None and best_loss <= stop_loss:
            stopped = "stop_loss"
            break
    return ESResult(best, best_loss, g, hist, stopped)
