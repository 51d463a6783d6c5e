"""The page cache: its settings key (derived from the load stage's config, the libraries and the OCR data)
and its layout (many documents a file, entries complete or absent, several writers at once).

Real config objects, real language data (copied, so that its bytes can be changed), the installed PyMuPDF
(its version string is replaced, as an upgrade would change it)."""

import pickle
import shutil
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pymupdf
import pytest

from docqa.config import Config
from docqa.ingest.text import tessdata_folder
from docqa.records import PageWindow
from docqa.runtime.page_cache import INDEX_PIECES, LOAD_SECTIONS, NOT_SHAPING, PageCache, settings_key
from tests.conftest import ROOT


def changed(value):
    """Another value of the same kind; settings_key only dumps values, so it need not be a valid one."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return value + value if value else ["x"]  # repeating keeps OCR languages installed
    return f"{value}-changed"


def with_field(config: Config, section: str, field: str, value) -> Config:
    return config.model_copy(update={section: getattr(config, section).model_copy(update={field: value})})


SHAPING_FIELDS = [
    (section, field)
    for section in LOAD_SECTIONS
    for field in type(getattr(Config(), section)).model_fields
    if field not in NOT_SHAPING.get(section, set())
]


@pytest.mark.parametrize(("section", "field"), SHAPING_FIELDS)
def test_every_field_of_the_load_sections_is_in_the_key_unless_declared_not_shaping(section, field):
    config = Config()
    value = changed(getattr(getattr(config, section), field))
    assert settings_key(with_field(config, section, field, value)) != settings_key(config)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("output", "dir", "elsewhere"),
        ("input", "paths", ["/data/pdfs"]),
        ("input", "max_file_mb", 1),
        ("limits", "document_memory_gb", 64),
        ("limits", "document_timeout_s", 3600),
        ("model", "name", "another-model"),
    ],
)
def test_where_things_are_and_how_long_they_may_take_do_not_change_the_key(section, field, value):
    assert settings_key(with_field(Config(), section, field, value)) == settings_key(Config())


def test_a_pymupdf_upgrade_changes_the_key(monkeypatch):
    before = settings_key(Config())
    monkeypatch.setattr(pymupdf, "VersionBind", "2.0.1")
    assert settings_key(Config()) != before


@pytest.fixture
def tessdata_copies(tmp_path, monkeypatch):
    """Three copies of the installed English data, the last upgraded (a byte changed); `use` points
    TESSDATA_PREFIX at one, as a user would."""
    copies = []
    for name in ("a", "b", "upgraded"):
        copy = tmp_path / name
        copy.mkdir()
        shutil.copy(tessdata_folder() / "eng.traineddata", copy)
        copies.append(copy)
    data = bytearray((copies[-1] / "eng.traineddata").read_bytes())
    data[-1] ^= 1
    (copies[-1] / "eng.traineddata").write_bytes(data)

    def use(copy):
        monkeypatch.setenv("TESSDATA_PREFIX", str(copy))
        tessdata_folder.cache_clear()  # the folder is looked up once per process

    yield copies, use
    tessdata_folder.cache_clear()


def test_the_key_follows_the_ocr_language_data_by_content_not_by_folder(tessdata_copies):
    (a, b, upgraded), use = tessdata_copies
    no_ocr = with_field(Config(), "text", "ocr", False)
    keys = {}
    for copy in (a, b, upgraded):
        use(copy)
        keys[copy.name] = settings_key(Config()), settings_key(no_ocr)
    assert keys["a"] == keys["b"]
    assert keys["upgraded"][0] != keys["a"][0]
    assert keys["upgraded"][1] == keys["a"][1]  # without OCR the language data shapes nothing


# The layout: many documents a file, entries complete or absent, several writers at once. Real Parquet files
# on the local disk (and in fsspec's memory filesystem); writers are separate processes, killed for real.

WRITER = """
import os, signal, sys
from docqa.records import PageWindow
from docqa.runtime.page_cache import PageCache
url, first, count, per_file, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cache = PageCache(url, "settings", documents_per_file=per_file)
for n in range(first, first + count):
    cache.put(f"doc{n}", [PageWindow(f"/pdfs/{n}.pdf", f"doc{n}", pages=[0], images=[os.urandom(2000)], texts=[f"page of {n}"])])
if end == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def write_entries(url: str, first: int, count: int, per_file: int, end: str = "exits") -> subprocess.Popen:
    """A load worker in its own process: puts documents first..first+count-1, then exits or is killed."""
    return subprocess.Popen([sys.executable, "-c", WRITER, url, str(first), str(count), str(per_file), end], cwd=ROOT)


def texts(cache: PageCache, doc_ids) -> dict[str, list[str] | None]:
    return {d: (None if (w := cache.get(d)) is None else [t for window in w for t in window.texts]) for d in doc_ids}


def test_a_file_holds_many_documents_and_each_is_read_back(tmp_path):
    url = f"file://{tmp_path}/cache"
    assert write_entries(url, 0, 600, 256).wait(120) == 0
    data = sorted((tmp_path / "cache" / "settings" / "data").iterdir())
    assert sorted(pq.ParquetFile(f).metadata.num_row_groups for f in data) == [88, 256, 256]
    found = texts(PageCache(url, "settings"), [f"doc{n}" for n in range(600)] + ["doc600"])
    assert found == {**{f"doc{n}": [f"page of {n}"] for n in range(600)}, "doc600": None}


def test_a_worker_killed_mid_file_leaves_no_half_entry(tmp_path):
    """The first 256 documents were committed; the next 44 were in the file being written when it died."""
    url = f"file://{tmp_path}/cache"
    assert write_entries(url, 0, 300, 256, end="killed").wait(120) == -signal.SIGKILL
    cache = PageCache(url, "settings")
    found = texts(cache, [f"doc{n}" for n in range(300)])
    assert [d for d, t in found.items() if t is None] == [f"doc{n}" for n in range(256, 300)]
    assert cache.doc_ids() == {f"doc{n}" for n in range(256)}
    assert len(list((tmp_path / "cache" / "settings" / "data").iterdir())) == 2  # the orphan, which no index names
    cache.put("doc256", [PageWindow("/pdfs/256.pdf", "doc256", texts=["again"])])  # loaded again: now an entry
    cache.commit()
    assert texts(PageCache(url, "settings"), ["doc256"]) == {"doc256": ["again"]}


def test_two_workers_write_at_once_and_a_reader_merges_their_index(tmp_path):
    """90 files between them: more than a reader keeps as separate index files, so it merges them."""
    url = f"file://{tmp_path}/cache"
    writers = [write_entries(url, 0, 450, 10), write_entries(url, 400, 450, 10)]  # doc400..449 written by both
    assert [w.wait(300) for w in writers] == [0, 0]
    index = tmp_path / "cache" / "settings" / "index"
    assert len(list(index.glob("*.parquet"))) == 90 > INDEX_PIECES
    expected = {f"doc{n}": [f"page of {n}"] for n in range(850)}
    assert texts(PageCache(url, "settings"), expected) == expected
    assert len(list(index.glob("*.parquet"))) == 1
    assert texts(PageCache(url, "settings"), expected) == expected


def test_a_document_put_is_found_by_the_same_worker_at_once_and_by_others_once_committed():
    url = "memory://page-cache-test"  # any fsspec URL
    writer, reader = PageCache(url, "settings"), PageCache(url, "settings")
    writer.put("doc0", [PageWindow("/a.pdf", "doc0", texts=["x"])])
    assert reader.get("doc0") is None  # its file is still being written
    assert writer.get("doc0")[0].texts == ["x"]  # the writer closes the file to read it
    assert PageCache(url, "settings").get("doc0")[0].texts == ["x"]


def test_a_cache_travels_to_a_worker_as_its_location_only(tmp_path):
    cache = PageCache(f"file://{tmp_path}/cache", "settings", documents_per_file=7)
    cache.put("doc0", [PageWindow("/a.pdf", "doc0", texts=["x"])])
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.limits == cache.limits and copy.get("doc0") is None  # the original's open file stays its own
