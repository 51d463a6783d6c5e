"""A content-addressed cache of the CPU stages' output: each document's rendered pages and page texts.

Rendering, text extraction and OCR depend only on a document's bytes and the settings that shape them,
so their output is keyed by both: `<cache>/<settings key>/<doc_id[:2]>/<doc_id>.parquet`, one Parquet
file per document holding its windows (or its reject). Regenerating with a new prompt or model finds
every document here and renders nothing. The cache lives at any fsspec URL (a folder next to the
outputs by default); an entry appears complete or not at all (written beside its name, then moved).
Outcomes that may not repeat (a timeout, a crashed worker, the memory limit) are not cached. The settings
key is derived from the load stage's config sections, not listed field by field, and also covers the
versions of the libraries that render and encode, the content of the OCR language data and the version
of the rules that read QA pairs off a page (`settings_key`), so an upgrade starts a fresh cache rather
than serving stale pages.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import fsspec
import PIL
import pyarrow.parquet as pq
import pymupdf

from docqa.config import Config
from docqa.ingest.structure import STRUCTURE_RULES
from docqa.ingest.text import language_data_digest
from docqa.records import PageWindow, arrow_schema, from_table, to_table

# The config sections the load stage is built from, and those of their fields that do not change what it
# produces for given bytes. Every other field is in the key, including fields added later.
LOAD_SECTIONS = ("input", "render", "text", "limits")
NOT_SHAPING = {
    # Where documents are found, not what they become (an entry is named by the bytes' hash); a file over
    # max_file_mb is rejected before the cache is asked, and that reject is not stored.
    "input": {"paths", "sample_dir", "max_file_mb"},
    # A document past a limit is never stored, and one within them loads the same under any limits: MuPDF
    # raises a failed allocation rather than drawing less (so it did on the hostile corpus's bombs), and
    # the load stage reports it as the memory limit (see docqa.ingest.isolation).
    "limits": {"document_timeout_s", "document_memory_gb"},
}


def settings_key(config: Config) -> str:
    """Hash of everything that changes what the load stage produces for the same bytes: its config
    sections (less `NOT_SHAPING`; passwords hashed, never stored in clear), the versions of the libraries
    that render and encode, the OCR language data's content when OCR is on, and the record's schema."""
    settings = {
        name: getattr(config, name).model_dump(mode="json", exclude=NOT_SHAPING.get(name)) for name in LOAD_SECTIONS
    }
    settings["input"]["passwords"] = hashlib.sha256(json.dumps(config.input.passwords).encode()).hexdigest()
    settings["software"] = {"pymupdf": pymupdf.VersionBind, "mupdf": pymupdf.mupdf_version, "pillow": PIL.__version__}
    if config.text.ocr:
        settings["ocr_language_data"] = language_data_digest(config.text.ocr_languages)
    settings["record"] = arrow_schema(PageWindow).to_string()  # a changed record makes older entries stale
    settings["structure_rules"] = STRUCTURE_RULES  # as do changed rules for reading pairs off a page
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
