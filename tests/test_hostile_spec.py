"""Hostile study specs and study start-up (the hostile sweep's study group): each is refused with one line naming
what is wrong, at load or before the output folder is made, never in a cell after others ran, and leaves nothing
behind (a refused resume does not even touch the folder)."""
from __future__ import annotations

import pytest
from study_helpers import SYNTHETIC_SPEC, TINY, synthetic_store, write_spec
from test_hostile import refused

from fracturelab.study.spec import parse_spec

CPPN_PART = '[cppn]\nreferences = ["face"]'
TASK = '[[tasks]]\nname = "leave_square_out"\nmodels = ["mlp"]\noptions = { max_steps = 30, p = 11, side = 3 }\n'

SPEC_FAULTS = {  # the sweep's case number, then the spec and the words its one line must hold
    "seeds_repeated_333": (TINY.replace("seeds = [0, 1]", "seeds = [0, 0]"), "spec.seeds: entry 1 repeats"),
    "task_seeds_repeated": (TINY.replace('models = ["mlp"]', 'models = ["mlp"]\nseeds = [3, 3]'), "].seeds"),
    "regimes_empty_336": (TINY.replace('regimes = ["scratch"]', "regimes = []"), "spec.regimes is empty"),
    "probes_repeated_339": (TINY.replace("probes = []", 'probes = ["sparsity", "sparsity"]'), "spec.probes"),
    "p_zero_344": (TINY.replace("p = 11", "p = 0"), "p must be at least 3"),
    "side_over_p_345": (TINY.replace("side = 3", "side = 50"), "side must be 1..p-1"),
    "id_frac_leaves_no_test_id": (TINY.replace("side = 3", "side = 3, id_frac = 0.001"), "leaves no test_id"),
    "threads_351": (TINY.replace("probes = []", "probes = []\nthreads = 100000"), "spec.threads"),
    "checkpoint_never_reached_352": (TINY.replace("probes = []", "probes = []\ncheckpoints = [31]"),
                                     "never reached"),
    "scale_unknown_model_355": (TINY.replace("[cppn]", '[[scales]]\nname = "a"\nmodel_options = { nosuch = { x = 1 } }'
                                             "\n[cppn]"), "unknown model 'nosuch'"),
    "scale_bad_model_setting_356": (TINY.replace("[cppn]", '[[scales]]\nname = "a"\nmodel_options = { mlp = { hidden'
                                                 " = -1 } }\n[cppn]"), "spec.scales[a].model_options.mlp"),
    "no_cppn_365": (TINY.replace('references = ["face"]', "references = []"), "no CPPN to measure"),
    "references_repeated_368": (TINY.replace('references = ["face"]', 'references = ["face", "face"]'),
                                "spec.cppn.references"),
    "intervention_376": (TINY + '[analysis]\ninterventions = ["bimt", "nosuch"]\n', "unknown regime 'nosuch'"),
    "intervention_old_key": (TINY + '[analysis]\nintervention = "bimt"\n', "unknown key 'intervention'"),
    "interventions_empty": (TINY + '[analysis]\ninterventions = []\n', "interventions is empty"),
    "interventions_scratch": (TINY + '[analysis]\ninterventions = ["scratch"]\n', "scratch is what"),
    "interventions_repeated": (TINY + '[analysis]\ninterventions = ["bimt", "bimt"]\n', "listed twice"),
    "task_repeated_388": (TINY.replace("[cppn]", TASK + TASK + "[cppn]"), "spec.tasks: entry 2 repeats"),
}


@pytest.mark.parametrize("kind", SPEC_FAULTS)
def test_bad_spec_refused_at_load(tmp_path, capsys, kind):
    text, words = SPEC_FAULTS[kind]
    refused(capsys, ["study", write_spec(tmp_path, text), "-o", tmp_path / "out", "-q", "--no-picbreeder"], words,
            watch=[tmp_path])
    assert not (tmp_path / "out").exists()


def test_edge_values_still_load():
    """The checkpoint refusal's boundary: a checkpoint at the last step (max_steps) loads."""
    spec = parse_spec(TINY.replace("probes = []", "probes = []\ncheckpoints = [30]"))
    assert spec.checkpoints == (30,) and len(spec.cells()) > 0


def test_task_cells_over_max_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRACTURELAB_MAX_RUNS", "1")  # TINY's 2 seeds make 2 task cells
    refused(capsys, ["study", write_spec(tmp_path), "-o", tmp_path / "out", "-q"], "task cells", "max_runs",
            watch=[tmp_path])


def test_workers_over_the_cap_391(tmp_path, capsys):
    refused(capsys, ["study", write_spec(tmp_path), "-o", tmp_path / "out", "-q", "--workers", "1000000"],
            "--workers: at most", watch=[tmp_path])


@pytest.mark.parametrize("entry, words", [("cppnx/121_ShortSDCoif.xml", "no such file"),
                                          ("../../etc/passwd", "outside the --picbreeder folder")])
def test_picbreeder_folder_lacks_the_spec_networks_395(tmp_path, capsys, entry, words):
    (tmp_path / "d").mkdir()
    spec = write_spec(tmp_path, TINY + f'picbreeder = ["{entry}"]\n')
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q", "--picbreeder", tmp_path / "d"], words,
            watch=[tmp_path])
    assert not (tmp_path / "out").exists()


def test_refused_resume_touches_nothing_400(tmp_path, capsys, monkeypatch):
    """A folder whose done cells other code computed (the synthetic store records no source): refused, and not even
    a transient -wal or -shm is made beside its store (the folder's own time stamp is unchanged)."""
    import study_helpers

    monkeypatch.setattr(study_helpers, "SYNTHETIC_SPEC", SYNTHETIC_SPEC.replace(', "bimt"', ""))
    out = tmp_path / "study"
    synthetic_store(out, seeds=3)
    spec = write_spec(tmp_path, study_helpers.SYNTHETIC_SPEC.format(seeds=[0, 1, 2]))
    before = {p.name: p.stat().st_mtime_ns for p in [out, *out.iterdir()]}
    refused(capsys, ["study", spec, "-o", out, "-q", "--workers", "1"], "--allow-mixed-versions", watch=[tmp_path])
    assert {p.name: p.stat().st_mtime_ns for p in [out, *out.iterdir()]} == before


def test_ray_cluster_not_reached_leaves_no_folder_402(tmp_path, capsys):
    pytest.importorskip("ray")
    refused(capsys, ["study", write_spec(tmp_path), "-o", tmp_path / "out", "-q", "--executor", "ray", "--address",
                     "::"], "ray: cannot join", watch=[tmp_path])
    assert not (tmp_path / "out").exists()
