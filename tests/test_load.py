"""The load stage on real PDFs: the generated sample corpus, hostile files made here, and ../shared/corpus."""

import hashlib
import io

import pymupdf
import pytest
from PIL import Image

from pipeline.config import RenderConfig
from pipeline.records import SourceDocument
from pipeline.samples import SAMPLE_FACTS
from pipeline.stages.load import LoadDocuments


def load(paths, **render):
    return LoadDocuments(RenderConfig(**render))([SourceDocument(str(p)) for p in paths])


def by_name(corpus, name):
    return next(p for p in corpus if p.name == name)


def test_pages_become_images_and_texts_in_windows_of_four(sample_corpus):
    report = by_name(sample_corpus, "report.pdf")
    windows = load([report])
    assert [w.pages for w in windows] == [[0, 1, 2, 3], [4, 5]]
    assert all(w.error is None and w.page_count == 6 for w in windows)
    assert windows[0].doc_id == hashlib.sha256(report.read_bytes()).hexdigest()
    image = Image.open(io.BytesIO(windows[0].images[0]))
    assert image.format == "PNG"
    assert image.size == (1240, 1755)  # A4, 595 x 842 pt, at 150 dpi; MuPDF rounds up
    text = " ".join(" ".join(t for w in windows for t in w.texts).split())
    assert all(fact in text for fact in SAMPLE_FACTS["report.pdf"])
    assert set(windows[0].text_sources) == {"layer"}


def test_long_side_cap_and_jpeg(sample_corpus):
    (window,) = load([by_name(sample_corpus, "invoice.pdf")], max_side_px=500, image_format="jpeg")
    image = Image.open(io.BytesIO(window.images[0]))
    assert image.format == "JPEG"
    assert max(image.size) == 500


def test_skip_mode_rejects_long_documents_with_the_reason(sample_corpus):
    (window,) = load([by_name(sample_corpus, "report.pdf")], long_documents="skip")
    assert window.error == "load: 6 pages, more than 4 (render.long_documents=skip)"
    assert window.images == []


def _encrypted_pdf(path):
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret minutes of the board")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="owner")


def _image_only_pdf(path):
    text_doc = pymupdf.open()
    text_doc.new_page().insert_text((72, 72), "This page was scanned.", fontsize=20)
    pixmap = text_doc[0].get_pixmap(dpi=100)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, pixmap=pixmap)
    doc.save(path)


def test_hostile_files_are_rejected_with_specific_reasons(tmp_path, sample_corpus):
    cases = {
        "encrypted.pdf": _encrypted_pdf,
        "scanned.pdf": _image_only_pdf,
        "png-named.pdf": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)),
        "empty.pdf": lambda p: p.write_bytes(b""),
        "truncated.pdf": lambda p: p.write_bytes(by_name(sample_corpus, "report.pdf").read_bytes()[:300]),
    }
    for name, make in cases.items():
        make(tmp_path / name)
    errors = {w.source_path.rsplit("/", 1)[-1]: w.error for w in load(tmp_path / n for n in cases)}
    assert errors["encrypted.pdf"] == "load: encrypted: a password is needed to open it"
    assert errors["scanned.pdf"].startswith("load: no text on page 1")
    assert errors["png-named.pdf"] == "load: not a PDF (no %PDF header)"
    assert errors["empty.pdf"] == "load: not a PDF (no %PDF header)"
    assert errors["truncated.pdf"].startswith("load: ")
    missing = load([tmp_path / "gone.pdf"])[0]
    assert missing.error.startswith("load: cannot read file") and missing.doc_id == ""


def test_every_shared_corpus_file_gets_windows_or_a_reason(shared_corpus):
    paths = sorted(shared_corpus.glob("*/*.pdf"))
    windows = load(paths)
    assert {w.source_path for w in windows} == {str(p) for p in paths}
    assert all(w.error is None or w.error.startswith("load: ") for w in windows)
    normal = [w for w in windows if "/normal/" in w.source_path]
    assert sum(w.error is None for w in normal) >= 0.9 * len(normal)
