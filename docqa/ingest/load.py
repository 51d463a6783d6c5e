"""Read an input unit, open each PDF in it, render its pages and get their text: 1..N windows out.

An input unit is a group of PDFs or a tar shard of PDFs (`docqa.runtime.units`). Each document is opened
in an isolated worker process with a wall-time limit and a memory limit (`docqa.ingest.isolation`): MuPDF can
hang in C code, allocate gigabytes or crash on a hostile file, and that must cost one document, not the
run. A document that hits a limit is rejected with the setting to raise ("load: exceeded the memory limit
of 4 GiB (limits.document_memory_gb)", "load: timed out after 120 s (limits.document_timeout_s)") and is
never cached, so a rerun with a higher limit loads it. Pages are rendered at `render.dpi`, the longest
side capped at `render.max_side_px` and the pixels at `limits.max_page_megapixels`. A page's text comes
from its text layer when that layer is plausible, else from OCR (`docqa.ingest.text`); the window's
language is identified from its page texts (`docqa.quality.language`). QA pairs are read off its tables,
form fields and label/value lines while it is open (`docqa.ingest.structure`). A document with more pages
than `max_pages_per_example` is split into consecutive windows, or skipped, as configured.
Every failure of a document becomes a reject naming its kind and cause; a bug in this code, even one
raised in the worker, stops the run with its traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pymupdf
from PIL import Image

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.isolation import (
    IsolatedWorker,
    WorkerError,
    WorkerOutOfMemory,
    WorkerTimeout,
    is_out_of_memory,
)
from docqa.ingest.sources import iter_documents
from docqa.ingest.structure import page_structure_pairs
from docqa.ingest.text import OCRUnavailable, ocr_engine_version, page_text, require_ocr
from docqa.quality.language import window_language
from docqa.records import Failure, InputUnit, PageWindow, PageWords, QAPair, SourceDocument
from docqa.runtime.faults import SystemicFault, is_bug, stops_the_run
from docqa.runtime.page_cache import PageCache
from docqa.runtime.stage import Resources, Stage

pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's repair chatter is noise; failures surface as rejects

# The setting that a document hitting a limit names in its reject reason, so the user knows what to raise.
LIMIT_SETTINGS = {WorkerTimeout: "limits.document_timeout_s", WorkerOutOfMemory: "limits.document_memory_gb"}


class LoadError(Exception):
    """A document that cannot become an example: the failure's kind, and a reason fit for the rejects table."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


@dataclass
class LoadSettings:
    render: RenderConfig
    text: TextConfig
    passwords: list[str]
    max_page_megapixels: float
    ocr_engine: str  # recorded on windows whose text came from OCR


@dataclass
class LoadRequest:
    """One document, as sent to the isolated worker."""

    path: str
    doc_id: str
    data: bytes
    metadata: str  # JSON of the document's metadata (a PDFA sample's .json), "" when none
    settings: LoadSettings


def render_zoom(page: pymupdf.Page, dpi: int, max_side_px: int, max_megapixels: float) -> float:
    width, height = page.rect.width, page.rect.height
    if width <= 0 or height <= 0:
        raise LoadError("empty_page", "page has an empty media box")
    return min(dpi / 72, max_side_px / max(width, height), math.sqrt(max_megapixels * 1e6 / (width * height)))


def encode_image(pixmap: pymupdf.Pixmap, render: RenderConfig) -> bytes:
    """PNG through MuPDF (the fastest lossless encoder measured, see BENCHMARKS.md); JPEG and WebP through
    Pillow, whose JPEG encoder measured 7.6 times faster than MuPDF's."""
    if render.image_format == "png":
        return pixmap.tobytes("png")
    image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
    buffer = io.BytesIO()
    if render.image_format == "jpeg":
        image.save(buffer, "JPEG", quality=render.jpeg_quality)
    else:
        image.save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


def render_page(page: pymupdf.Page, zoom: float, render: RenderConfig) -> bytes:
    return encode_image(page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False), render)


def _page_words(page: pymupdf.Page, words: tuple, zoom: float) -> PageWords:
    """Words with their boxes moved into the pixel grid of the page image (rotation included)."""
    to_image = page.rotation_matrix * pymupdf.Matrix(zoom, zoom)
    boxes = [pymupdf.Rect(word[:4]) * to_image for word in words]
    return PageWords([word[4] for word in words], [[round(v, 1) for v in box] for box in boxes])


def page_windows(page_count: int, size: int) -> list[list[int]]:
    return [list(range(start, min(start + size, page_count))) for start in range(0, page_count, size)]


def _pages_label(pages: list[int]) -> str:
    return f"page {pages[0] + 1}" if len(pages) == 1 else f"pages {pages[0] + 1}-{pages[-1] + 1}"


def _structure_pairs(page: pymupdf.Page, words: tuple, zoom: float, index: int) -> list[QAPair]:
    """The page's table, form and label/value pairs (`docqa.ingest.structure`); none when MuPDF fails to
    read its tables or fields, which costs those pairs, not the page."""
    try:
        return page_structure_pairs(page, words, zoom, index)
    except Exception as exc:
        if is_out_of_memory(exc) or is_bug(exc):
            raise
        return []


def load_document(request: LoadRequest) -> list[PageWindow]:
    """Open one PDF and turn it into windows; runs inside the isolated worker."""
    try:
        return _windows(request)
    except LoadError as exc:
        failure = Failure("load", exc.kind, str(exc))
    except Exception as exc:  # MuPDF raises several types for corrupt files; keep the cause
        if is_out_of_memory(exc):
            raise  # the worker reports the memory limit and replaces this process
        if is_bug(exc):
            raise  # back to the parent with the worker's traceback: it stops the run
        failure = Failure("load", "damaged_pdf", f"{type(exc).__name__}: {exc}")
    return [PageWindow(request.path, request.doc_id, source_metadata=request.metadata, error=failure)]


def _open(request: LoadRequest) -> pymupdf.Document:
    if b"%PDF" not in request.data[:1024]:  # the header may follow some junk, as readers allow
        raise LoadError("not_a_pdf", "not a PDF (no %PDF header)")
    doc = pymupdf.open(stream=request.data, filetype="pdf")
    if doc.needs_pass and not any(doc.authenticate(p) for p in request.settings.passwords):
        tried = len(request.settings.passwords)
        reason = f"encrypted: a password is needed to open it ({tried} configured password(s) tried)"
        raise LoadError("encrypted", reason)
    if doc.page_count == 0:
        raise LoadError("no_pages", "no pages (the file is empty or its page tree is unreadable)")
    return doc


def _windows(request: LoadRequest) -> list[PageWindow]:
    render = request.settings.render
    with _open(request) as doc:
        windows = page_windows(doc.page_count, render.max_pages_per_example)
        if len(windows) > 1 and render.long_documents == "skip":
            raise LoadError(
                "too_many_pages",
                f"{doc.page_count} pages, more than {render.max_pages_per_example} (render.long_documents=skip)"
            )
        return [_window(doc, request, index, pages) for index, pages in enumerate(windows)]


def _window(doc: pymupdf.Document, request: LoadRequest, index: int, pages: list[int]) -> PageWindow:
    settings, text = request.settings, request.settings.text
    window = PageWindow(request.path, request.doc_id, doc.page_count, index, pages, source_metadata=request.metadata)
    unusable: list[str] = []
    for number in pages:
        try:
            page = doc.load_page(number)
            extracted = page_text(
                page,
                ocr_languages=text.ocr_languages,
                ocr_dpi=text.ocr_dpi,
                max_megapixels=settings.max_page_megapixels,
                min_chars=text.min_chars,
                ocr_enabled=text.ocr,
            )
            zoom = render_zoom(page, settings.render.dpi, settings.render.max_side_px, settings.max_page_megapixels)
            image = render_page(page, zoom, settings.render)
        except Exception as exc:
            if is_out_of_memory(exc) or is_bug(exc):
                raise  # the memory limit or a bug, not this page: see load_document
            kind = exc.kind if isinstance(exc, LoadError) else "damaged_pdf"
            window.error = Failure("load", kind, f"page {number + 1}: {type(exc).__name__}: {exc}")
            return window
        if extracted.verdict_reason:
            unusable.append(f"page {number + 1}: {extracted.verdict_reason}")
        window.images.append(image)
        window.texts.append("" if extracted.verdict_reason else extracted.text)
        window.text_sources.append(extracted.source)
        window.words.append(_page_words(page, extracted.words if not extracted.verdict_reason else (), zoom))
        if extracted.source == "layer" and not extracted.verdict_reason:
            window.structure_pairs += _structure_pairs(page, extracted.words, zoom, len(window.images) - 1)
    if "ocr" in window.text_sources:
        window.ocr_engine = settings.ocr_engine
    if len(unusable) == len(pages):
        window.images, window.texts, window.text_sources, window.words, window.structure_pairs = [], [], [], [], []
        reason = f"no usable text on {_pages_label(pages)} ({'; '.join(unusable)})"
        window.error = Failure("load", "no_usable_text", reason)
    return window


class LoadDocuments(Stage):
    name = "load"
    input_type = InputUnit
    output_type = PageWindow

    def __init__(
        self,
        input: InputConfig,
        render: RenderConfig,
        text: TextConfig,
        limits: LimitsConfig,
        cache: PageCache | None = None,
        *,
        workers: int | None = 1,
        num_cpus: float | None = 0.5,
    ):
        self.input = input
        self.render = render
        self.text = text
        self.limits = limits
        self.cache = cache
        # One unit a batch, so loading spreads over the workers; each keeps its isolated process.
        self.resources = Resources(batch_size=1, num_cpus=num_cpus, stateful=True, replicas=workers)

    def setup(self) -> None:
        if self.text.ocr:
            try:  # missing Tesseract stops the run here, with the fix, rather than fail every scanned page
                require_ocr(self.text.ocr_languages)
            except OCRUnavailable as exc:
                raise SystemicFault(f"{exc}; or set text.ocr=false to use text layers only") from exc
        self.settings = LoadSettings(
            self.render,
            self.text,
            self.input.passwords,
            self.limits.max_page_megapixels,
            ocr_engine_version(self.text.ocr_languages) if self.text.ocr else "",
        )
        self.worker = IsolatedWorker(
            load_document,
            timeout_s=self.limits.document_timeout_s,
            memory_bytes=int(self.limits.document_memory_gb * 2**30),
        )

    def process(self, record: InputUnit | SourceDocument) -> Iterator[PageWindow]:
        """The unit's windows, each document's as soon as it is loaded, so a shard or a group of PDFs is
        never held whole (a `SourceDocument` is a unit of its one input, named by its path).

        Each is stamped with its unit and its place among the records of the whole unit; one is held back
        so that the unit's last record can be marked (`unit_last`), which lets the unit store tell when the
        unit is complete. An input that fails part-way ends with its reject, after the windows already
        loaded, and the unit goes on with its next input.
        """
        unit = record if isinstance(record, InputUnit) else InputUnit(record.source_path, [record.source_path])
        held: PageWindow | None = None
        index = 0
        for source in unit.sources:
            for window in self._input_windows(source):
                if held is not None:
                    yield held
                window.unit, window.unit_index = unit.name, index
                held, index = window, index + 1
        assert held is not None, f"unit {unit.name} has no input"  # every input yields a window or its reject
        held.unit_last = True
        yield held

    def _input_windows(self, source: str) -> Iterator[PageWindow]:
        """The windows of one input, ending with its reject if it fails as a whole or part-way (e.g. an
        unreadable page cache entry): caught here, not by Stage, so the windows already out stand."""
        try:
            yield from self._documents(source)
        except Exception as exc:
            if stops_the_run(exc):
                raise
            yield PageWindow(source, error=Failure(self.name, "library_error", f"{type(exc).__name__}: {exc}"))

    def _documents(self, source: str) -> Iterator[PageWindow]:
        for document in iter_documents(source, max_bytes=int(self.input.max_file_mb * 1e6)):
            metadata = json.dumps(document.metadata, ensure_ascii=False) if document.metadata else ""
            if document.error:
                yield PageWindow(document.path, source_metadata=metadata, error=document.error)
            else:
                yield from self._load(document.path, document.data, metadata)

    def _load(self, path: str, data: bytes, metadata: str) -> list[PageWindow]:
        doc_id = hashlib.sha256(data).hexdigest()
        cached = self.cache.get(doc_id) if self.cache else None
        if cached is not None:  # the same bytes may sit at another path: the path is this one's
            return [dataclasses.replace(w, source_path=path, source_metadata=metadata, from_cache=True) for w in cached]
        try:
            windows = self.worker.call(LoadRequest(path, doc_id, data, metadata, self.settings))
        except WorkerError as exc:  # a timeout, a crash or the memory limit: this document only, never cached
            setting = LIMIT_SETTINGS.get(type(exc))
            reason = f"{exc} ({setting})" if setting else str(exc)
            return [PageWindow(path, doc_id, source_metadata=metadata, error=Failure("load", exc.kind, reason))]
        for window in windows:  # here, not in the worker: its models would count against the memory limit
            window.language = window_language(window.texts)
        if self.cache:
            self.cache.put(doc_id, windows)
        return windows
