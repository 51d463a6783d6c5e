"""End to end: `make dataset` through Ray with the real vLLM engine on CPU; the local runner, a run killed
with SIGKILL and resumed, and a regeneration with another prompt beside it.

Inputs: the generated sample corpus plus two bad files. Greedy sampling, so every way of producing the
dataset must write the same rows. Each run starts a real engine (about a minute on 2 cores).
"""

import hashlib
import json
import shutil
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from docqa.generate.prompts import PROMPT_SETS
from tests.conftest import ROOT, kill_after_commits, load_fresh

pytestmark = pytest.mark.engine

# Greedy decoding, one prompt in the engine at a time, no prefix cache: the engine's CPU kernels make even
# greedy text depend on which prompts share a step and on what the prefix cache holds from earlier prompts,
# so every run here computes alike and must write the same rows.
GREEDY = ["sampling.temperature=0", "model.batch_size=1", "model.batches_in_flight=1",
          "model.engine_kwargs.enable_prefix_caching=false"]


@pytest.fixture(scope="module")
def inputs(sample_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for pdf in sample_corpus:
        shutil.copy(pdf, folder / pdf.name)
    (folder / "truncated.pdf").write_bytes((folder / "report.pdf").read_bytes()[:2000])
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    return folder


def cli(inputs, out, *overrides):
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(inputs), "--output", str(out)]
    return command + [arg for o in GREEDY + list(overrides) for arg in ("--set", o)]


def run(command):
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def rows(out):
    """Every row of every split, images left out, in a stable order."""
    splits = load_fresh(out)
    return sorted(
        (split, r["id"], r["doc_id"], r["pages"], r["prompt_id"], json.dumps(r["texts"]))
        for split, ds in splits.items()
        for r in ds.remove_columns("images")
    )


@pytest.fixture(scope="module")
def ray_output(inputs, tmp_path_factory, embedded_model):
    folder = tmp_path_factory.mktemp("ray")
    done = subprocess.run(
        # The output named as an fsspec URL: built in a staging folder, then uploaded there.
        ["make", "dataset", f"INPUT={inputs}", f"OUTPUT=file://{folder / 'dataset'}",
         f"SET={' '.join(GREEDY)} output.cache_dir={folder / 'cache'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder / "dataset", done.stdout + done.stderr


@pytest.fixture(scope="module")
def local_output(inputs, tmp_path_factory, embedded_model):
    out = tmp_path_factory.mktemp("local") / "dataset"
    run(cli(inputs, out, "run.runner=local", "output.cache_dir="))
    return out


def test_dataset_loads_with_images_and_provenance(ray_output):
    out, _ = ray_output
    splits = load_fresh(out)
    assert sum(len(ds) for ds in splits.values()) >= 1
    for ds in splits.values():
        assert isinstance(ds.features["images"].feature, datasets.Image)
        for row in ds:
            assert 1 <= len(row["images"]) == len(row["pages"]) <= 4
            assert row["texts"] and all(t["user"] and t["assistant"] for t in row["texts"])
            assert row["prompt_id"] in PROMPT_SETS["docmatix-completion"] and len(row["prompt_sha256"]) == 64
            assert row["model"].startswith("google/gemma-3-270m") and row["temperature"] == 0
            assert row["images"][0].size == (1240, 1755)


def test_every_input_is_in_the_dataset_or_rejected_with_a_reason(ray_output, inputs):
    out, _ = ray_output
    in_dataset = {source for ds in load_fresh(out).values() for source in ds["source_path"]}
    rejects = pq.read_table(out / "rejects").to_pylist()  # one file per part of the dataset that has rejects
    reasons = {r["source_path"].rsplit("/", 1)[-1]: (r["stage"], r["reason"]) for r in rejects}
    assert reasons["notes.pdf"] == ("load", "not a PDF (no %PDF header)")
    assert reasons["truncated.pdf"][0] == "load"
    assert {str(p) for p in inputs.iterdir()} <= in_dataset | {r["source_path"] for r in rejects}
    assert all(r["reason"] for r in rejects)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == stats["documents"] == 6
    assert stats["documents_in_dataset"] + stats["documents_rejected"] == 6
    assert stats["finish_reasons"] and stats["output_tokens"] > 0
    assert not (out.parent / ".dataset.work").exists()  # the work units are gone once published


def test_run_metadata_is_saved_next_to_the_data(ray_output):
    out, log = ray_output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["sampling"]["temperature"] == 0 and config["run"]["runner"] == "ray"
    card = (out / "README.md").read_text()
    assert all(prompt_id in card for prompt_id in PROMPT_SETS["docmatix-completion"]) and "dataset_info" in card
    assert len(log.replace("\r", "\n").splitlines()) < 40 and "Traceback" not in log  # the console, for people
    logs = next(line.split(": ", 1)[1] for line in log.splitlines() if line.startswith("Ray's and vLLM's logs: "))
    assert "MapBatches(GenerateQA)" in (ROOT / logs).read_text()  # Ray's progress, per stage, in the log file


def test_local_runner_writes_the_same_rows_as_ray(ray_output, local_output):
    assert rows(local_output) == rows(ray_output[0])


def test_a_run_killed_mid_generation_resumes_to_the_same_rows(inputs, ray_output, tmp_path):
    """SIGKILL to the whole process group (the run and its engine) once some inputs are committed.

    The local runner hands over each window as soon as it is generated (Ray hands over whole blocks), so
    the kill lands between two inputs of a run that is still generating.
    """
    out = tmp_path / "dataset"
    command = cli(inputs, out, "run.runner=local", f"output.cache_dir={tmp_path / 'cache'}")
    committed = kill_after_commits(command, tmp_path / ".dataset.work", 3, tmp_path / "first.log", 600)
    assert 3 <= len(committed) < 6, (tmp_path / "first.log").read_text()[-3000:]
    assert not out.exists()  # nothing was published by the killed run

    log = run(command)
    assert f"Resuming: {len(committed)} input(s) already done" in log
    assert rows(out) == rows(ray_output[0])


def test_a_failed_upload_keeps_the_work_and_a_rerun_only_uploads(inputs, tmp_path, embedded_model):
    """The output URL cannot be written when the run ends (its parent is a file): the built dataset and the
    committed work stay in the staging folder, and once the URL is writable the same command uploads."""
    shutil.copy(inputs / "invoice.pdf", tmp_path / "invoice.pdf")  # one page: one engine start, one window
    blocked = tmp_path / "bucket"
    blocked.write_text("not a folder")
    command = cli(tmp_path / "invoice.pdf", f"file://{blocked}/dataset", "run.runner=local", "output.cache_dir=",
                  f"output.staging_dir={tmp_path / 'staging'}")
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"uploading to file://{blocked}/dataset failed" in first.stderr and "run the same command again" in first.stderr

    blocked.unlink()
    log = run(command)
    assert "Resuming: 1 input(s) already done, 0 to go" in log
    # Uploaded, then the staging copy and the work removed; the run's log stays, beside where it was built.
    assert [p.suffix for p in (tmp_path / "staging").iterdir()] == [".log"]
    stats = json.loads((blocked / "dataset" / "stats.json").read_text())
    assert stats["documents_in_dataset"] + stats["documents_rejected"] == 1 and (blocked / "dataset" / "README.md").exists()


def test_regenerating_with_another_prompt_renders_nothing(inputs, ray_output):
    """Same inputs and page cache as the first run, another prompt: only prompt -> LLM -> filter -> shards run."""
    first, _ = ray_output
    out = first.parent / "regenerated"
    run(cli(inputs, out, f"output.cache_dir={first.parent / 'cache'}", "prompt.templates=[docmatix-qa-completion-v1]"))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pages_rendered"] == 0 and stats["texts_extracted"] == 0 and stats["pages_from_cache"] > 0
    first_stats = json.loads((first / "stats.json").read_text())
    assert stats["pages_from_cache"] == first_stats["pages_rendered"] and first_stats["texts_extracted"] > 0
    prompt = ROOT / "prompts" / "docmatix-qa-completion-v1.yaml"
    regenerated = rows(out)
    assert regenerated and {r[4] for r in regenerated} == {"docmatix-qa-completion-v1"}
    sha = {row["prompt_sha256"] for ds in load_fresh(out).values() for row in ds.remove_columns("images")}
    assert sha == {hashlib.sha256(prompt.read_bytes()).hexdigest()}
    # Rows line up with the first run's: the same window has the same id whatever the prompt.
    first_ids = {(r[2], tuple(r[3])): r[1] for r in rows(first)}
    regenerated_ids = {(r[2], tuple(r[3])): r[1] for r in regenerated}
    shared = first_ids.keys() & regenerated_ids.keys()
    assert shared and all(first_ids[k] == regenerated_ids[k] for k in shared)
