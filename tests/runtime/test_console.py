"""What a person sees when a run ends: `python -m docqa dataset` as a user starts it, through real Ray, with
the real tokenizer and PDFs. The LLM is a stub OpenAI-compatible server answering every prompt with the same
two pairs, since what is checked is the console and the log file, not what a model writes."""

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from docqa.output.hub import folder_files
from docqa.output.summary import summary
from tests.conftest import ROOT
from tests.fakes.json_http import JSONHandler

PAIRS = {
    "pairs": [
        {"question": "What is the invoice number?", "answer": "INV-2024-0187"},
        {"question": "Which colour is the sky over the office?", "answer": "Purple with yellow dots"},
    ]
}


class StubModel(JSONHandler):
    def do_GET(self):
        self._answer({"data": [{"id": "stub"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(
            {"choices": [{"text": json.dumps(PAIRS), "finish_reason": "stop"}], "usage": {"completion_tokens": 40}}
        )

    def _answer(self, body):
        self.send_json(200, body)


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.fixture
def inputs(sample_corpus, tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    invoice = next(p for p in sample_corpus if p.name == "invoice.pdf")
    (folder / "invoice.pdf").write_bytes(invoice.read_bytes())
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    return folder


def dataset(inputs, out, endpoint, *options):
    command = [
        sys.executable,
        "-m",
        "docqa",
        "dataset",
        "--input",
        str(inputs),
        "--output",
        str(out),
        *options,
        "--set",
        f"model.endpoint={endpoint}",
        "--set",
        "model.endpoint_retries=0",
        "--set",
        "output.cache_dir=",
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_console_shows_progress_and_a_summary_and_the_log_keeps_the_rest(
    inputs, tmp_path, endpoint, embedded_model
):
    out = tmp_path / "out" / "invoices"
    # The model's pairs alone: the invoice's own label/value lines would add pairs of their own.
    done = dataset(inputs, out, endpoint, "--set", "qa.generators=[llm]")
    console = done.stdout + done.stderr
    assert done.returncode == 0, console
    log = tmp_path / "out" / "invoices.log"
    assert f"Ray's and vLLM's logs: {log}" in done.stdout and f"  log        {log}" in done.stdout
    assert "1 document(s) in the dataset, 1 rejected (load: not a PDF 1)" in done.stdout
    assert "  QA pairs   2 generated: 1 kept, 1 dropped (ungrounded 1)" in done.stdout
    assert f"Next: make view OUTPUT={out}" in done.stdout and f"make push OUTPUT={out} REPO=" in done.stdout
    assert len(console.replace("\r", "\n").splitlines()) < 25 and "Traceback" not in console and "INFO" not in console
    cost = json.loads((out / "stats.json").read_text())["cost"]
    assert set(cost["cpu_seconds_by_stage"]) == {"load", "prompt", "generate", "parse"} and cost["cpu_seconds"] > 0
    assert f"  cost       {cost['cpu_seconds']:,.1f} CPU seconds (load " in done.stdout and "per 1,000 kept pairs" in done.stdout
    text = log.read_text()
    assert "Started a local Ray instance" in text and "MapBatches(EndpointGenerateQA)" in text  # Ray's own output
    assert not any(name.endswith(".log") for name in folder_files(out).files)


def test_a_run_that_stops_says_why_in_one_line_and_keeps_the_traceback_in_the_log(inputs, tmp_path, embedded_model):
    out = tmp_path / "dataset"
    done = dataset(inputs, out, "http://127.0.0.1:9/v1", "--set", "run.runner=local")  # nothing listens on port 9
    assert done.returncode == 3, done.stdout + done.stderr  # a systemic fault: no window can get past it
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stderr.startswith("error: http://127.0.0.1:9/v1/models failed ")
    assert done.stderr.rstrip().endswith("check that the server is up, then run again to resume")
    assert "Traceback" in (tmp_path / "dataset.log").read_text()


class SlowModel(StubModel):
    asked = threading.Event()  # the run has reached generation

    def do_POST(self):
        SlowModel.asked.set()
        time.sleep(2)
        super().do_POST()


def test_ctrl_c_says_how_to_resume_in_one_line(inputs, tmp_path, embedded_model):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(inputs), "--output", str(tmp_path / "dataset"),
               "--set", f"model.endpoint=http://127.0.0.1:{server.server_port}/v1", "--set", "output.cache_dir=",
               "--set", "run.runner=local"]
    # A process inherits an ignored SIGINT (an earlier test's child may have left it ignored here), and Python
    # then never raises KeyboardInterrupt: start the run as a terminal would, with Ctrl-C in force.
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert SlowModel.asked.wait(300), "the run never asked the model"  # interrupted mid-generation, not in set-up
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    server.shutdown()
    assert run.returncode == 130, (out, err, (tmp_path / "dataset.log").read_text()[-3000:])
    assert err == "interrupted: what finished is kept; run the same command again to resume\n" and "Traceback" not in out


def test_verbose_leaves_the_logs_on_the_console(inputs, tmp_path, endpoint, embedded_model):
    done = dataset(inputs, tmp_path / "dataset", endpoint, "--verbose", "--set", "run.runner=local")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "dataset.log").exists() and "Done in" in done.stdout and "  log  " not in done.stdout


def test_the_summary_names_the_top_reasons_and_the_next_commands():
    stats = {
        "wall_seconds": 95.2,
        "cost": {
            "cpu_seconds": 1234.5,
            "cpu_seconds_by_stage": {"load": 34.5, "generate": 1200.0},
            "gpu_seconds": 0.0,
            "prices": {"cpu_hour": 0.05, "gpu_hour": 2.5, "currency": "USD"},
            "total": 0.017146,
            "per_1000_kept_pairs": 3.429167,
        },
        "inputs": 9,
        "documents_in_dataset": 3,
        "documents_rejected": 6,
        "rejects_by_reason": {
            "load: not a PDF (no %PDF header)": 2,
            "load: not a PDF (empty file)": 1,
            "filter: no QA pair kept (ungrounded: 2)": 2,
            "load: encrypted": 1,
            "load: timed out": 1,
        },
        "examples": 4,
        "examples_per_split": {"train": 4},
        "pages": 7,
        "qa_generated": 12,
        "qa_kept": 5,
        "qa_dropped_by_reason": {"ungrounded": 6, "repetitive": 1},
        "prompt_tokens": 12345,
        "output_tokens": 678,
    }
    text = summary(stats, "out/dataset", None)
    assert text.splitlines()[:6] == [
        "Done in 1 min 35 s.",
        "  inputs     9: 3 document(s) in the dataset, 6 rejected (load: not a PDF 3, filter: no QA pair kept 2, load: encrypted 1, other 1)",
        "  examples   4 (train 4), 7 page(s)",
        "  QA pairs   12 generated: 5 kept, 7 dropped (ungrounded 6, repetitive 1)",
        "  tokens     12,345 in, 678 out",
        "  cost       1,234.5 CPU seconds (load 34.5, generate 1,200.0) and 0.0 GPU seconds: 0.0171 USD at 0.05 per "
        "CPU-hour and 2.5 per GPU-hour, 3.4292 per 1,000 kept pairs",
    ]
    assert "Next: make view   " in text and "make push REPO=" in text
    assert "make view" not in summary(stats, "s3://bucket/ds", None)  # both read a local folder
