"""Settings of evolution: evolution strategies over fixed-topology models, and NEAT over CPPN topologies."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ...errors import FracturelabError

ES_METHODS = ("openai", "pgpe", "sepcma", "cma")
NEAT_OUTPUTS = ("auto", "ink", "hsv")
FLOAT32_MAX = 3.4028234663852886e38
"""Largest float32: an ES draws weights that nets use in float32, so a larger sigma only gives infinities."""


@dataclass
class ESSettings:
    """An evolution strategy over one flat weight vector (a fixed topology)."""

    method: str = "openai"
    """openai: OpenAI-ES (Salimans et al. 2017: mirrored Gaussian noise, centred ranks, Adam on the mean);
    pgpe: PGPE (Sehnke et al. 2010: mirrored sampling, per-weight sigma adapted too, Adam on the mean);
    sepcma: separable CMA-ES (diagonal covariance, any size); cma: full CMA-ES (small nets only, see max_cma)."""
    population: int = 64
    """Individuals per generation (even for openai and pgpe: they come in mirrored pairs)."""
    sigma: float = 0.05
    """Initial standard deviation of the search distribution around the mean."""
    lr: float = 0.03
    """Adam step size on the mean (openai, pgpe)."""
    sigma_lr: float = 0.1
    """pgpe: learning rate of the per-weight sigma (relative change, clipped to +-20 % per generation)."""
    weight_decay: float = 0.0
    """openai, pgpe: decoupled L2 shrink of the mean per generation, as AdamW (mean *= 1 - lr * weight_decay)."""
    generations: int = 500
    """Most generations."""
    max_cma: int = 2000
    """cma: refuse full CMA-ES above this many weights (its covariance is P x P, its update O(P^3))."""
    seed: int = 0
    """Seeds the search (noise, CMA's sampling)."""
    restarts: int = 0
    """Task regimes only: IPOP restarts (Auger & Hansen 2005). When validation patience runs out, the search starts
    again from the model's initial weights with twice the population and seed + r * 1000003 (restart r), up to this
    many times; the weights kept are the best on validation over all runs. `minimize` (CPPN targets, no validation
    split) does not restart."""

    def check(self) -> None:
        if self.method not in ES_METHODS:
            raise FracturelabError(f"unknown ES method {self.method!r} (methods: {', '.join(ES_METHODS)})")
        if self.population < 2 or not self.sigma > 0 or not self.lr > 0 or self.generations < 1 or self.restarts < 0:
            raise FracturelabError(f"bad ES settings: population >= 2, sigma > 0, lr > 0, generations >= 1, "
                                   f"restarts >= 0 "
                                   f"(got {asdict(self)})")
        _check_generations(self.generations)
        if not (math.isfinite(self.sigma) and self.sigma <= FLOAT32_MAX and math.isfinite(self.lr)):
            raise FracturelabError(f"bad ES settings: sigma and lr must be finite and sigma at most {FLOAT32_MAX:.3g} "
                                   f"(draws are float32 weights), got sigma={self.sigma}, lr={self.lr}")
        from ...limits import check_size

        # IPOP doubles the population at each restart (min: 2^64 is over any limit, and cheap to compute)
        check_size(self.population * 2 ** min(self.restarts, 64), "max_runs", "ES population (x 2 per restart)")
        if self.method in ("openai", "pgpe") and self.population % 2:
            raise FracturelabError(f"ES method {self.method!r} needs an even population (mirrored pairs), "
                                   f"got {self.population}")


CPPN_ARCH = "2;gaussian:8,sin:8"
"""Default fixed arch when CMA-ES or an ES evolves a CPPN toward an image (368 weights), searched by separable CMA-ES
(`cmaes` on an image; full CMA-ES took 25x longer per generation here). The targets' own layerized archs are deep and
mostly identity `cache` units (the skull: 12 layers, 5,478 weights); from the constant start, sep-CMA-ES on the
skull's arch never bettered the constant image in 200 generations, while this arch did (docs/evolution.md, Evolution
defaults)."""
CPPN_GENERATIONS = {"cmaes": 1500}
"""Default generations of `fracturelab evolve` per method (others: 300). Sep-CMA-ES on CPPN_ARCH is cheap per
generation and keeps improving long after 300: the skull went from 0.83 of a constant image's MSE at 300 generations
to 0.30 at 1,500 (docs/evolution.md, Evolution defaults)."""
CPPN_SIGMA = 0.3
"""Default initial step size of CMA-ES on a CPPN target, around the constant start (matched.constant_start)."""


def cma_method(n_params: int) -> str:
    """The CMA-ES variant for a net of n_params weights: full up to ESSettings.max_cma, separable above."""
    return "cma" if n_params <= ESSettings.max_cma else "sepcma"


@dataclass
class NEATSettings:
    """NEAT (neat-python 2.0.0) over CPPN topologies with the project's CPPN activations."""

    population: int = 100
    """Genomes per generation."""
    generations: int = 300
    """Most generations."""
    activations: tuple[str, ...] = ("sin", "gaussian", "sigmoid", "tanh", "identity")
    """Activation options of new nodes (names of fracturelab.cppn activations: sin, cos, tanh, sigmoid, gaussian,
    identity, relu)."""
    output_activation: str = "identity"
    """Activation of the output nodes (FER's outputs read raw h, s, v; brightness is clipped |v|)."""
    outputs: str = "auto"
    """ink: one grey output (as Picbreeder's grey genomes); hsv: hue, saturation, brightness; auto: ink when the
    target is grey, else hsv."""
    initial_hidden: int = 0
    """Hidden nodes of the first genomes, each wired from every input and to every output (0: inputs wired
    straight to the outputs, as Picbreeder starts). A task's classifier, whose many class outputs all need the same
    few features, starts better with some."""
    node_add_prob: float = 0.2
    """Chance per offspring of adding a node (splitting a connection)."""
    conn_add_prob: float = 0.4
    """Chance per offspring of adding a connection."""
    weight_mutate_power: float = 0.5
    """Standard deviation of a weight or bias mutation."""
    compatibility_threshold: float = 3.0
    """Speciation distance threshold."""
    max_stagnation: int = 20
    """Generations without improvement before a species is removed."""
    elitism: int = 2
    """Best genomes per species copied unchanged."""
    res: int = 32
    """Render resolution of the fitness (res x res pixels)."""
    seed: int = 0
    """Seeds neat-python's (global `random`) draws."""

    def check(self) -> None:
        from ...cppn.genome import ACTIVATIONS
        bad = [a for a in (*self.activations, self.output_activation) if a not in ACTIVATIONS]
        if bad:
            raise FracturelabError(f"unknown NEAT activation {bad[0]!r} (known: {', '.join(ACTIVATIONS)})")
        if self.outputs not in NEAT_OUTPUTS:
            raise FracturelabError(f"NEAT outputs must be one of {', '.join(NEAT_OUTPUTS)}, got {self.outputs!r}")
        if self.population < 2 or self.generations < 1 or self.res < 2 or not self.activations \
                or self.initial_hidden < 0 or self.elitism > self.population:
            raise FracturelabError(f"bad NEAT settings: population >= 2, generations >= 1, res >= 2, an activation, "
                                   f"initial_hidden >= 0, elitism <= population "
                                   f"(got {asdict(self)})")
        _check_generations(self.generations)
        probs = {k: getattr(self, k) for k in ("node_add_prob", "conn_add_prob")}
        if not all(0 <= p <= 1 for p in probs.values()):
            raise FracturelabError(f"bad NEAT settings: node_add_prob and conn_add_prob are chances in [0, 1] "
                                   f"(got {probs})")
        if not (0 <= self.weight_mutate_power < math.inf and 0 < self.compatibility_threshold < math.inf
                and self.max_stagnation >= 1 and self.elitism >= 0):
            raise FracturelabError(f"bad NEAT settings: finite weight_mutate_power >= 0, finite "
                                   f"compatibility_threshold > 0, max_stagnation >= 1, elitism >= 0 (got "
                                   f"{self.weight_mutate_power}, {self.compatibility_threshold}, "
                                   f"{self.max_stagnation}, {self.elitism})")
        from ...limits import check_pixels, check_size

        check_size(self.population, "max_runs", "NEAT population")
        check_pixels(self.res, "NEAT fitness resolution")


@dataclass
class NoveltySettings:
    """Novelty search over rendered images (see novelty.py for the measure and the archive)."""

    k: int = 15
    """Novelty = mean distance to the k nearest neighbours among the population and the archive."""
    res: int = 16
    """Behaviour = the grey image at res x res (luma of RGB), flattened: distance is RMS pixel difference."""
    archive_prob: float = 0.02
    """Chance that an individual joins the archive regardless of novelty (keeps the archive spread out)."""
    threshold: float = 0.1
    """An individual whose novelty exceeds this joins the archive."""
    max_archive: int = 2000
    """Archive size cap (the oldest members leave first)."""

    def check(self) -> None:
        # threshold: a novelty is an RMS distance (>= 0), so a negative threshold would read as 0 unseen
        if self.k < 1 or self.res < 2 or not 0 <= self.archive_prob <= 1 or self.max_archive < 1 \
                or not self.threshold >= 0:
            raise FracturelabError(f"bad novelty settings: k >= 1, res >= 2, 0 <= archive_prob <= 1, threshold >= 0 "
                                   f"(got {asdict(self)})")


def _check_generations(n: int) -> None:
    """An evolution's generations within limits.max_steps (read when checked: the limit may be set after import)."""
    from ...limits import check_size

    check_size(n, "max_steps", "evolution generations")
