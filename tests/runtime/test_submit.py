"""What a Ray job is given by `docqa submit`: built without a cluster, the way `submit` builds it; the job's
side runs the real command line with the pipeline itself replaced by a function that keeps its config."""

import json
import shlex
from pathlib import Path

from docqa.__main__ import main
from docqa.config import load_config
from docqa.runtime.submit import job_spec
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs/default.yaml")
SIGNED = "https://alice:hunter2@bucket.example/corpus/a.pdf?X-Amz-Signature=f00d"


def test_secrets_reach_the_job_but_not_its_command_line_nor_runtime_env(tmp_path, monkeypatch):
    overrides = ["input.passwords=[sesame]", f"input.paths=['{SIGNED}']", "model.env={HF_TOKEN: hf_s3cret}"]
    overrides.append("sampling.temperature=0")
    entrypoint, runtime_env = job_spec(CONFIG, load_config(CONFIG, overrides), overrides, tmp_path)
    shown = entrypoint + json.dumps(runtime_env)  # what the dashboard and `ray job list` show
    assert not [s for s in ("sesame", "hf_s3cret", "hunter2", "f00d") if s in shown]
    assert "--set sampling.temperature=0" in entrypoint  # settings without a secret stay visible

    monkeypatch.syspath_prepend(str(Path(runtime_env["py_modules"][0]).parent))  # as Ray puts py_modules
    received = []
    monkeypatch.setattr("docqa.__main__.build", lambda config: received.append(config) or 0)  # the run it would start
    assert main(shlex.split(entrypoint)[3:]) == 0  # the job's `python -m docqa dataset ...`
    [job] = received
    assert job.input.passwords == ["sesame"] and job.input.paths == [SIGNED]
    assert job.model.env == {"HF_TOKEN": "hf_s3cret"}
    assert job.sampling.temperature == 0 and Path(job.output.dir).is_absolute()


def test_a_job_without_secrets_has_all_its_settings_on_the_command_line(tmp_path):
    overrides = ["sampling.temperature=0", "input.paths=[pdfs]"]
    entrypoint, runtime_env = job_spec(CONFIG, load_config(CONFIG, overrides), overrides, tmp_path)
    assert "py_modules" not in runtime_env and "--shipped-overrides" not in entrypoint
    assert "--set sampling.temperature=0" in entrypoint and "input.paths=" in entrypoint
