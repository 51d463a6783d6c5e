"""Seating: every stage's workers fit on the cluster at once, the engine first, loading sized from what is
left. Real plans built from the shipped configs; the clusters are described, as Ray reports its nodes."""

import pytest

from docqa.config import load_config
from docqa.errors import UserError
from docqa.generate.prompts import load_templates
from docqa.runtime.plan import Node, Unseatable, build_plan, seat
from tests.conftest import ROOT


def plan_for(config_file: str, *overrides: str):
    config = load_config(ROOT / "configs" / config_file, list(overrides))
    templates = load_templates(ROOT / config.prompt.directory, config.prompt.templates)
    return build_plan(config, templates, "model-not-loaded-by-seating", "label")


def seated(plan, nodes):
    return {stage.name: needs for stage, needs in zip(plan.stages, seat(plan, nodes), strict=True)}


def reserved(needs) -> tuple[float, float]:
    """CPUs and GPUs a stage holds at once: its actors, or one task of a stateless stage."""
    workers = needs.replicas if needs.stateful else 1
    return workers * needs.num_cpus, workers * needs.num_gpus


def test_on_two_cpus_the_embedded_engine_is_seated_beside_loading():
    """main asked 2 x 0.5 + 0.25 + 1 = 2.25 CPUs of 2: the engine waited for loading to end."""
    plan = plan_for("default.yaml")
    by_stage = seated(plan, [Node(cpus=2, memory_gb=8)])
    assert (by_stage["generate"].replicas, by_stage["generate"].num_cpus) == (1, 1)  # as configured
    assert (by_stage["load"].replicas, by_stage["load"].num_cpus) == (1, 0.65)
    assert sum(reserved(needs)[0] for needs in by_stage.values()) <= 2


def test_an_eight_gpu_node_gets_its_engines_and_a_loader_per_cpu_left():
    plan = plan_for("gpu.yaml", "model.replicas=8")
    by_stage = seated(plan, [Node(cpus=64, gpus=8, memory_gb=512)])
    assert (by_stage["generate"].replicas, by_stage["generate"].num_cpus, by_stage["generate"].num_gpus) == (8, 1, 1)
    assert (by_stage["load"].replicas, by_stage["load"].num_cpus) == (55, 1.0118)
    cpus, gpus = map(sum, zip(*(reserved(needs) for needs in by_stage.values())))
    assert cpus <= 64 and gpus == 8


def test_loading_workers_set_alone_share_what_is_left():
    by_stage = seated(plan_for("default.yaml", "run.load_workers=4"), [Node(cpus=2)])
    assert (by_stage["load"].replicas, by_stage["load"].num_cpus) == (4, 0.1625)


@pytest.mark.parametrize(
    ("overrides", "loading"),
    [
        (["run.load_workers=2", "run.load_num_cpus=0.3"], (2, 0.3)),
        (["run.load_num_cpus=0.2"], (3, 0.2)),  # as many workers of 0.2 CPU as the 0.65 left holds
    ],
)
def test_explicit_settings_that_fit_are_kept(overrides, loading):
    by_stage = seated(plan_for("default.yaml", *overrides), [Node(cpus=2)])
    assert (by_stage["load"].replicas, by_stage["load"].num_cpus) == loading


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["run.load_workers=2", "run.load_num_cpus=0.5"], "run.load_workers x run.load_num_cpus"),  # main's 2.25 CPUs
        (["model.num_cpus=4"], "model.replicas x model.num_cpus"),
        (["model.num_gpus=1"], "model.num_gpus"),
        (["model.num_cpus=1.65"], "nothing is left for load"),
    ],
)
def test_settings_that_cannot_all_be_seated_stop_the_run_naming_them(overrides, named):
    with pytest.raises(Unseatable) as raised:
        seat(plan_for("default.yaml", *overrides), [Node(cpus=2)])
    assert isinstance(raised.value, UserError)  # exit code 2, before any work
    assert named in str(raised.value)


def test_the_engine_needs_one_node_that_holds_it_not_the_sum_of_several():
    with pytest.raises(Unseatable, match="generate 1 x 1.5 CPU"):
        seat(plan_for("default.yaml", "model.num_cpus=1.5"), [Node(cpus=1), Node(cpus=1), Node(cpus=1)])


def test_loading_spreads_over_the_nodes_the_engine_leaves():
    """The engine fills the GPU node's CPUs; the loaders go to the CPU-only nodes."""
    plan = plan_for("gpu.yaml", "model.num_cpus=8")
    by_stage = seated(plan, [Node(cpus=8, gpus=1), Node(cpus=4), Node(cpus=4)])
    assert (by_stage["load"].replicas, by_stage["load"].num_cpus) == (7, 1.0)
