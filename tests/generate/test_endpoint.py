"""The endpoint backend against a real OpenAI-compatible server: vLLM's own API server on the CPU with the
embedded model, behind a proxy that fails requests on purpose to exercise the retries."""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docqa.config import load_config
from docqa.generate.answer import response_schema
from docqa.generate.endpoint import EndpointGenerateQA, EndpointUnavailable
from docqa.generate.prompts import load_templates
from docqa.generate.vllm_engine import STRUCTURED_OUTPUTS
from docqa.records import PromptedWindow, SourceDocument
from docqa.runtime.plan import build_plan
from tests.conftest import ROOT, free_port, wait_until_served


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
