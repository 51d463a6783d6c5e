"""The endpoint backend against a real OpenAI-compatible server: vLLM's own API server on the CPU with the
embedded model, behind a proxy that fails requests on purpose to exercise the retries. What a real
server cannot be made to answer on demand (a refused key, a wrong URL, another model) comes from
`tests.fakes.openai_server`."""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from docqa.config import load_config
from docqa.generate.answer import response_schema
from docqa.generate.endpoint import EndpointGenerateQA, EndpointUnavailable
from docqa.generate.prompts import load_templates
from docqa.generate.vllm_engine import STRUCTURED_OUTPUTS
from docqa.records import PromptedWindow, SourceDocument
from docqa.runtime.plan import build_plan
from tests.conftest import ROOT, free_port, wait_until_served
from tests.fakes.openai_server import FakeEndpoint


def config(**model):
    overrides = [f"prompt.directory={ROOT / 'prompts'}", "sampling.temperature=0", "output.cache_dir=null"]
    overrides += [f"model.{key}={json.dumps(value)}" for key, value in model.items()]
    return load_config(ROOT / "configs" / "default.yaml", overrides)


def test_an_unreachable_endpoint_stops_the_batch_instead_of_rejecting_its_windows():
    """Nothing is recorded as done, so a rerun once the server is up resumes these windows."""
    cfg = config(endpoint=f"http://127.0.0.1:{free_port()}/v1", endpoint_model="m", endpoint_retries=2, endpoint_backoff_s=0.01)
    stage = EndpointGenerateQA("m", cfg.model, cfg.sampling, response_schema(4))
    with pytest.raises(EndpointUnavailable, match="failed 3 times .*run again to resume"):
        stage([PromptedWindow("a.pdf", "id", 1, 0, [0], prompt_token_ids=[2, 3])])


def dataset_command(tmp_path, pdf, model_dir, endpoint, *settings, api_key=None):
    """`python -m docqa dataset` on one PDF, as a user runs it; returns (exit code, stderr lines)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"PYTHONPATH": str(ROOT)}
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(pdf), "--output", str(tmp_path / "ds")]
    for setting in ("run.runner=local", "text.ocr=false", "output.cache_dir=null", f"model.cache_dir={model_dir}",
                    f"model.endpoint={endpoint}", *settings):
        command += ["--set", setting]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stderr.splitlines()


@pytest.mark.parametrize(
    ("status", "models", "settings", "api_key", "expected"),
    [
        (401, (), [], None, "error: the endpoint wants an API key (HTTP 401: "),
        (401, (), ["model.endpoint_model=served"], "wrong", "error: the endpoint refused the API key in $OPENAI_API_KEY"),
        (404, (), ["model.endpoint_model=served"], None, "error: http://127.0.0.1:"),
        (200, ("other",), ["model.endpoint_model=served"], None, "error: http://127.0.0.1:"),
    ],
    ids=["401-no-model-named", "401-model-named", "404", "model-not-served"],
)
def test_an_endpoint_that_no_window_can_get_past_stops_the_run_with_one_line(
    tmp_path, sample_corpus, embedded_model, status, models, settings, api_key, expected
):
    """Before, a 401 with a model named made every window a reject and the run exited 0; without one,
    the /models request died with a traceback."""
    with FakeEndpoint(status, models or ("served",)) as endpoint:
        code, stderr = dataset_command(tmp_path, sample_corpus[0], Path(embedded_model).parent, endpoint.url, *settings,
                                       api_key=api_key)
    errors = [line for line in stderr if line.startswith("error: ")]
    assert (code, len(errors)) == (3, 1), stderr[-20:]
    assert errors[0].startswith(expected) and not any("Traceback" in line for line in stderr)
    fix = {401: "; set OPENAI_API_KEY to ", 404: "; check model.endpoint ", 200: "serves other, not served; set "}
    assert fix[status] in errors[0]
    assert not (tmp_path / "ds").exists()


class FlakyProxy(BaseHTTPRequestHandler):
    """Forwards to the real server; the first completions requests get the planned failures."""

    upstream = ""
    failures: list[str] = []
    completions = 0

    def do_GET(self):
        self._forward(None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        with LOCK:
            cls.completions += 1
            failure = cls.failures.pop(0) if cls.failures else None
        if failure == "drop":  # the connection closes without an answer
            self.close_connection = True
            return
        if failure:
            self.send_response(int(failure))
            self.end_headers()
            self.wfile.write(b'{"error": "planned failure"}')
            return
        self._forward(body)

    def _forward(self, body):
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                status, payload = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


LOCK = threading.Lock()


@pytest.fixture(scope="module")
def server(embedded_model, tmp_path_factory):
    """vLLM's OpenAI-compatible server, started as a user would, and the flaky proxy in front of it."""
    cfg = config()
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", embedded_model,
        "--served-model-name", "embedded", "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", str(cfg.model.max_model_len), "--enforce-eager", "--dtype", "bfloat16",
        "--structured-outputs-config", json.dumps(STRUCTURED_OUTPUTS),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **cfg.model.env})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_served(url + "/models", 300, lambda: log.read_text()[-3000:], alive=lambda: process.poll() is None)
        FlakyProxy.upstream = f"http://127.0.0.1:{port}"
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), FlakyProxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{proxy.server_address[1]}/v1"
        proxy.shutdown()
    finally:
        process.terminate()
        process.wait(60)


def prompted_windows(cfg, model_path, sample_corpus):
    templates = load_templates(cfg.prompt.directory, cfg.prompt.templates)
    load, prompt, *_ = build_plan(cfg, templates, model_path, "label").stages
    return prompt(load([SourceDocument(str(p)) for p in sample_corpus]))


@pytest.mark.engine
def test_endpoint_generation_retries_failures_and_records_a_refused_request_on_its_row(server, embedded_model, sample_corpus):
    cfg = config(endpoint=server, endpoint_backoff_s=0.2)
    windows = prompted_windows(cfg, embedded_model, sample_corpus)
    too_long = PromptedWindow("long.pdf", "x" * 64, 1, 0, [0], prompt_token_ids=[2] + [100] * 2000)
    FlakyProxy.failures, FlakyProxy.completions = ["503", "drop", "429"], 0
    stage = EndpointGenerateQA("embedded via endpoint", cfg.model, cfg.sampling, response_schema(cfg.sampling.max_pairs))
    generated = stage(windows + [too_long])
    assert FlakyProxy.completions == len(windows) + 1 + 3  # each planned failure cost one retry
    *ok, refused = generated
    assert (refused.error.stage, refused.error.kind) == ("generate", "request_refused")
    assert refused.error.reason.startswith("the endpoint refused the request (HTTP 400")
    assert [w.error for w in ok] == [None] * len(windows)
    assert all(w.output_tokens > 0 and w.model == "embedded via endpoint" for w in ok)
    assert all(json.loads(w.completion)["pairs"] is not None for w in ok if w.finish_reason == "stop")


@pytest.mark.engine
def test_a_whole_run_through_the_endpoint(server, tmp_path, sample_corpus):
    from docqa.run import run_pipeline

    cfg = config(endpoint=server)
    cfg.input.paths = [str(p) for p in sample_corpus]
    cfg.output.dir = str(tmp_path / "dataset")
    cfg.run.runner = "local"
    stats = run_pipeline(cfg)
    assert stats["documents"] == len(sample_corpus) and stats["inputs"] == len(sample_corpus)
    assert sum(stats["finish_reasons"].values()) == stats["examples"] + stats["windows_rejected"]
    assert (tmp_path / "dataset" / "stats.json").is_file()
