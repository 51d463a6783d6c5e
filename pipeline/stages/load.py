"""Open a PDF, render its pages to images and extract their text: one document in, 1..N windows out.

Pages are rendered at `render.dpi` with the longest side capped at `render.max_side_px` (which also
bounds the pixels of a huge page). A document with more pages than `max_pages_per_example` is split
into consecutive windows, or skipped, as configured. Failures are specific: a file that cannot be read,
is not a PDF, is encrypted, has no pages, or fails on one page becomes a reject naming the cause.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from pipeline.config import RenderConfig
from pipeline.records import PageWindow, SourceDocument
from pipeline.stages.base import Stage

pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's repair chatter is noise; failures surface as rejects


class LoadError(Exception):
    """A document that cannot become an example, with a reason fit for the rejects table."""


@dataclass
class PageText:
    text: str
    source: str  # "layer" for the PDF's own text layer


def extract_text(page: pymupdf.Page) -> PageText:
    """The page's text. The seam for OCR: pages without a usable text layer will be OCRed here."""
    return PageText(page.get_text("text"), "layer")


def render_page(page: pymupdf.Page, config: RenderConfig) -> bytes:
    longest_side_pt = max(page.rect.width, page.rect.height)
    if longest_side_pt <= 0:
        raise LoadError("page has an empty media box")
    zoom = min(config.dpi / 72, config.max_side_px / longest_side_pt)
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    if config.image_format == "jpeg":
        return pixmap.tobytes("jpeg", jpg_quality=config.jpeg_quality)
    return pixmap.tobytes("png")


def page_windows(page_count: int, size: int) -> list[list[int]]:
    return [list(range(start, min(start + size, page_count))) for start in range(0, page_count, size)]


class LoadDocuments(Stage):
    name = "load"
    input_type = SourceDocument
    output_type = PageWindow

    def __init__(self, config: RenderConfig):
        self.config = config

    def process(self, record: SourceDocument) -> list[PageWindow]:
        try:
            data = Path(record.source_path).read_bytes()
        except OSError as exc:
            return [self.fail(record, f"cannot read file: {exc.strerror or exc}")]
        doc_id = hashlib.sha256(data).hexdigest()
        try:
            return self._windows(record.source_path, doc_id, data)
        except LoadError as exc:
            return [self.fail(PageWindow(record.source_path, doc_id), str(exc))]
        except Exception as exc:  # MuPDF raises several types for corrupt files; keep the cause
            return [self.fail(PageWindow(record.source_path, doc_id), f"{type(exc).__name__}: {exc}")]

    def _windows(self, source_path: str, doc_id: str, data: bytes) -> list[PageWindow]:
        if b"%PDF" not in data[:1024]:  # the header may follow some junk, as readers allow
            raise LoadError("not a PDF (no %PDF header)")
        with pymupdf.open(stream=data, filetype="pdf") as doc:
            if doc.needs_pass:
                raise LoadError("encrypted: a password is needed to open it")
            if doc.page_count == 0:
                raise LoadError("no pages (the file is empty or its page tree is unreadable)")
            windows = page_windows(doc.page_count, self.config.max_pages_per_example)
            if len(windows) > 1 and self.config.long_documents == "skip":
                raise LoadError(
                    f"{doc.page_count} pages, more than {self.config.max_pages_per_example} "
                    "(render.long_documents=skip)"
                )
            return [self._window(doc, source_path, doc_id, i, pages) for i, pages in enumerate(windows)]

    def _window(self, doc: pymupdf.Document, source_path: str, doc_id: str, index: int, pages: list[int]):
        window = PageWindow(source_path, doc_id, doc.page_count, index, pages)
        for number in pages:
            try:
                page = doc.load_page(number)
                text = extract_text(page)
                image = render_page(page, self.config)
            except Exception as exc:
                window.images, window.texts, window.text_sources = [], [], []
                return self.fail(window, f"page {number + 1}: {type(exc).__name__}: {exc}")
            window.images.append(image)
            window.texts.append(text.text)
            window.text_sources.append(text.source)
        if not any(t.strip() for t in window.texts):
            window.images = []
            label = f"page {pages[0] + 1}" if len(pages) == 1 else f"pages {pages[0] + 1}-{pages[-1] + 1}"
            return self.fail(window, f"no text on {label} (no text layer; OCR is not available yet)")
        return window
