"""The stages of a run, in order, built once from the config; each declares how it batches and what it
needs (`Stage.resources`), and `seat` sizes those needs to the cluster.

Without `llm` among `qa.generators` the prompt and generate stages are left out: the parse stage takes
the loaded windows and keeps the pairs read off their structure, and no model is loaded.

Both runners take this plan: `docqa.runtime.local` loops over it, `docqa.runtime.ray_dag` turns it into
Ray Data. Ray Data streams only while every stage has a worker: an actor whose reservation does not fit
waits, and with it every stage below it, while the stages above fill the object store. So `seat` places
every stage's actors (and one task of each stateless stage) on the cluster's nodes at once, the LLM
engine first, and gives the loading workers whatever is left unless their settings say otherwise.
Reservations are Ray's accounting, not pinning: a loading worker reserving 0.65 CPU still uses a whole
core when the engine waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from docqa.config import Config
from docqa.errors import UserError
from docqa.generate.answer import response_schema
from docqa.generate.endpoint import EndpointGenerateQA
from docqa.generate.prompt_stage import BuildPrompts
from docqa.generate.prompts import PromptTemplate
from docqa.generate.vllm_engine import GenerateQA
from docqa.ingest.load import LoadDocuments
from docqa.quality.annotate import ParseQA
from docqa.quality.decontaminate import EvalSets, RemoveEvalPages
from docqa.quality.verify import PairChecker
from docqa.runtime.page_cache import PageCache, settings_key
from docqa.runtime.stage import Resources, Stage


@dataclass
class StagePlan:
    stages: list[Stage]


def page_cache(config: Config) -> PageCache | None:
    return PageCache(config.output.cache_dir, settings_key(config)) if config.output.cache_dir else None


def generate_stage(config: Config, model_path: str, model_label: str, templates: list[PromptTemplate]) -> Stage:
    """The LLM stage: an engine in each of `model.replicas` actors, or requests to `model.endpoint`; the same
    engine or endpoint answers the checks that ask the model about each pair, when they are on."""
    schema = response_schema(config.sampling.max_pairs)
    checker = PairChecker(config.filters, templates, config.prompt.directory, config.model.max_model_len)
    if config.model.endpoint:
        return EndpointGenerateQA(model_label, config.model, config.sampling, schema, checker, model_path)
    return GenerateQA(model_path, model_label, config.model, config.sampling, schema, checker)


def uses_llm(config: Config) -> bool:
    return "llm" in config.qa.generators


def eval_sets(config: Config) -> EvalSets | None:
    """The eval sets' indexes, built or found in the cache; a missing or unreadable set stops the run here."""
    return EvalSets(config.decontaminate) if config.decontaminate.eval_sets else None


def build_plan(config: Config, templates: list[PromptTemplate], model_path: str, model_label: str) -> StagePlan:
    """The stages; `model_path` and `model_label` are unused (pass "") when the LLM is not a generator."""
    evals = eval_sets(config)
    load = LoadDocuments(
        config.input,
        config.render,
        config.text,
        config.limits,
        page_cache(config),
        workers=config.run.load_workers,
        num_cpus=config.run.load_num_cpus,
    )
    parse = ParseQA(
        config.filters, templates, batch_size=config.model.batch_size, eval_sets=evals, pii=config.pii, qa=config.qa
    )
    llm = llm_stages(config, templates, model_path, model_label) if uses_llm(config) else []
    plan = StagePlan([load, *llm, parse])
    if evals:  # right after loading: a contaminated window is never prompted nor generated for
        plan.stages.insert(1, RemoveEvalPages(evals))
    return plan


def llm_stages(config: Config, templates: list[PromptTemplate], model_path: str, model_label: str) -> list[Stage]:
    """The prompt stage and the LLM stage."""
    sampling = config.sampling
    prompts = BuildPrompts(
        templates,
        config.prompt.seed,
        model_path,
        config.model.max_model_len,
        sampling.max_tokens,
        sampling.max_pairs,
        config.model.revision,
        batch_size=config.run.prompt_batch_size,
    )
    return [prompts, generate_stage(config, model_path, model_label, templates)]


# The settings behind a stage's reservations, named when the cluster cannot seat them.
RESERVATION_SETTINGS: dict[type, str] = {
    GenerateQA: "model.replicas x model.num_cpus / model.num_gpus",
    EndpointGenerateQA: "model.replicas",
    LoadDocuments: "run.load_workers x run.load_num_cpus",
}
RESOURCE_STEP = 1e-4  # the finest fraction of a resource Ray accounts


@dataclass(frozen=True)
class Node:
    """What one node of the cluster offers to reserve."""

    cpus: float
    gpus: float = 0
    memory_gb: float = math.inf


class Unseatable(UserError):
    """The cluster cannot hold one worker of every stage at once with the resources the settings ask."""


def seat(plan: StagePlan, nodes: list[Node]) -> list[Resources]:
    """Each stage's resources, sized so that all its workers fit on `nodes` together with every other
    stage's: the engine replicas placed first, then the other fixed reservations (largest first, one task
    for a stateless stage), then the stages that left their CPUs or workers unset (`None`) share what is
    left, each node's remainder counted apart. Raises `Unseatable`, naming the settings, when the fixed
    reservations do not fit or nothing is left to share."""
    free = [[node.cpus, node.gpus, node.memory_gb] for node in nodes]
    fixed = [stage for stage in plan.stages if not _flexible(stage.resources)]
    fixed.sort(key=lambda stage: (stage.name != "generate", -stage.resources.num_gpus, -stage.resources.num_cpus))
    for stage in fixed:
        needs = stage.resources
        for _ in range(_workers(needs)):
            if not _place(free, needs.num_cpus, needs.num_gpus, needs.memory_gb):
                problem = f"{_ask(stage, needs)} does not fit beside the stages placed before it"
                raise Unseatable(_unseatable(plan, nodes, problem))
    seated = [stage.resources for stage in plan.stages]
    flexible = [i for i, stage in enumerate(plan.stages) if _flexible(stage.resources)]
    for n, i in enumerate(flexible):
        needs = plan.stages[i].resources
        # The stages still to be sized take equal parts of each node's remainder.
        parts = len(flexible) - n
        left = [cpus / parts for cpus, gpus, memory in free if gpus >= needs.num_gpus and memory >= needs.memory_gb]
        sized = _share(needs, left)
        if sized is None:
            raise Unseatable(_unseatable(plan, nodes, f"nothing is left for {plan.stages[i].name}"))
        for _ in range(sized.replicas):
            if not _place(free, sized.num_cpus, sized.num_gpus, sized.memory_gb):  # _share counted whole slots
                raise AssertionError(f"a {plan.stages[i].name} worker sized to fit did not fit")
        seated[i] = sized
    return seated


def describe_seating(plan: StagePlan, seating: list[Resources], nodes: list[Node]) -> str:
    asks = "; ".join(_ask(stage, needs) for stage, needs in zip(plan.stages, seating, strict=True))
    cpus, gpus = sum(n.cpus for n in nodes), sum(n.gpus for n in nodes)
    return f"Seating on {len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs: {asks}"


def _flexible(needs: Resources) -> bool:
    return needs.num_cpus is None or needs.replicas is None


def _workers(needs: Resources) -> int:
    """Workers reserved at once: a stateful stage's actors; a stateless stage needs room for one task."""
    return needs.replicas if needs.stateful else 1


def _place(free: list[list[float]], cpus: float, gpus: float, memory_gb: float) -> bool:
    """Reserve one worker on the node it fits best (least CPU left after it), keeping large holes for large asks."""
    fits = [node for node in free if node[0] >= cpus - 1e-6 and node[1] >= gpus - 1e-6 and node[2] >= memory_gb]
    if not fits:
        return False
    node = min(fits, key=lambda node: (node[0] - cpus, node[1] - gpus))
    node[0], node[1], node[2] = node[0] - cpus, node[1] - gpus, node[2] - memory_gb
    return True


def _share(needs: Resources, left: list[float]) -> Resources | None:
    """A flexible stage sized to `left` (each node's CPUs for it): its workers (unset: one per whole CPU, at
    least one), each with the largest reservation (unset) that seats them all; None when they cannot be.
    Counted in Ray's steps of a CPU, so that what is asked is exactly what was found to fit."""
    steps = [math.floor(cpus / RESOURCE_STEP + 1e-6) for cpus in left]

    def slots(per_worker: int) -> int:
        return sum(s // per_worker for s in steps)

    if needs.num_cpus is not None:
        per_worker = max(1, round(needs.num_cpus / RESOURCE_STEP))
        workers = needs.replicas or slots(per_worker)
        return replace(needs, replicas=workers) if 0 < workers <= slots(per_worker) else None
    workers = needs.replicas or max(1, slots(round(1 / RESOURCE_STEP)))
    if slots(1) < workers:
        return None
    low, high = 1, max(steps)  # slots() falls as the reservation grows: the largest that still seats them all
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if slots(middle) >= workers else (low, middle - 1)
    return replace(needs, num_cpus=round(low * RESOURCE_STEP, 4), replicas=workers)


def _ask(stage: Stage, needs: Resources) -> str:
    count = f"{needs.replicas or '?'} x " if needs.stateful else "a task of "
    cpus = "?" if needs.num_cpus is None else f"{needs.num_cpus:g}"
    gpus = f" + {needs.num_gpus:g} GPU" if needs.num_gpus else ""
    setting = f" ({RESERVATION_SETTINGS[type(stage)]})" if type(stage) in RESERVATION_SETTINGS else ""
    return f"{stage.name} {count}{cpus} CPU{gpus}{setting}"


def _unseatable(plan: StagePlan, nodes: list[Node], problem: str) -> str:
    asked = "; ".join(_ask(stage, stage.resources) for stage in plan.stages)
    offered = ", ".join(f"{n.cpus:g} CPU + {n.gpus:g} GPU" for n in nodes) or "none alive"
    return (
        f"the cluster cannot run every stage at once: {problem}. Asked: {asked}. Nodes: {offered}. Lower the "
        "settings named (leave run.load_workers and run.load_num_cpus unset to share what the engine leaves), or "
        "give Ray more resources"
    )
