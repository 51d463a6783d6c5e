"""A stand-in for the model: an OpenAI-compatible completions server on 127.0.0.1, instant and deterministic.

Tests about what happens around the model (resuming, Ray, accounting) generate through the endpoint
backend (`model.endpoint`) against it instead of starting a real engine. It answers the two requests
`docqa.generate.endpoint` makes:

    GET  /v1/models        one model, `stand-in`
    POST /v1/completions   one choice whose text is valid answer JSON: {"pairs": [{"question", "answer"}]}

The pair depends on the prompt only. The prompt's token ids are decoded with the run's own tokenizer;
the answer is two consecutive words of the prompt's last document, the question names the word before
them, and which words is picked by a hash of the ids. So the same prompt always gets the same text, and
the answer is printed on the page, as the grounding filter wants. With `hold_after=n`, completions after
the first n wait until `release()`: a run cannot finish before a test has killed it midway, however fast
or slow the machine. `first_answered` and `last_answered` are when the first and the latest completion
were sent (`time.monotonic()`), for the scale benchmark (`bench/scale.py`), which uses the stand-in as a load
generator. Not a model: sampling, the response schema and max_tokens are ignored.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from tokenizers import Tokenizer

from tests.fakes.json_http import JSONHandler

MODEL_ID = "stand-in"


def stand_in_pairs(prompt: str, ids: list[int]) -> list[dict[str, str]]:
    """The pair answered for a prompt: words copied from its last document, chosen by the ids' hash."""
    document = prompt.rpartition("Document:")[2].strip().splitlines()[:-1]  # the last line is the cue
    words = " ".join(document).split()
    if len(words) < 3:
        return []
    start = int.from_bytes(hashlib.sha256(json.dumps(ids).encode()).digest()[:8]) % (len(words) - 2)
    return [{"question": f'Which words follow "{words[start]}" here?', "answer": " ".join(words[start + 1 : start + 3])}]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed client is what some tests do
            super().handle_error(request, client_address)


class StandInModel:
    """`with StandInModel(tokenizer_json) as model:` serves at `model.url` until the block ends."""

    def __init__(self, tokenizer_json: Path, hold_after: int | None = None):
        self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self.hold_after = hold_after
        self.released = threading.Event()
        self.completions = 0  # answered or being held
        self.first_answered: float | None = None
        self.last_answered: float | None = None
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[JSONHandler]:
        model = self

        class Handler(JSONHandler):
            def do_GET(self):
                if self.path == "/v1/models":
                    return self.send_json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
                self.send_json(404, {"error": f"no route {self.path}"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions":
                    return self.send_json(404, {"error": f"no route {self.path}"})
                ids = body["prompt"]
                pairs = stand_in_pairs(model.tokenizer.decode(ids, skip_special_tokens=True), ids)
                with model.lock:
                    model.completions += 1
                    held = model.hold_after is not None and model.completions > model.hold_after
                if held:
                    model.released.wait()
                text = json.dumps({"pairs": pairs})
                usage = {"prompt_tokens": len(ids), "completion_tokens": len(text) // 4}
                self.send_json(200, {"choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": usage})
                with model.lock:
                    model.last_answered = time.monotonic()
                    model.first_answered = model.first_answered or model.last_answered

        return Handler

    def release(self) -> None:
        """Answer the completions held back, and every later one at once."""
        self.released.set()

    def __enter__(self) -> StandInModel:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
