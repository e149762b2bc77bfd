"""Per-task recipes: the task options, model sizes and training settings the default runs use.

Each recipe was chosen so the task's default model reaches >= 0.98 test_id accuracy on a CPU within `budget`
(measured with one torch thread on a shared 2-core machine; see each task module's docstring and the README).
Any of these can be overridden by train_run's options.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """Defaults of one task's runs."""

    task_options: dict = field(default_factory=dict)
    """Options passed to make_task (on top of the task's own defaults)."""
    model_options: dict = field(default_factory=dict)
    """Model name -> settings overrides for that model on this task."""
    train: dict = field(default_factory=dict)
    """TrainSettings overrides."""
    budget: str = ""
    """The CPU budget the default run is meant to fit in, in words."""


RECIPES: dict[str, Recipe] = {
    "lookup": Recipe(
        task_options={"intermediate": True},
        model_options={"transformer": {"d_model": 64, "n_layer": 2}},
        train={"max_steps": 4000, "lr": 2e-3},
        budget="about 2 minutes"),
    "scan": Recipe(
        model_options={"transformer": {"d_model": 64, "n_layer": 3}},
        train={"max_steps": 5000, "lr": 2e-3},
        budget="about 5 minutes"),
    "multiplication": Recipe(
        task_options={"train_sizes": ((1, 1), (1, 2), (2, 1), (3, 1)), "ood_sizes": ((2, 2),)},
        model_options={"transformer": {"d_model": 64, "n_layer": 3}},
        train={"max_steps": 3000, "lr": 2e-3, "patience": 20},
        budget="about 6 minutes"),
    "leave_square_out": Recipe(
        model_options={"mlp": {"hidden": 512, "depth": 2}},
        train={"max_steps": 4000, "lr": 3e-3, "weight_decay": 1.0, "batch_size": 256, "patience": 15},
        budget="under a minute"),
    "factors": Recipe(
        task_options={"n_per_combo": 32, "n_noise": 1},
        model_options={"mlp": {"input": "embed", "embed": 8, "hidden": 512, "depth": 1}},
        train={"max_steps": 3000},
        budget="about a minute"),
    "knowledge_graph": Recipe(
        task_options={"intermediate": True},
        model_options={"transformer": {"d_model": 128, "n_layer": 2}},
        train={"max_steps": 4000, "lr": 2e-3},
        budget="about a minute"),
}
