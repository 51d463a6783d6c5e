"""A run through Ray killed with SIGKILL and resumed writes the rows of an uninterrupted run.

The model is a stand-in (`tests/fakes/completions_server.py`) reached through the endpoint backend: this
is about committing, killing and resuming, not about generation, so no engine is started (the tokenizer
is the embedded model's). The stand-in holds back every completion after the fourth, so the run is
killed while it still has work, once at least two inputs are committed, however fast the machine.

Inputs: the four sample PDFs (the report makes two windows), a tar shard of two PDFs and a file that is
not a PDF: six units, of one, two and no completions; or, with PDFs grouped two a unit, four units:
(article, form), (invoice, notes), the shard, (report), of two, one, two and two completions.
"""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest

from docqa.demo.corpus import write_sample_corpus
from tests.conftest import ROOT, kill_after_commits
from tests.fakes.completions_server import StandInModel

pytestmark = pytest.mark.integration


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    write_sample_corpus(folder)
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    with tarfile.open(folder / "notices.tar", "w") as shard:
        for number in (7, 8):
            doc = pymupdf.open()
            doc.new_page().insert_text((72, 72), f"Harbour notice {number}: the Lindholm ferry leaves pier {number - 4} at {number}:15.")
            member = tarfile.TarInfo(f"notice{number}.pdf")
            data = doc.tobytes()
            member.size = len(data)
            shard.addfile(member, io.BytesIO(data))
    return folder


def cli(inputs, out, model, embedded_model, runner, *extra):
    overrides = [
        f"run.runner={runner}",
        f"model.endpoint={model.url}",
        f"model.cache_dir={os.path.dirname(embedded_model)}",
        "model.batch_size=1",
        "run.prompt_batch_size=1",
        "run.load_workers=1",  # one process fewer to start: the inputs are small
        "prompt.templates=[docmatix-qa-completion-v1]",
        "output.cache_dir=null",
        *extra,
    ]
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(inputs), "--output", str(out)]
    return command + [arg for o in overrides for arg in ("--set", o)]


def run(command):
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def written(out):
    """The rows (images left out), the rejects and the statistics of a published dataset."""
    rows = [
        row
        for shard in sorted((out / "data").glob("*.parquet"))
        for row in pq.read_table(shard).drop_columns(["images"]).to_pylist()
    ]
    rejects = sorted(pq.read_table(out / "rejects").to_pylist(), key=json.dumps)
    stats = json.loads((out / "stats.json").read_text())
    # Time, CPU and how the engine was kept busy differ from run to run, and Ray's assembly writes its parts
    # side by side (more shard files than the local runner's one part); the counts may not differ.
    del stats["wall_seconds"], stats["cost"], stats["engine"], stats["shards"]
    return rows, rejects, stats


def test_a_ray_run_killed_with_sigkill_resumes_to_the_rows_of_an_uninterrupted_run(inputs, tmp_path, embedded_model):
    out = tmp_path / "dataset"
    units = tmp_path / ".dataset.work"
    with StandInModel(Path(embedded_model) / "tokenizer.json", hold_after=4) as model:
        command = cli(inputs, out, model, embedded_model, "ray")
        committed = kill_after_commits(command, units, 2, tmp_path / "first.log", 240)
        first_log = (tmp_path / "first.log").read_text()[-3000:]
        assert 2 <= len(committed) < 6, first_log
        assert not out.exists()  # nothing was published by the killed run

        model.release()
        log = run(command)
        assert f"Resuming: {len(committed)} input(s) already done, {6 - len(committed)} to go" in log
        uninterrupted = tmp_path / "uninterrupted"
        run(cli(inputs, uninterrupted, model, embedded_model, "local"))

    rows, rejects, stats = written(out)
    assert (rows, rejects, stats) == written(uninterrupted)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == stats["examples"] == 7  # none lost, none twice
    assert [Path(r["source_path"]).name for r in rejects] == ["notes.pdf"]
    assert (stats["inputs"], stats["documents"], stats["documents_in_dataset"]) == (6, 7, 6)


def test_a_ray_run_of_grouped_pdfs_killed_with_sigkill_resumes_to_the_rows_of_an_uninterrupted_run(inputs, tmp_path, embedded_model):
    """Four completions answered before the kill: whichever windows they go to, one of the four units
    commits (the one with one completion, or one of the others)."""
    out = tmp_path / "dataset"
    grouped = ["run.unit_max_documents=2", "run.unit_min_count=1"]
    with StandInModel(Path(embedded_model) / "tokenizer.json", hold_after=4) as model:
        command = cli(inputs, out, model, embedded_model, "ray", *grouped)
        committed = kill_after_commits(command, tmp_path / ".dataset.work", 1, tmp_path / "first.log", 600)
        assert 1 <= len(committed) < 4, (tmp_path / "first.log").read_text()[-3000:]

        model.release()
        log = run(command)
        done, to_go = map(int, re.search(r"Resuming: (\d+) input\(s\) already done, (\d+) to go", log).groups())
        assert done + to_go == 6 and done >= len(committed)
        uninterrupted = tmp_path / "uninterrupted"
        run(cli(inputs, uninterrupted, model, embedded_model, "local"))

    rows, rejects, stats = written(out)
    assert (rows, rejects, stats) == written(uninterrupted)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == stats["examples"] == 7
    assert [Path(r["source_path"]).name for r in rejects] == ["notes.pdf"]
