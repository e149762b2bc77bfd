"""Training on the task testbed: regimes, early stopping on a validation split carved from train, run folders.

    from fracturelab.train import train_run, load_run
    metrics = train_run("scan", split="length", model="transformer", regime="scratch", seed=0, outdir="runs/x")
    model, data, config = load_run("runs/x")              # load_run("runs/x", checkpoint=500) for ckpt_500.pt

REGIMES: scratch, pretrain (primitives or sub-tasks first, then the compositions), curriculum (simple to composed).
Each task's default model and recipe (task options, model size, steps) are in its registry entry:
fracturelab.tasks.TASKS[task].default_model and .recipe.
breakdown: accuracy by metadata and multiplication's per-node error types, read from run folders.
"""
from .breakdown import accuracy_by, error_type_table, multiplication_nodes, read_results
from .evaluate import flatten_meta, read_csv, score_sets
from .loop import TrainSettings
from .regimes import REGIMES, pretrain_set
from .run import RUN_FILES, load_run, resolve, train_run

__all__ = ["REGIMES", "RUN_FILES", "TrainSettings", "accuracy_by", "error_type_table", "flatten_meta", "load_run",
           "multiplication_nodes", "pretrain_set", "read_csv", "read_results", "resolve", "score_sets", "train_run"]
