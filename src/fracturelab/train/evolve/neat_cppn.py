"""NEAT (neat-python 2.0.0) with the project's CPPN activations, and the converter from an evolved NEAT genome to
the project's layerized CPPN (arch + flat weights), so every measurement runs on evolved nets as on SGD ones.

NEAT side: 3 inputs (x, y, d, with the project's coordinates), node biases, 1 output (ink) or 3 (hue, saturation,
brightness), aggregation `sum`, activations registered under the project's names with the project's definitions
(sigmoid = 2 sigma(z) - 1, gaussian = 2 exp(-z^2) - 1, as FER's CPPNs; see fracturelab.cppn.module), so a NEAT node
computes act(bias + response * sum(w_i * x_i)), the same function as the converted unit.

Converter: each enabled connection becomes a link of weight response * w (response scales the sum, not the bias),
each node's bias a link from the `bias` input (the constant 1 Picbreeder uses instead of node biases). The resulting
graph goes through fracturelab.cppn.layerize, the same layerization as Picbreeder genomes (depth = longest path,
`cache` identity units carrying values across layers, grey nets padded to h, s, v).
"""
from __future__ import annotations

import math
import os
import random
import tempfile

import neat

from ...cppn.genome import Genome, Link, Node
from ...cppn.nets import Net, net_from_genome
from ...errors import FracturelabError
from .settings import NEATSettings

INPUT_NAMES = ("x", "y", "d")  # NEAT input keys -1, -2, -3; the constant bias input replaces node biases
OUTPUT_NAMES = {1: ("ink",), 3: ("hue", "saturation", "brightness")}


def _sigmoid(z):
    # 2 sigma(z) - 1 = tanh(z / 2): the same function, and it never overflows
    return math.tanh(0.5 * z)


def _gaussian(z):
    return 2.0 * math.exp(-z * z) - 1.0


def _identity(z):
    return z


def _relu(z):
    return z if z > 0.0 else 0.0


def _sin(z):
    return math.sin(z)


def _cos(z):
    return math.cos(z)


def _tanh(z):
    return math.tanh(z)


ACTIVATIONS = {"sin": _sin, "cos": _cos, "tanh": _tanh, "sigmoid": _sigmoid, "gaussian": _gaussian,
               "identity": _identity, "relu": _relu}
"""Project activation name -> the scalar function registered in neat-python (replacing its own sin, tanh, sigmoid,
relu, which scale their input)."""


class CPPNGenome(neat.DefaultGenome):
    """DefaultGenome whose output nodes keep one fixed activation (settings.output_activation): the image is read
    from the raw outputs, as Picbreeder's (identity) outputs."""

    output_activation = "identity"

    def _fix_outputs(self, config):
        for k in config.output_keys:
            if k in self.nodes:
                self.nodes[k].activation = self.output_activation

    def configure_new(self, config):
        super().configure_new(config)
        self._fix_outputs(config)

    def mutate(self, config):
        super().mutate(config)
        self._fix_outputs(config)

    def configure_crossover(self, genome1, genome2, config):
        super().configure_crossover(genome1, genome2, config)
        self._fix_outputs(config)


def config_text(s: NEATSettings, n_outputs: int) -> str:
    """neat-python 2.0.0's config file for these settings (every required item written out)."""
    acts = " ".join(s.activations)
    return f"""[NEAT]
fitness_criterion = max
fitness_threshold = 1e30
no_fitness_termination = True
pop_size = {s.population}
reset_on_extinction = True

[CPPNGenome]
num_inputs = {len(INPUT_NAMES)}
num_outputs = {n_outputs}
num_hidden = {s.initial_hidden}
feed_forward = True
initial_connection = full_direct
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient = 0.5
conn_add_prob = {s.conn_add_prob}
conn_delete_prob = 0.1
node_add_prob = {s.node_add_prob}
node_delete_prob = 0.05
single_structural_mutation = false
structural_mutation_surer = default
activation_default = random
activation_options = {acts}
activation_mutate_rate = 0.1
aggregation_default = sum
aggregation_options = sum
aggregation_mutate_rate = 0.0
bias_init_mean = 0.0
bias_init_stdev = 1.0
bias_init_type = gaussian
bias_max_value = 10.0
bias_min_value = -10.0
bias_mutate_power = {s.weight_mutate_power}
bias_mutate_rate = 0.7
bias_replace_rate = 0.05
response_init_mean = 1.0
response_init_stdev = 0.0
response_init_type = gaussian
response_max_value = 10.0
response_min_value = -10.0
response_mutate_power = 0.0
response_mutate_rate = 0.0
response_replace_rate = 0.0
weight_init_mean = 0.0
weight_init_stdev = 1.0
weight_init_type = gaussian
weight_max_value = 10.0
weight_min_value = -10.0
weight_mutate_power = {s.weight_mutate_power}
weight_mutate_rate = 0.8
weight_replace_rate = 0.05
enabled_default = True
enabled_mutate_rate = 0.01

[DefaultSpeciesSet]
compatibility_threshold = {s.compatibility_threshold}

[DefaultStagnation]
species_fitness_func = max
max_stagnation = {s.max_stagnation}
species_elitism = 2

[DefaultReproduction]
elitism = {s.elitism}
survival_threshold = 0.2
min_species_size = 2
"""


class StopRun(Exception):
    """Raised inside a fitness function to end a NEAT run (neat-python has no stop hook)."""


def run_population(config, seed: int, evaluate, generations: int, reporter=None) -> bool:
    """neat-python's Population run with evaluate(genomes, config) for at most `generations`; True if evaluate
    raised StopRun (the reporter then still gets that generation's post_evaluate). neat-python draws from the global
    `random`: it is seeded here and given back afterwards."""
    saved = random.getstate()
    try:
        pop = neat.Population(config, seed=seed)
        if reporter is not None:
            pop.add_reporter(reporter)
        try:
            pop.run(evaluate, generations)
        except RuntimeError as e:  # neat-python: more species than the population can give its minimum each
            if "Configuration conflict" not in str(e):
                raise
            raise FracturelabError(f"NEAT: {e} Raise the population or compatibility_threshold, or lower "
                                   f"elitism") from None
        except StopRun:
            if reporter is not None:
                reporter.post_evaluate(config, pop.population, pop.species, None)
            return True
        return False
    finally:
        random.setstate(saved)


def assign_fitness(genomes, fit) -> None:
    """genome.fitness from fit (N,); neat-python needs finite values, so NaN and infinities become -1e9."""
    for (_, g), f in zip(genomes, fit.tolist()):
        g.fitness = f if math.isfinite(f) else -1e9


def make_config(s: NEATSettings, n_outputs: int) -> neat.Config:
    """A neat.Config with the project's activations registered (neat-python reads configs from files only)."""
    s.check()
    if n_outputs < 1:  # images: 1 (ink) or 3 (h, s, v); task classifiers: one per class
        raise FracturelabError(f"a NEAT CPPN needs at least one output, got {n_outputs}")
    from ...limits import check_size

    n_in = len(INPUT_NAMES) + 1  # and the bias
    first = s.initial_hidden * (n_in + n_outputs) if s.initial_hidden else n_in * n_outputs
    check_size(s.population * first, "max_params", "NEAT first population's weights (population x initial_hidden "
               "x (inputs + outputs))")
    genome_cls = type("CPPNGenome", (CPPNGenome,), {"output_activation": s.output_activation})
    fd, path = tempfile.mkstemp(suffix=".ini", prefix="fracturelab_neat_")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(config_text(s, n_outputs))
        config = neat.Config(genome_cls, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                             neat.DefaultStagnation, path)
    finally:
        os.unlink(path)
    for name, fn in ACTIVATIONS.items():
        config.genome_config.add_activation(name, fn)
    # neat-python 2.0 numbers new connections through a tracker that Population normally installs; set one here
    # so genomes can also be made outside a Population (tests, random genomes). Population replaces it.
    config.genome_config.innovation_tracker = neat.innovation.InnovationTracker()
    return config


def neat_to_genome(genome, config: neat.Config, name: str = "neat", outputs: tuple[str, ...] | None = None) -> Genome:
    """An evolved NEAT genome as the project's Genome graph (enabled connections only; biases as bias links).
    outputs: labels of the output nodes (default: ink, or hue, saturation, brightness, by their number)."""
    gc = config.genome_config
    key = {k: n for k, n in zip(gc.input_keys, INPUT_NAMES)}
    key |= {k: f"out_{n}" for k, n in zip(gc.output_keys, _output_labels(gc, outputs))}
    nodes = {n: Node(n, "in", "identity", n) for n in (*INPUT_NAMES, "bias")}
    conns = sorted((c for c in genome.connections.values() if c.enabled), key=lambda c: c.key)
    used = set(gc.output_keys) | {c.key[0] for c in conns} | {c.key[1] for c in conns}
    for k in sorted(k for k in used if k not in key):
        key[k] = f"h{k}"
    links = []
    for k in sorted(used - set(gc.input_keys)):  # every non-input node: its incoming links, then its bias
        ng = _node_gene(genome, k)
        is_out = k in gc.output_keys
        label = key[k][4:] if is_out else ""
        nodes[key[k]] = Node(key[k], "out" if is_out else "hidden", ng.activation, label)
        links += [Link(key[c.key[0]], key[k], float(ng.response * c.weight)) for c in conns if c.key[1] == k]
        links.append(Link("bias", key[k], float(ng.bias)))
    return Genome(name, nodes, links, path=f"neat:{name}")


def _output_labels(gc, outputs: tuple[str, ...] | None) -> tuple[str, ...]:
    """The output nodes' labels: outputs (one per output node), or by their number ink / hue, saturation,
    brightness; refused unless the genome has the CPPN inputs x, y, d."""
    outs = outputs if outputs is not None and len(outputs) == len(gc.output_keys) else OUTPUT_NAMES.get(
        len(gc.output_keys)) if outputs is None else None
    if outs is None or len(gc.input_keys) != len(INPUT_NAMES):
        raise FracturelabError(f"NEAT genome with {len(gc.input_keys)} inputs and {len(gc.output_keys)} outputs: "
                               f"a CPPN needs inputs x, y, d and outputs {outputs or 'ink or h, s, v'}")
    return outs


def _node_gene(genome, k: int):
    """Node k's gene, refused unless it is a CPPN unit: it exists, sums its inputs and has a CPPN activation."""
    ng = genome.nodes.get(k)
    if ng is None:
        raise FracturelabError(f"NEAT genome {genome.key}: connection to node {k}, which has no gene")
    if ng.aggregation != "sum":
        raise FracturelabError(f"NEAT genome {genome.key}: node {k} aggregates by {ng.aggregation!r}; "
                               "a CPPN unit sums its inputs")
    if ng.activation not in ACTIVATIONS:
        raise FracturelabError(f"NEAT genome {genome.key}: node {k} has activation {ng.activation!r} "
                               f"(CPPN activations: {', '.join(ACTIVATIONS)})")
    return ng


def neat_to_net(genome, config: neat.Config, name: str = "neat") -> Net:
    """An evolved NEAT genome as a layerized CPPN Net (FER's arch string and flat weights)."""
    return net_from_genome(neat_to_genome(genome, config, name))
