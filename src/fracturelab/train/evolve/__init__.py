"""Evolved networks: evolution strategies over fixed-topology models, NEAT over CPPN topologies (neat-python 2.0.0),
novelty search over rendered images, and evolved/SGD pairs matched on output error.

    from fracturelab.train.evolve import ESSettings, minimize, PopulationLoss
    from fracturelab.train.evolve import NEATSettings, evolve_cppn, neat_to_net
"""
from .batched import PopulationLoss, loop_losses
from .es import ESResult, make_strategy, minimize
from .settings import ESSettings, NEATSettings, NoveltySettings

__all__ = ["ESResult", "ESSettings", "NEATSettings", "NoveltySettings", "PopulationLoss", "loop_losses",
           "make_strategy", "minimize"]
