"""CPPNs: Picbreeder genomes, FER's layerization, the torch module, rendering, SGD replicas and built-ins."""
from .arch import Arch
from .builtins import BUILTINS, builtin_net
from .genome import Genome, Link, Node, load_genome
from .layerize import Layerized, layerize
from .module import CPPN, coord_grid, forward, render
from .nets import Net, load_cppn, load_netdir, save_netdir
from .replicate import ReplicateSettings, fit, fit_many

__all__ = ["Arch", "BUILTINS", "CPPN", "Genome", "Layerized", "Link", "Net", "Node", "ReplicateSettings",
           "builtin_net", "coord_grid", "fit", "fit_many", "forward", "layerize", "load_cppn", "load_genome", "load_netdir",
           "render", "save_netdir"]
