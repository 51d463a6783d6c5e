"""The run's cost: each stage measures what it spends on its records (real PDFs through the real load stage,
whose rendering happens in a child process), and the stats price it."""

import asyncio
import time

import pytest

from docqa.config import CostConfig, InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.stats import Stats
from docqa.records import AnnotatedWindow, PageWindow, PairCheck, QAPair, SourceDocument, StageCost
from docqa.runtime.stage import Resources, Stage, cpu_seconds


def test_each_record_carries_its_share_of_the_stage_cpu_its_pdf_worker_included(sample_corpus):
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())
    stage.ensure_setup()
    here = time.process_time()
    windows = stage([SourceDocument(str(p)) for p in sample_corpus])
    here = time.process_time() - here
    assert all([c.stage for c in w.costs] == ["load"] and w.costs[0].gpu_s == 0 for w in windows)
    measured = sum(w.costs[0].cpu_s for w in windows)
    assert measured > here  # the pages are rendered and encoded in the worker process, which is counted too


def test_the_cost_prices_cpu_and_gpu_hours_per_thousand_kept_pairs():
    stats = Stats()
    window = AnnotatedWindow("a.pdf", "d" * 64, qa=[QAPair("q?", "a")] * 2, prompt_token_ids=[1, 2, 3], output_tokens=7,
                            finish_reason="stop")
    window.costs = [StageCost("load", 1800), StageCost("generate", 1800, 3600)]
    window.checks = [PairCheck("q?", "a", prompt_tokens=40, output_tokens=5), PairCheck("q?", "a", prompt_tokens=2)]
    stats.add(window)
    cost = stats.cost(CostConfig(cpu_hour=0.1, gpu_hour=2.0, currency="EUR"))
    assert cost["cpu_seconds_by_stage"] == {"load": 1800, "generate": 1800} and cost["gpu_seconds"] == 3600
    assert cost["total"] == pytest.approx(0.1 + 2.0) and cost["per_1000_kept_pairs"] == pytest.approx(2.1 / 2 * 1000)
    assert (cost["prompt_tokens"], cost["output_tokens"], cost["prices"]["currency"]) == (3, 7, "EUR")
    assert (cost["check_prompt_tokens"], cost["check_output_tokens"]) == (42, 5)  # what the round trip and judge took


class BurnCpu(Stage):
    """Spends 0.2 CPU seconds per batch in a worker thread, as a stage waiting on an engine's client would."""

    name = "burn"
    input_type = output_type = PageWindow
    resources = Resources(batch_size=2, batches_in_flight=3)

    async def process_batch_async(self, records):
        await asyncio.to_thread(burn, 0.2)
        return records


def burn(cpu_s):
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass


def test_batches_in_flight_at_once_share_the_cpu_without_counting_it_twice():
    stage = BurnCpu()
    batches = [[PageWindow(f"{b}-{i}.pdf") for i in range(2)] for b in range(3)]

    async def overlapped():
        return await asyncio.gather(*(stage.stream_async(batch) for batch in batches))

    before = cpu_seconds()
    outputs = [w for batch in asyncio.run(overlapped()) for w in batch]
    spent = cpu_seconds() - before
    charged = sum(c.cpu_s for w in outputs for c in w.costs)
    assert len(outputs) == 6 and all([c.stage for c in w.costs] == ["burn"] for w in outputs)
    # Each batch's span covers the others' burning: counted per batch, the CPU would be charged about 3 times.
    assert 3 * 0.2 <= charged <= spent
