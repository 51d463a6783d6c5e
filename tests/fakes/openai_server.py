"""A stand-in for an OpenAI-compatible server (stdlib http.server on 127.0.0.1), for the answers a real
server cannot be made to give on demand: a refused API key, a wrong URL, another model served.

`FakeEndpoint(status=401)` answers every request with that status; with status 200 it lists `models` at
/models and answers every /completions with `completion`, or with what `script(body)` returns for the
request's JSON body (scripted replies: a judge's scores, a round-trip answer). Use it as a context
manager; `url` is its base.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from tests.fakes.json_http import JSONHandler


class FakeEndpoint:
    def __init__(
        self,
        status: int = 200,
        models: tuple[str, ...] = ("served",),
        completion: str = '{"pairs": []}',
        script: Callable[[dict], str] | None = None,
    ):
        self.script = script
        self.status = status
        self.models = models
        self.completion = completion
        self.requests: list[str] = []  # "GET /v1/models", ...

    def __enter__(self) -> FakeEndpoint:
        endpoint = self

        class Handler(JSONHandler):
            def do_GET(self):
                endpoint.requests.append(f"GET {self.path}")
                self._answer({"object": "list", "data": [{"id": m, "object": "model"} for m in endpoint.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                endpoint.requests.append(f"POST {self.path}")
                text = endpoint.script(body) if endpoint.script else endpoint.completion
                self._answer({"choices": [{"text": text, "finish_reason": "stop"}], "usage": {"completion_tokens": 5}})

            def _answer(self, body: dict) -> None:
                self.send_json(endpoint.status, body if endpoint.status == 200 else {"error": f"planned {endpoint.status}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
