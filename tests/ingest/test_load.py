"""The load stage on real PDFs: the generated sample corpus, the generated hostile corpus, tar shards,
and ../shared/corpus. Real PyMuPDF, real Tesseract, real worker processes."""

import csv
import hashlib
import io
import json
import os
import tarfile
import time

import pytest
from PIL import Image

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.demo.corpus import SAMPLE_FACTS
from docqa.ingest.load import LoadDocuments
from docqa.records import Failure, InputUnit, PageWindow, SourceDocument, from_table
from docqa.runtime.local import run_local
from docqa.runtime.page_cache import PageCache
from docqa.runtime.plan import StagePlan
from tests.corpora.hostile import (
    HOSTILE_CASES,
    HOSTILE_LIMITS,
    KNOWN_PASSWORD,
    SCANNED_TEXT,
    font_bomb,
    write_hostile_corpus,
)


def loader(input=None, render=None, text=None, limits=None, cache=None):
    return LoadDocuments(
        InputConfig(**(input or {})),
        RenderConfig(**(render or {})),
        TextConfig(**(text or {})),
        LimitsConfig(**(limits or {})),
        cache,
    )


def load(paths, **sections):
    return loader(**sections)([SourceDocument(str(p)) for p in paths])


def by_name(corpus, name):
    return next(p for p in corpus if p.name == name)


def words(text):
    return " ".join(text.split())


def test_pages_become_images_and_texts_in_windows_of_four(sample_corpus):
    report = by_name(sample_corpus, "report.pdf")
    windows = load([report])
    assert [w.pages for w in windows] == [[0, 1, 2, 3], [4, 5]]
    assert all(w.error is None and w.page_count == 6 for w in windows)
    assert windows[0].doc_id == hashlib.sha256(report.read_bytes()).hexdigest()
    image = Image.open(io.BytesIO(windows[0].images[0]))
    assert image.format == "PNG"
    assert image.size == (1240, 1755)  # A4, 595 x 842 pt, at 150 dpi; MuPDF rounds up
    text = words(" ".join(t for w in windows for t in w.texts))
    assert all(fact in text for fact in SAMPLE_FACTS["report.pdf"])
    assert set(windows[0].text_sources) == {"layer"} and windows[0].ocr_engine == ""


@pytest.mark.parametrize("image_format", ["jpeg", "webp"])
def test_long_side_cap_and_other_image_formats(sample_corpus, image_format):
    (window,) = load([by_name(sample_corpus, "invoice.pdf")], render={"max_side_px": 500, "image_format": image_format})
    image = Image.open(io.BytesIO(window.images[0]))
    assert image.format == image_format.upper()
    assert max(image.size) == 500


def test_skip_mode_rejects_long_documents_with_the_reason(sample_corpus):
    (window,) = load([by_name(sample_corpus, "report.pdf")], render={"long_documents": "skip"})
    assert window.error == Failure("load", "too_many_pages", "6 pages, more than 4 (render.long_documents=skip)")
    assert window.images == []


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile corpus through one stage, in name order: each file follows another that went wrong."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = write_hostile_corpus(folder)
    cache = PageCache(f"file://{folder}/cache", "hostile")
    stage = loader(input={"passwords": ["wrong", KNOWN_PASSWORD]}, limits=HOSTILE_LIMITS, cache=cache)
    windows = [w for path in paths for w in stage([SourceDocument(str(path))])]
    return {p.name: [w for w in windows if w.source_path == str(p)] for p in paths}, cache.doc_ids()


@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_generated_hostile_files_end_as_specified(hostile, name):
    windows = hostile[0][name]
    expected = HOSTILE_CASES[name]
    assert windows, f"{name} produced nothing"
    if expected in ("text", "ocr"):
        assert all(w.error is None for w in windows), [w.error for w in windows]
        assert {s for w in windows for s in w.text_sources} == {"layer" if expected == "text" else "ocr"}
    else:
        assert all(w.error and str(w.error).startswith(expected) for w in windows), [w.error for w in windows]


def test_only_outcomes_that_repeat_are_cached(hostile):
    """A limit hit depends on the machine and the limit, not on the bytes: it is never cached; a clean
    MuPDF error or a kept page is."""
    windows, cached = hostile
    assert windows["font-decompression-bomb.pdf"][0].doc_id not in cached
    assert windows["content-stream-bomb.pdf"][0].doc_id not in cached
    repeatable = ("deep-nesting.pdf", "huge-image.pdf", "self-drawing-form.pdf")
    assert {windows[name][0].doc_id for name in repeatable} <= cached


def test_the_memory_limit_is_reported_and_the_next_document_gets_a_fresh_process(tmp_path, sample_corpus):
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(font_bomb())
    stage = loader(limits={"document_memory_gb": 1})
    (good,) = stage([SourceDocument(str(by_name(sample_corpus, "invoice.pdf")))])
    first_process = stage.worker.pid
    (rejected,) = stage([SourceDocument(str(bomb))])
    assert rejected.error == Failure("load", "memory_limit", "exceeded the memory limit of 1 GiB (limits.document_memory_gb)")
    assert stage.worker.pid is None
    (again,) = stage([SourceDocument(str(by_name(sample_corpus, "invoice.pdf")))])
    assert again.error is None and again.texts == good.texts
    assert stage.worker.pid not in (None, first_process)


def test_a_raised_memory_limit_gets_the_document_back_from_the_same_cache(tmp_path):
    """A 1 GiB font bomb exceeds 1 GiB of address space but fits in 4 GiB, where MuPDF then refuses the
    font, draws its text in a substitute and keeps the page."""
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(font_bomb(1 << 30))
    cache = PageCache(f"file://{tmp_path}/cache", "same-settings")
    (rejected,) = loader(limits={"document_memory_gb": 1}, cache=cache)([SourceDocument(str(bomb))])
    assert str(rejected.error).startswith("load: exceeded the memory limit")
    (loaded,) = loader(limits={"document_memory_gb": 4}, cache=cache)([SourceDocument(str(bomb))])
    assert (loaded.error, loaded.from_cache) == (None, False)
    assert "Set in the bomb font." in words(loaded.texts[0])


def test_scanned_page_is_read_by_ocr_and_the_engine_recorded(hostile):
    (window,) = hostile[0]["scanned.pdf"]
    assert words(window.texts[0]) == SCANNED_TEXT
    assert "Tesseract" in window.ocr_engine


def test_huge_page_is_rendered_within_the_pixel_caps(hostile):
    (window,) = hostile[0]["huge-page.pdf"]
    assert Image.open(io.BytesIO(window.images[0])).size == (2940, 2940)


def test_a_hanging_or_exploding_document_costs_only_itself(tmp_path, sample_corpus):
    """A tiny time limit makes every document time out: each is rejected, none stops the stage."""
    paths = [by_name(sample_corpus, "invoice.pdf"), by_name(sample_corpus, "form.pdf")]
    windows = load(paths, limits={"document_timeout_s": 0.001})
    timeout = Failure("load", "timeout", "timed out after 0.001 s (limits.document_timeout_s)")
    assert [w.error for w in windows] == [timeout] * 2
    (window,) = load(paths[:1])  # and a normal limit afterwards works
    assert window.error is None


def test_missing_file_and_too_large_file(tmp_path, sample_corpus):
    (missing,) = load([tmp_path / "gone.pdf"])
    assert missing.error.kind == "read_error" and missing.error.reason.startswith("cannot read file")
    assert missing.doc_id == ""
    (large,) = load([by_name(sample_corpus, "report.pdf")], input={"max_file_mb": 0.001})
    assert (large.error.kind, large.error.reason[:15]) == ("file_too_large", "file too large:")


def test_webdataset_shard_documents_carry_their_metadata(tmp_path, sample_corpus):
    shard = tmp_path / "pdfa-00000.tar"
    with tarfile.open(shard, "w") as tar:
        for key, pdf in [("0001", "invoice.pdf"), ("0002", "form.pdf")]:
            for name, data in [(f"{key}.json", json.dumps({"url": f"https://example.org/{pdf}"}).encode()),
                               (f"{key}.pdf", by_name(sample_corpus, pdf).read_bytes())]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    windows = load([shard])
    assert [w.source_path for w in windows] == [f"{shard}::0001.pdf", f"{shard}::0002.pdf"]
    assert json.loads(windows[0].source_metadata) == {"url": "https://example.org/invoice.pdf"}
    assert all(w.error is None for w in windows)


def test_shared_corpus_all_files_accounted_for_without_crash_or_hang(shared_corpus):
    """Every normal file yields text; scans yield OCR words; broken files are rejected with a reason."""
    with (shared_corpus / "MANIFEST.tsv").open(newline="", encoding="utf-8") as rows:
        paths = sorted(shared_corpus / row["file"] for row in csv.DictReader(rows, delimiter="\t"))
    assert all(path.is_file() for path in paths)
    started = time.monotonic()
    # TAMReview OCRs 21 pages (about 80 s on an idle core): the limit leaves room for a busy machine.
    windows = load(paths, text={"ocr_languages": ["eng", "rus"]}, limits={"document_timeout_s": 300})
    elapsed = time.monotonic() - started
    assert elapsed < 900  # a hang would hit the per-document limit; the whole run stays bounded
    by_file = {str(p): [w for w in windows if w.source_path == str(p)] for p in paths}
    assert all(by_file.values()), [p for p, w in by_file.items() if not w]
    for path, file_windows in by_file.items():
        if "/normal/" in path:
            assert any(w.error is None and any(t.strip() for t in w.texts) for w in file_windows), path
        if "/broken/" in path:
            for w in file_windows:
                assert w.error is None or (w.error.stage == "load" and len(w.error.reason) > 6), path
    scanned_ocr = [w for p, ws in by_file.items() if "/scanned/" in p for w in ws if "ocr" in w.text_sources]
    assert scanned_ocr and all(len(" ".join(w.texts).split()) > 5 for w in scanned_ocr)


def test_page_cache_serves_a_second_load_without_rendering(tmp_path, sample_corpus):
    cache = PageCache(f"file://{tmp_path}/cache", "settings1")
    invoice = by_name(sample_corpus, "invoice.pdf")
    copy = tmp_path / "same-bytes-elsewhere.pdf"
    copy.write_bytes(invoice.read_bytes())
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig(), cache)
    (first,) = stage([SourceDocument(str(invoice))])
    (second,) = stage([SourceDocument(str(copy))])
    assert (first.from_cache, second.from_cache) == (False, True)
    assert (second.images, second.texts, second.doc_id) == (first.images, first.texts, first.doc_id)
    assert second.source_path == str(copy)
    other_settings = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig(), PageCache(f"file://{tmp_path}/cache", "settings2"))
    assert not other_settings([SourceDocument(str(invoice))])[0].from_cache


def test_every_record_names_its_input_its_place_in_it_and_whether_it_is_the_last(sample_corpus, tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_text("not a pdf")
    report = by_name(sample_corpus, "report.pdf")
    windows = load([report, bad])
    assert [(w.unit, w.unit_index, w.unit_last) for w in windows] == [
        (str(report), 0, False), (str(report), 1, True), (str(bad), 0, True)
    ]


def test_a_group_of_pdfs_is_numbered_as_one_unit_and_each_input_is_accounted_for(sample_corpus, tmp_path):
    """A group's inputs come out in order, numbered across the whole group, with only the group's last record
    marked last; an input that fails (not a PDF, then one whose page cache entry is unreadable) is rejected
    under its own path and the group goes on."""
    bad = tmp_path / "bad.pdf"
    bad.write_text("not a pdf")
    report, invoice, form = (by_name(sample_corpus, n) for n in ("report.pdf", "invoice.pdf", "form.pdf"))
    cache = PageCache(f"file://{tmp_path}/cache", "settings")
    loader(cache=cache)([SourceDocument(str(form))])
    cache.commit()
    (entry,) = cache.fs.find(f"{cache.root_path}/data")
    cache.fs.pipe_file(entry, b"not parquet")
    group = InputUnit("g1", [str(report), str(bad), str(form), str(invoice)])
    windows = loader(cache=cache)([group])
    assert [(w.source_path, w.unit, w.unit_index, w.unit_last) for w in windows] == [
        (str(report), "g1", 0, False), (str(report), "g1", 1, False), (str(bad), "g1", 2, False),
        (str(form), "g1", 3, False), (str(invoice), "g1", 4, True),
    ]
    assert [w.error.kind if w.error else None for w in windows] == [None, None, "not_a_pdf", "library_error", None]


def write_shard(shard, members):
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_shard_leaves_the_stage_document_by_document(tmp_path, sample_corpus):
    """The shard is cut on disk once its first window is out of the runner: a stage that read the whole
    shard before handing anything on would give all three documents; a streaming one meets the cut."""
    shard = tmp_path / "stream.tar"
    invoice = by_name(sample_corpus, "invoice.pdf").read_bytes()
    filler = [(f"filler{i}.bin", bytes(1 << 20)) for i in range(8)]
    write_shard(shard, [("a.pdf", invoice), ("b.pdf", invoice + b"\n"), *filler, ("z.pdf", invoice + b"\n\n")])
    tables = run_local(StagePlan([loader()]), [SourceDocument(str(shard))])
    windows = (record for table in tables for record in from_table(PageWindow, table))
    first = next(windows)
    os.truncate(shard, shard.stat().st_size // 2)
    rest = list(windows)
    assert [w.source_path.rsplit("::", 1)[-1] for w in [first, *rest[:-1]]] == ["a.pdf", "b.pdf"]
    assert str(rest[-1].error).startswith("load: tar shard truncated after")
    assert [(w.unit_index, w.unit_last) for w in [first, *rest]] == [(0, False), (1, False), (2, True)]


def test_a_shard_that_fails_part_way_keeps_the_windows_loaded_before(tmp_path, sample_corpus):
    """The second document's page cache entry is unreadable: the first document's window still comes out,
    then the shard's reject, marked as its last record."""
    invoice, form = by_name(sample_corpus, "invoice.pdf"), by_name(sample_corpus, "form.pdf")
    cache = PageCache(f"file://{tmp_path}/cache", "settings")
    loader(cache=cache)([SourceDocument(str(form))])
    cache.commit()
    (entry,) = cache.fs.find(f"{cache.root_path}/data")
    cache.fs.pipe_file(entry, b"not parquet")
    shard = tmp_path / "shard.tar"
    write_shard(shard, [("a.pdf", invoice.read_bytes()), ("b.pdf", form.read_bytes())])
    first, reject = loader(cache=cache)([SourceDocument(str(shard))])
    assert (first.source_path, first.error, first.unit_index, first.unit_last) == (f"{shard}::a.pdf", None, 0, False)
    assert (reject.source_path, reject.unit_index, reject.unit_last) == (str(shard), 1, True)
    assert (reject.error.kind, reject.error.reason[:12]) == ("library_error", "ArrowInvalid")
