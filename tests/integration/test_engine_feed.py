"""The engine is kept fed: one engine holds several batches at once, through Ray's actor and through the
local runner, and stats.json says when it became ready and how busy it was. Each run starts a real engine."""

import json
from pathlib import Path

import pytest

from docqa.config import load_config
from docqa.run import run_pipeline
from tests.conftest import ROOT

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("runner", ["ray", "local"])
def test_one_engine_holds_several_batches_at_once_and_the_stats_say_how_busy_it_was(
    runner, tmp_path, sample_corpus, embedded_model
):
    overrides = [
        f"input.paths={json.dumps([str(p) for p in sample_corpus])}",
        f"output.dir={tmp_path / 'dataset'}",
        "output.cache_dir=null",
        f"model.cache_dir={Path(embedded_model).parent}",
        f"run.runner={runner}",
        "model.batch_size=1",
        "model.batches_in_flight=3",
        "sampling.max_tokens=48",
    ]
    stats = run_pipeline(load_config(ROOT / "configs" / "default.yaml", overrides))
    engine = stats["engine"]
    assert stats["examples"] + stats["windows_rejected"] >= 3  # enough windows for three batches
    assert engine["engines"] == 1
    assert engine["most_requests_at_once"] > 1  # more requests than one batch holds: batches overlapped
    assert 0 < engine["busy_share"] <= 1
    assert engine["ready_after_s"] >= engine["start_s"] > 0
    assert json.loads((tmp_path / "dataset" / "stats.json").read_text())["engine"] == engine
