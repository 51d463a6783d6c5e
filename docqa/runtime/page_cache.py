"""A content-addressed cache of the CPU stages' output: each document's rendered pages and page texts.

Rendering, text extraction and OCR depend only on a document's bytes and the settings that shape them,
so their output is keyed by both: `<cache>/<settings key>/<doc_id[:2]>/<doc_id>.parquet`, one Parquet
file per document holding its windows (or its reject). Regenerating with a new prompt or model finds
every document here and renders nothing. The cache lives at any fsspec URL (a folder next to the
outputs by default); an entry appears complete or not at all (written beside its name, then moved).
Outcomes that may not repeat (a timeout, a crashed worker) are not cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import fsspec
import pyarrow.parquet as pq

from docqa.config import Config
from docqa.records import PageWindow, arrow_schema, from_table, to_table


def settings_key(config: Config) -> str:
    """Hash of every setting that changes what the load stage produces for the same bytes."""
    settings = {
        "record": arrow_schema(PageWindow).to_string(),  # a changed record makes older entries stale
        "render": config.render.model_dump(mode="json"),
        "text": config.text.model_dump(mode="json"),
        "max_page_megapixels": config.limits.max_page_megapixels,
        "passwords": hashlib.sha256("\0".join(config.input.passwords).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


class PageCache:
    def __init__(self, url: str, key: str):
        self.root = f"{url.rstrip('/')}/{key}"
        self.fs, self.root_path = fsspec.core.url_to_fs(self.root)

    def _path(self, doc_id: str) -> str:
        return f"{self.root_path}/{doc_id[:2]}/{doc_id}.parquet"

    def get(self, doc_id: str) -> list[PageWindow] | None:
        try:
            with self.fs.open(self._path(doc_id), "rb") as f:
                return from_table(PageWindow, pq.read_table(io.BytesIO(f.read())))
        except FileNotFoundError:
            return None

    def put(self, doc_id: str, windows: list[PageWindow]) -> None:
        path = self._path(doc_id)
        staged = f"{path}.{uuid.uuid4().hex}.tmp"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        buffer = io.BytesIO()
        pq.write_table(to_table(PageWindow, windows), buffer)
        with self.fs.open(staged, "wb") as f:
            f.write(buffer.getvalue())
        self.fs.mv(staged, path)
