"""A plan the Ray cluster cannot seat stops the run before any input is read, naming the settings: on a
local Ray of 2 CPUs, an engine asking 4. Real Ray, the real CLI; the engine is never started."""

import subprocess
import sys

from tests.conftest import ROOT


def test_an_engine_larger_than_the_cluster_stops_the_run_with_exit_code_2(tmp_path, sample_corpus, embedded_model):
    out = tmp_path / "out"
    settings = [f"model.name={embedded_model}", "run.runner=ray", "run.num_cpus=2", "model.num_cpus=4",
                f"output.cache_dir={tmp_path / 'cache'}"]
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(sample_corpus[0]), "--output", str(out)]
    done = subprocess.run([*command, *(a for s in settings for a in ("--set", s))], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: the cluster cannot run every stage at once") and "model.num_cpus" in line, line
    assert not (tmp_path / "cache").exists()  # no document was loaded
    assert not (out / "stats.json").exists()
