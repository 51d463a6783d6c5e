"""`make dataset` on a real multi-node Ray cluster started on this machine: submitted as a Ray job, with
the worker node that runs the LLM engine removed mid-generation and a replacement node joining, as an
autoscaler would bring one. Ray restarts the engine actor there and retries the batches it held, and the
dataset still accounts for every input."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_until_served


def test_the_job_gets_the_same_settings_with_shared_paths_made_absolute(tmp_path, monkeypatch):
    from docqa.config import load_config
    from docqa.runtime.submit import job_arguments

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    inputs = "[pdfs, s3://bucket/more, '@lists/inputs.txt', '~/scans']"
    overrides = ["output.dir=out/ds", f"input.paths={inputs}", "sampling.temperature=0"]
    config = load_config(ROOT / "configs/default.yaml", overrides)
    arguments, secret = job_arguments(str(ROOT / "configs/default.yaml"), config, overrides)
    assert secret == []
    job = load_config(arguments[1], [a for a in arguments[2:] if a != "--set"])
    assert job.output.dir == str(tmp_path / "out/ds")
    assert job.input.paths == [
        str(tmp_path / "pdfs"), "s3://bucket/more", f"@{tmp_path / 'lists/inputs.txt'}", str(tmp_path / "home/scans")
    ]
    assert job.sampling.temperature == 0
    assert Path(job.model.cache_dir).is_absolute()


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    dashboard = free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard},
    )
    worker = cluster.add_node(num_cpus=2)
    address = f"http://127.0.0.1:{dashboard}"
    # With token authentication or without: Ray 2.60's first local `ray.init()` in this process (an earlier
    # test's) sets RAY_AUTH_MODE=token here, and the cluster, the job client and `make dataset` inherit it.
    wait_until_served(address + "/api/version", 120, lambda: "the Ray dashboard did not come up")
    yield cluster, worker, address
    import ray

    ray.shutdown()
    cluster.shutdown()


def engine_on(node) -> bool:
    from ray.util.state import list_actors

    actors = list_actors(filters=[("class_name", "=", "MapWorker(MapBatches(GenerateQA))"), ("state", "=", "ALIVE")])
    return any(actor.node_id == node.node_id for actor in actors)


@pytest.mark.engine
def test_make_dataset_runs_as_a_ray_job_and_survives_losing_a_worker_node(cluster, tmp_path, sample_corpus):
    import ray

    ray_cluster, worker, address = cluster
    ray.init(address=ray_cluster.address)
    inputs = tmp_path / "pdfs"
    inputs.mkdir()
    for path in sample_corpus:
        shutil.copy(path, inputs / path.name)
    out = tmp_path / "dataset"
    # The engine (1.5 CPUs) fits only on the 2-CPU worker node; loading and prompting share the 1-CPU head.
    # A small object-store budget: the DAG must still finish, pausing loading while blocks are in flight.
    # run.verbose: vLLM's lines stay in the job's streamed logs (instead of the run's log file), to watch for.
    settings = "run.load_workers=2 run.object_store_mb=256 model.num_cpus=1.5 output.cache_dir=null sampling.temperature=0 run.verbose=true"
    job = subprocess.Popen(
        ["make", "--no-print-directory", "dataset", f"INPUT={inputs}", f"OUTPUT={out}", f"SET={settings}"],
        cwd=ROOT, env={**os.environ, "RAY_ADDRESS": address}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    log, removed = [], False
    for line in job.stdout:
        log.append(line)
        # vLLM logs its KV cache size once the engine is ready; a few seconds later it is generating.
        if not removed and "Maximum concurrency for" in line and engine_on(worker):
            time.sleep(5)
            ray_cluster.remove_node(worker, allow_graceful=False)  # killed: the engine dies mid-generation
            ray_cluster.add_node(num_cpus=2)
            removed = True
    assert job.wait(600) == 0, "".join(log[-60:])
    text = "".join(log)
    (tmp_path / "job.log").write_text(text)
    assert removed, "the engine never ran on the worker node"
    assert text.count("Maximum concurrency for") >= 2, "the engine actor was not restarted on the new node"
    assert "Submitted Ray job raysubmit_" in text and "SUCCEEDED" in text
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == len(sample_corpus) == stats["documents"]
    assert stats["documents_in_dataset"] + stats["documents_rejected"] == len(sample_corpus)
    assert stats["rejects_by_stage"].get("pipeline", 0) == 0  # no input lost
