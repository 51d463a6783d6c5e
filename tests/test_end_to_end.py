"""End to end: `make dataset` through Ray with the real vLLM engine on CPU, and the local runner beside it.

Inputs: the generated sample corpus plus two bad files. Greedy sampling, so both runners must write the
same rows. Each run starts a real engine (about a minute on 2 cores).
"""

import json
import shutil
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.engine

GREEDY = "sampling.temperature=0"


@pytest.fixture(scope="module")
def inputs(sample_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for pdf in sample_corpus:
        shutil.copy(pdf, folder / pdf.name)
    (folder / "truncated.pdf").write_bytes((folder / "report.pdf").read_bytes()[:2000])
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    return folder


@pytest.fixture(scope="module")
def ray_output(inputs, tmp_path_factory, embedded_model):
    out = tmp_path_factory.mktemp("ray") / "dataset"
    done = subprocess.run(
        ["make", "dataset", f"INPUT={inputs}", f"OUTPUT={out}", f"SET={GREEDY}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout + done.stderr


@pytest.fixture(scope="module")
def local_output(inputs, tmp_path_factory, embedded_model):
    out = tmp_path_factory.mktemp("local") / "dataset"
    command = [sys.executable, "-m", "pipeline", "dataset", "--input", str(inputs), "--output", str(out),
               "--set", GREEDY, "--set", "run.runner=local"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_dataset_loads_with_images_and_provenance(ray_output):
    out, _ = ray_output
    ds = datasets.load_dataset(str(out), split="train")
    assert isinstance(ds.features["images"].feature, datasets.Image)
    assert len(ds) >= 1
    for row in ds:
        assert 1 <= len(row["images"]) == len(row["pages"]) <= 4
        assert row["texts"] and all(t["user"] and t["assistant"] for t in row["texts"])
        assert row["prompt_id"] == "docmatix-qa-completion-v1" and len(row["prompt_sha256"]) == 64
        assert row["model"].startswith("google/gemma-3-270m") and row["temperature"] == 0
        assert row["images"][0].size == (1240, 1755)


def test_every_input_is_in_the_dataset_or_rejected_with_a_reason(ray_output, inputs):
    out, _ = ray_output
    in_dataset = set(datasets.load_dataset(str(out), split="train")["source_path"])
    rejects = pq.read_table(out / "rejects" / "rejects-00000.parquet").to_pylist()
    reasons = {r["source_path"].rsplit("/", 1)[-1]: (r["stage"], r["reason"]) for r in rejects}
    assert reasons["notes.pdf"] == ("load", "not a PDF (no %PDF header)")
    assert reasons["truncated.pdf"][0] == "load"
    assert {str(p) for p in inputs.iterdir()} <= in_dataset | {r["source_path"] for r in rejects}
    assert all(r["reason"] for r in rejects)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == 6
    assert stats["documents_in_dataset"] + stats["documents_rejected"] == 6
    assert stats["finish_reasons"] and stats["output_tokens"] > 0


def test_run_metadata_is_saved_next_to_the_data(ray_output):
    out, log = ray_output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["sampling"]["temperature"] == 0 and config["run"]["runner"] == "ray"
    card = (out / "README.md").read_text()
    assert "docmatix-qa-completion-v1" in card and "dataset_info" in card
    assert "MapBatches(GenerateQA)" in log  # Ray's progress, per stage


def test_local_runner_writes_the_same_rows_as_ray(ray_output, local_output):
    def rows(out):
        ds = datasets.load_dataset(str(out), split="train").remove_columns("images")
        return sorted((r["doc_id"], r["pages"], json.dumps(r["texts"])) for r in ds)

    assert rows(local_output) == rows(ray_output[0])
