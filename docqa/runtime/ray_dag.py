"""The Ray Data DAG: the only module that imports Ray. It adapts the plan's stages to `map_batches`.

Stateless stages run as tasks; stages holding a model or tokenizer run in long-lived actors, the LLM
engine as `model.replicas` actors; the reservations are first sized to the cluster's nodes
(`docqa.runtime.plan.seat`), so that every stage runs at once. Execution streams: documents are loaded
while earlier windows are generated, and the plan's last stage hands the caller what it makes of finished
windows as they complete, in any order: receipts, once workers have written the windows to the work
folder (the dataset is assembled in input order from committed work units, see `docqa.runtime.units`).

The assembly (`docqa.output.assembly`) runs here too: units are keyed in tasks, the keys grouped with Ray
Data's `groupby`, each group checked in `map_groups`, and the dataset's parts written by one task each.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict
from itertools import islice
from typing import Any

import pyarrow as pa
import ray

from docqa.config import RunConfig
from docqa.output.assembly import Unit
from docqa.output.writer import PartWritten
from docqa.records import DedupLink, arrow_schema, from_table, to_row, to_table
from docqa.runtime.plan import Node, StagePlan, describe_seating, seat
from docqa.runtime.stage import Stage


class _StageAdapter:
    """Holds one stage (its model loaded once) and maps Arrow batches through it."""

    def __init__(self, stage: Stage):
        self.stage = stage

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        # Handed on in pieces of `batch_size` records, which Ray gathers into blocks: a record that expands
        # to many (a tar shard) is not held whole here.
        outputs = self.stage.stream(from_table(self.stage.input_type, batch))
        while piece := list(islice(outputs, self.stage.resources.batch_size)):
            yield to_table(self.stage.output_type, piece)


class _AsyncStageAdapter(_StageAdapter):
    """For a stage with `process_batch_async`: Ray runs several calls at once in one actor, on one event loop."""

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        yield to_table(self.stage.output_type, await self.stage.stream_async(from_table(self.stage.input_type, batch)))


def _connect(run: RunConfig) -> None:
    if not ray.is_initialized():
        # Join the configured cluster, or the one a Ray job runs in (RAY_ADDRESS); otherwise start a
        # fresh local instance rather than attach to whatever /tmp/ray says was last started here.
        address = run.ray_address or os.environ.get("RAY_ADDRESS")
        ray.init(address=address or "local", num_cpus=None if address else run.num_cpus)
    # A stage's own exception reaches the driver as itself (a SystemicFault, or a bug with its traceback),
    # not as Ray Data's generic UserCodeException, which drops it.
    ray.data.DataContext.get_current().raise_original_map_exception = True


def run_ray(plan: StagePlan, inputs: list[Any], run: RunConfig) -> Iterator[pa.Table]:
    """The outputs of the plan's last stage for `inputs` (records of its first stage's input type), as Arrow
    tables, never turned into Python objects here."""
    _connect(run)
    # Blocks in flight (page images above all) stay under this, however large the corpus: upstream stages
    # pause when it is reached.
    limits = ray.data.ExecutionResources.for_limits(object_store_memory=run.object_store_mb * 2**20)
    ray.data.DataContext.get_current().execution_options.resource_limits = limits
    nodes = cluster_nodes()
    seating = seat(plan, nodes)  # a setting that cannot be seated stops the run here, before any input is read
    print(describe_seating(plan, seating, nodes), flush=True)
    # One input unit per block, so that loading spreads over workers from the start.
    ds = ray.data.from_items([to_row(record) for record in inputs], override_num_blocks=len(inputs))
    for stage, needs in zip(plan.stages, seating, strict=True):
        # Named after the stage, so Ray's progress reads "MapBatches(GenerateQA)".
        adapter = type(type(stage).__name__, (_AsyncStageAdapter if stage.is_async else _StageAdapter,), {})
        options = dict(
            batch_size=needs.batch_size,
            batch_format="pyarrow",
            num_cpus=needs.num_cpus,
            memory=needs.memory_gb * 2**30 or None,
        )
        in_flight = {}
        if stage.is_async:
            # Ray calls the async adapter of one actor this many times at once (the stage itself caps its
            # batches at this number), with as many calls more queued so that the next batch is at hand.
            options["max_concurrency"] = needs.batches_in_flight
            in_flight = {"max_tasks_in_flight_per_actor": 2 * needs.batches_in_flight}
        if needs.stateful:
            ds = ds.map_batches(
                adapter,
                fn_constructor_args=(stage,),
                compute=ray.data.ActorPoolStrategy(size=needs.replicas, **in_flight),
                num_gpus=needs.num_gpus or None,
                **options,
            )
        else:
            ds = ds.map_batches(adapter(stage), **options)
    yield from ds.iter_batches(batch_format="pyarrow", batch_size=None)


def cluster_nodes() -> list[Node]:
    """What each live node of the Ray cluster offers (a local instance: this machine, or `run.num_cpus`)."""
    return [
        Node(node["Resources"].get("CPU", 0), node["Resources"].get("GPU", 0), node["Resources"].get("memory", math.inf) / 2**30)
        for node in ray.nodes()
        if node["Alive"]
    ]


class RayAssembler:
    """The assembly's steps on Ray (`docqa.output.assembly`): twice as many parts as the cluster has CPUs."""

    def __init__(self, run: RunConfig):
        _connect(run)
        self.parts = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))

    def links(
        self, units: list[Unit], keys_of: Callable[[Unit], pa.Table], check: Callable[[pa.Table], pa.Table]
    ) -> Iterator[pa.Table]:
        def keys(batch: pa.Table) -> pa.Table:
            return pa.concat_tables([keys_of(Unit(**row)) for row in batch.to_pylist()])

        if not units:
            return
        ds = ray.data.from_items([asdict(u) for u in units], override_num_blocks=min(len(units), 4 * self.parts))
        ds = ds.map_batches(keys, batch_format="pyarrow", batch_size=None)
        # As many shuffle partitions as parts: Ray's default (200) costs more than it spreads on a small cluster.
        ds = ds.groupby("key", num_partitions=self.parts).map_groups(check, batch_format="pyarrow")
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield batch.cast(arrow_schema(DedupLink))

    def write(self, parts: list[Callable[[], PartWritten]]) -> list[PartWritten]:
        return ray.get([_write.remote(part) for part in parts])


@ray.remote(num_cpus=1)
def _write(part: Callable[[], PartWritten]) -> PartWritten:
    return part()
