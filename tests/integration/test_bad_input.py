"""Bad input, as a user gives it to `python -m docqa dataset`: each row is one mistake, the exit code and
the one line that must say what is wrong, and the proof that nothing was lost (the files around are
unchanged, or every input is accounted for in the rejects).

No row needs the engine: a refused run stops before any work, and a run whose inputs are all rejected at
load sets up no later stage.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT

FAST = ["--set", "run.runner=local", "--set", "text.ocr=false"]


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders with the hash of its bytes (a link: where it points)."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else [folder]:
            if path.is_symlink():
                files[str(path)] = f"-> {path.readlink()}"
            elif path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@pytest.fixture
def place(tmp_path, sample_corpus):
    """A working folder: inputs/ with one good PDF, a folder of the user's, a file, an empty folder."""
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "invoice.pdf").write_bytes(next(p for p in sample_corpus if p.name == "invoice.pdf").read_bytes())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("three years of work")
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    return tmp_path


def docqa(place: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "docqa", "dataset", *args, *FAST,
               "--set", f"output.cache_dir={place / 'cache'}", "--set", f"input.sample_dir={place / 'samples'}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


REFUSED = [
    # (what the user did, arguments, exit code, what the one line must say)
    ("missing input", ["--input", "{place}/nope.pdf", "--output", "{place}/out"], 2, "neither a file, a folder nor a glob"),
    ("empty folder", ["--input", "{place}/empty", "--output", "{place}/out"], 2, "no PDF found"),
    ("unknown config key", ["--input", "{place}/inputs", "--output", "{place}/out", "--set", "render.dpii=100"], 2,
     "render.dpii: unknown field"),
    ("invalid value", ["--input", "{place}/inputs", "--output", "{place}/out", "--set", "render.dpi=-3"], 2,
     "render.dpi: Input should be greater than 0"),
    ("unknown prompt id", ["--input", "{place}/inputs", "--output", "{place}/out", "--set", "prompt.templates=[nope-v1]"],
     2, "unknown prompt or prompt set nope-v1"),
    ("OUTPUT is the input folder", ["--input", "{place}/inputs", "--output", "{place}/inputs", "--overwrite"], 2,
     "is an input"),
    ("OUTPUT is a folder docqa did not write", ["--input", "{place}/inputs", "--output", "{place}/mine"], 2,
     "did not write"),
    ("OUTPUT is a file", ["--input", "{place}/inputs", "--output", "{place}/a-file"], 2, "not a folder"),
]


@pytest.mark.parametrize("mistake, arguments, code, message", REFUSED, ids=[row[0] for row in REFUSED])
def test_a_refused_run_says_why_in_one_line_and_touches_nothing(place, mistake, arguments, code, message):
    before = snapshot(place)
    done = docqa(place, *(a.format(place=place) for a in arguments))
    assert done.returncode == code, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert snapshot(place) == before  # nothing written, nothing removed


def test_an_unreadable_file_is_a_reject_with_its_reason_and_the_run_goes_on(place):
    inputs = place / "inputs"
    (inputs / "invoice.pdf").unlink()
    (inputs / "ghost.pdf").symlink_to(place / "gone.pdf")  # a link whose file was removed: it cannot be read
    (inputs / "notes.pdf").write_text("meeting notes, not a PDF")
    done = docqa(place, "--input", str(inputs), "--output", str(place / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    rejects = {Path(r["source_path"]).name: r for r in pq.read_table(place / "out" / "rejects").to_pylist()}
    assert set(rejects) == {"ghost.pdf", "notes.pdf"}  # every input accounted for
    assert "cannot read" in rejects["ghost.pdf"]["reason"] and "not a PDF" in rejects["notes.pdf"]["reason"]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux's prlimit to cap file sizes")
def test_a_full_disk_stops_the_run_with_one_line_and_publishes_nothing(place):
    """`prlimit --fsize` makes every write past 3 kB fail as a full disk would (EFBIG, like ENOSPC)."""
    (place / "inputs" / "notes.pdf").write_text("meeting notes, not a PDF")
    (place / "inputs" / "invoice.pdf").unlink()  # rejected at load: no engine, only the writes matter
    before = snapshot(place / "inputs")
    command = ["prlimit", "--fsize=3000", sys.executable, "-m", "docqa", "dataset", "--input", str(place / "inputs"),
               "--output", str(place / "out"), *FAST, "--set", f"output.cache_dir={place / 'cache'}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write") and "run the same command again" in lines[0]
    assert not (place / "out").exists() and snapshot(place / "inputs") == before
