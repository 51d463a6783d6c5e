"""The run's cost: each stage measures what it spends on its records (real PDFs through the real load stage,
whose rendering happens in a child process), and the stats price it."""

import time

import pytest

from docqa.config import CostConfig, InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.stats import Stats
from docqa.records import AnnotatedWindow, QAPair, SourceDocument, StageCost


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
    stats.add(window)
    cost = stats.cost(CostConfig(cpu_hour=0.1, gpu_hour=2.0, currency="EUR"))
    assert cost["cpu_seconds_by_stage"] == {"load": 1800, "generate": 1800} and cost["gpu_seconds"] == 3600
    assert cost["total"] == pytest.approx(0.1 + 2.0) and cost["per_1000_kept_pairs"] == pytest.approx(2.1 / 2 * 1000)
    assert (cost["prompt_tokens"], cost["output_tokens"], cost["prices"]["currency"]) == (3, 7, "EUR")
