"""A content-addressed cache of the CPU stages' output: each document's rendered pages and page texts.

Rendering, text extraction and OCR depend only on a document's bytes and the settings that shape them,
so their output is keyed by both: the entries of a settings key live under `<cache>/<settings key>/`,
each document's windows (or its reject) one row group of a Parquet file holding many documents, so a
corpus of millions makes thousands of files, not millions. Regenerating with a new prompt or model finds
every document here and renders nothing. The cache lives at any fsspec URL (a folder next to the outputs
by default). Outcomes that may not repeat (a timeout, a crashed worker, the memory limit) are not cached
(the load stage does not offer them). The settings key is derived from the load stage's config sections,
not listed field by field, and also covers the versions of the libraries that render, encode and identify
languages, the content of the OCR language data and the version of the rules that read QA pairs off a
page (`settings_key`), so an upgrade starts a fresh cache rather than serving stale pages.

Layout, under the settings key:

- `data/<file>.parquet`: written by one cache object (one load worker) as documents arrive, one row group
  each, and closed after `documents_per_file` documents, `mb_per_file` MiB or `seconds_per_file`
  seconds, whichever comes first, or when the worker ends.
- `index/<file>.parquet`: for each document of a closed data file, a 64-bit key of its doc_id, the data
  file and its row group. Written (beside its name, then moved) only once the data file is closed: an
  entry is complete or absent. A worker killed mid-file leaves a data file that no index names (ignored,
  and safe to delete when no run is writing); the documents in it are loaded again next time.
- Writers never share a file (each names its own by a random id), so any number of load workers, on any
  nodes, write at once. A reader loads the whole index once (16 bytes a document in memory) and reads
  only the row group of the document it looks up. When a reader finds more than `INDEX_PIECES` index
  files it merges them into one, then deletes the pieces it merged; a reader that finds a piece gone
  lists the index again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import time
import uuid
import weakref
from collections import OrderedDict

import fsspec
import numpy as np
import PIL
import pyarrow as pa
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
    that render, encode and identify languages, the OCR language data's content when OCR is on, and the
    record's schema."""
    settings = {
        name: getattr(config, name).model_dump(mode="json", exclude=NOT_SHAPING.get(name)) for name in LOAD_SECTIONS
    }
    settings["input"]["passwords"] = hashlib.sha256(json.dumps(config.input.passwords).encode()).hexdigest()
    settings["software"] = {
        "pymupdf": pymupdf.VersionBind,
        "mupdf": pymupdf.mupdf_version,
        "pillow": PIL.__version__,
        "lingua": importlib.metadata.version("lingua-language-detector"),  # names each window's language
    }
    if config.text.ocr:
        settings["ocr_language_data"] = language_data_digest(config.text.ocr_languages)
    settings["record"] = arrow_schema(PageWindow).to_string()  # a changed record makes older entries stale
    settings["structure_rules"] = STRUCTURE_RULES  # as do changed rules for reading pairs off a page
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


INDEX_PIECES = 64  # index files a reader merges into one, so that loading the index stays a few reads
RECENT_ENTRIES = 50_000  # entries a worker remembers having written since it last read the index
INDEX_SCHEMA = pa.schema([("key", pa.uint64()), ("file", pa.string()), ("row_group", pa.int32())])


def entry_key(doc_id: str) -> int:
    """The 64-bit key a document is indexed by; a lookup checks the doc_id of the row group it reads."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


class PageCache:
    """Entries of one settings key at `url`. Pickles as its location only: each process that unpickles it
    (a Ray actor) opens its own data files and loads the index itself."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        documents_per_file: int = 256,
        mb_per_file: float = 512,
        seconds_per_file: float = 300,
    ):
        self.url, self.key = url, key
        self.limits = (documents_per_file, mb_per_file, seconds_per_file)
        self.root = f"{url.rstrip('/')}/{key}"
        self.fs, self.root_path = fsspec.core.url_to_fs(self.root)
        self._index: _Index | None = None
        self._recent: dict[str, tuple[str, int]] = {}  # committed by this object since its index was loaded
        # The file being written, in a list that the finalizer holds without holding this object: a worker
        # that ends normally (or a process that exits) commits its open file; one that is killed does not.
        self._open: list[_OpenFile | None] = [None]
        weakref.finalize(self, _commit_open, self._open)
        self._footers: OrderedDict[str, pq.FileMetaData] = OrderedDict()

    def __reduce__(self):
        documents, mb, seconds = self.limits
        return _unpickle, (self.url, self.key, documents, mb, seconds)

    def get(self, doc_id: str) -> list[PageWindow] | None:
        """The document's windows, or None when the cache has no complete entry for it."""
        if self._open[0] and doc_id in self._open[0].doc_ids:
            self.commit()  # written by this worker a moment ago: close the file so it can be read
        for file, row_group in self._locations(doc_id):
            table = self._read_row_group(file, row_group)
            if table is not None and table.num_rows and table.column("doc_id")[0].as_py() == doc_id:
                return from_table(PageWindow, table)
        return None

    def put(self, doc_id: str, windows: list[PageWindow]) -> None:
        """Add the document to this worker's open data file; it can be found once that file is committed."""
        if not windows:  # a document always comes out as a window or a reject: nothing to keep
            return
        if self._open[0] is None:
            self._open[0] = _OpenFile(self.fs, self.root_path, uuid.uuid4().hex)
        documents, size, age = self._open[0].add(doc_id, to_table(PageWindow, windows))
        most_documents, most_mb, most_seconds = self.limits
        if documents >= most_documents or size >= most_mb * 2**20 or age >= most_seconds:
            self.commit()

    def commit(self) -> None:
        """Close the open data file and write its index: its documents become entries, all at once."""
        self._recent.update(_commit_open(self._open))
        if len(self._recent) > RECENT_ENTRIES:  # a long-lived worker reads the index afresh rather than grow
            self._index, self._recent = None, {}

    def doc_ids(self) -> set[str]:
        """The documents with a complete entry now, by any writer (reads the index afresh and every data file:
        for tests and inspection)."""
        self.commit()
        found = set()
        for file in {file for file, _ in _Index.load(self.fs, f"{self.root_path}/index").locations()}:
            table = pq.read_table(f"{self.root_path}/data/{file}", columns=["doc_id"], filesystem=self.fs)
            found.update(table.column("doc_id").to_pylist())
        return found

    def _locations(self, doc_id: str) -> list[tuple[str, int]]:
        recent = [self._recent[doc_id]] if doc_id in self._recent else []
        return recent + self._load_index().find(entry_key(doc_id))

    def _load_index(self) -> _Index:
        if self._index is None:
            self._index = _Index.load(self.fs, f"{self.root_path}/index")
        return self._index

    def _read_row_group(self, file: str, row_group: int) -> pa.Table | None:
        path = f"{self.root_path}/data/{file}"
        try:
            with self.fs.open(path, "rb") as f:
                # The footer of a file of many documents is read once and kept for the next lookups in it.
                footer = self._footers.pop(file, None)
                self._footers[file] = footer = footer if footer is not None else pq.ParquetFile(f).metadata
                while len(self._footers) > 16:
                    self._footers.popitem(last=False)
                return pq.ParquetFile(f, metadata=footer).read_row_group(row_group)
        except FileNotFoundError:  # the cache was cleared under a running worker: a miss
            return None


def _commit_open(open_file: list[_OpenFile | None]) -> dict[str, tuple[str, int]]:
    """Commit the open file, if any: the data file and row group of each document it holds."""
    committed = open_file[0].commit() if open_file[0] is not None else {}
    open_file[0] = None
    return committed


def _unpickle(url: str, key: str, documents: int, mb: float, seconds: float) -> PageCache:
    return PageCache(url, key, documents_per_file=documents, mb_per_file=mb, seconds_per_file=seconds)


class _OpenFile:
    """The data file a cache object is writing: documents go in as row groups, the index comes at commit."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, name: str):
        self.fs, self.root, self.name = fs, root, f"{name}.parquet"
        fs.makedirs(f"{root}/data", exist_ok=True)
        self.file = fs.open(f"{root}/data/{self.name}", "wb")
        # No column statistics: lookups go by the index, and min/max page texts would bloat the footer.
        self.writer = pq.ParquetWriter(self.file, arrow_schema(PageWindow), write_statistics=False)
        self.doc_ids: dict[str, int] = {}  # row group of each document
        self.row_groups, self.bytes, self.started = 0, 0, time.monotonic()

    def add(self, doc_id: str, table: pa.Table) -> tuple[int, int, float]:
        """Write one document as one row group; returns the file's documents, bytes and age so far."""
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.doc_ids[doc_id], self.row_groups = self.row_groups, self.row_groups + 1
        self.bytes += table.nbytes
        return len(self.doc_ids), self.bytes, time.monotonic() - self.started

    def commit(self) -> dict[str, tuple[str, int]]:
        self.writer.close()
        self.file.close()
        index = pa.table(
            {
                "key": [entry_key(doc_id) for doc_id in self.doc_ids],
                "file": [self.name] * len(self.doc_ids),
                "row_group": list(self.doc_ids.values()),
            },
            schema=INDEX_SCHEMA,
        )
        _write_whole(self.fs, f"{self.root}/index/{self.name}", index)
        return {doc_id: (self.name, row_group) for doc_id, row_group in self.doc_ids.items()}


def _write_whole(fs: fsspec.AbstractFileSystem, path: str, table: pa.Table) -> None:
    """Write a Parquet file that appears complete or not at all: beside its name, then moved."""
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    staged = f"{path}.{uuid.uuid4().hex}.tmp"
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with fs.open(staged, "wb") as f:
        f.write(buffer.getvalue())
    fs.mv(staged, path)


class _Index:
    """Every committed entry of a settings key, sorted by key: 16 bytes a document in memory."""

    def __init__(self, table: pa.Table):
        table = table.sort_by("key")
        self.keys = table.column("key").to_numpy()
        files = table.column("file").dictionary_encode().combine_chunks()
        self.files = files.dictionary.to_pylist()
        self.file_codes = files.indices.to_numpy()
        self.row_groups = table.column("row_group").to_numpy()

    @classmethod
    def load(cls, fs: fsspec.AbstractFileSystem, folder: str) -> _Index:
        for _ in range(10):  # a piece merged and deleted by another reader meanwhile: list again
            pieces = sorted(p for p in fs.glob(f"{folder}/*.parquet"))
            try:
                tables = [pq.read_table(io.BytesIO(data)) for data in fs.cat(pieces).values()] if pieces else []
            except FileNotFoundError:
                continue
            table = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
            if len(pieces) > INDEX_PIECES:
                _write_whole(fs, f"{folder}/{uuid.uuid4().hex}.parquet", table)
                for piece in pieces:
                    try:
                        fs.rm(piece)
                    except FileNotFoundError:  # merged by another reader too
                        pass
            return cls(table)
        raise RuntimeError(f"the page cache index {folder} kept changing while it was read")

    def find(self, key: int) -> list[tuple[str, int]]:
        start, end = (int(np.searchsorted(self.keys, np.uint64(key), side=side)) for side in ("left", "right"))
        return [(self.files[self.file_codes[i]], int(self.row_groups[i])) for i in range(start, end)]

    def locations(self) -> list[tuple[str, int]]:
        return [(self.files[code], int(row_group)) for code, row_group in zip(self.file_codes, self.row_groups, strict=True)]
