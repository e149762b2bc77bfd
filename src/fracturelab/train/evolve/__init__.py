"""Evolved networks: evolution strategies over fixed-topology models, NEAT over CPPN topologies (neat-python 2.0.0),
novelty search over rendered images, and evolved/SGD pairs matched on output error.

    from fracturelab.train.evolve import ESSettings, minimize, PopulationLoss
    from fracturelab.train.evolve import NEATSettings
    from fracturelab.train.evolve.neat_run import evolve_cppn          # NEAT toward an image
    from fracturelab.train.evolve.neat_cppn import neat_to_net         # a NEAT genome -> a project Net
"""
from .batched import PopulationLoss, loop_losses
from .es import ESResult, make_strategy, minimize
from .settings import ESSettings, NEATSettings, NoveltySettings

__all__ = ["ESResult", "ESSettings", "NEATSettings", "NoveltySettings", "PopulationLoss", "loop_losses",
           "make_strategy", "minimize"]
