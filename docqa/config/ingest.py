"""Settings of docqa/ingest: which PDFs, how pages are rendered, how text is read, and each document's limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from docqa.config.section import Section
from docqa.redaction import SECRET_SOURCES, SECRET_VALUE


class InputConfig(Section):
    paths: list[str] = Field(
        default_factory=list,
        description="What to read: PDF files, folders (searched recursively for *.pdf and *.tar), glob "
        "patterns, fsspec URLs (s3://, gs://, hf://, file://...), `@list.txt` files of such entries, and "
        "webdataset tar shards of <key>.pdf + <key>.json samples (PDFA style). Empty: the built-in sample "
        "corpus is generated under `sample_dir` and used. config.yaml and the card record them as "
        "`output.source_paths` says, URL credentials and query strings removed.",
        json_schema_extra=SECRET_SOURCES,
    )
    passwords: list[str] = Field(
        default_factory=list,
        description="Passwords to try on encrypted PDFs (they are rejected otherwise). Quote numeric ones "
        "(`['0042']`). Never written out: config.yaml records only how many there were.",
        json_schema_extra=SECRET_VALUE,
    )
    max_file_mb: float = Field(200, gt=0, description="Larger files are rejected without being read whole.")
    sample_dir: str = Field(
        "out/sample-corpus", description="Where the built-in sample corpus is written when `paths` is empty."
    )


class RenderConfig(Section):
    dpi: int = Field(150, gt=0, description="Rendering resolution of page images (Docmatix: 150).")
    max_side_px: int = Field(
        2940, gt=0, description="Longest side of a page image in pixels; larger pages are scaled down (Docmatix: 2940)."
    )
    image_format: Literal["png", "jpeg", "webp"] = Field(
        "png",
        description="Encoding of page images: `png` (lossless, as Docmatix), `jpeg` (lossy, fastest) or `webp` "
        "(lossless, about a third of PNG's bytes at about three times its encoding time; see BENCHMARKS.md).",
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality when `image_format` is jpeg.")
    max_pages_per_example: int = Field(
        4, gt=0, description="At most this many pages (images) in one example (Docmatix: 4)."
    )
    long_documents: Literal["split", "skip"] = Field(
        "split",
        description="Documents with more pages than `max_pages_per_example`: `split` them into consecutive "
        "windows, one example each, or `skip` them (rejected with a reason, as Docmatix did).",
    )


class TextConfig(Section):
    ocr: bool = Field(True, description="OCR pages whose text layer is missing or implausible (Tesseract).")
    ocr_languages: list[str] = Field(
        default_factory=lambda: ["eng"],
        description="Tesseract languages to OCR with (each needs Debian's tesseract-ocr-<lang> package).",
    )
    ocr_dpi: int = Field(300, gt=0, description="Resolution pages are rendered at for OCR.")
    min_chars: int = Field(
        20, ge=0, description="A text layer with fewer non-space characters than this on a page counts as missing."
    )


class LimitsConfig(Section):
    document_timeout_s: float = Field(
        120,
        gt=0,
        description="Wall-time limit to open, render, OCR and extract one document. Past it the document is "
        "rejected ('timed out after N s (limits.document_timeout_s)') and not cached, so a rerun with a higher "
        "limit loads it.",
    )
    document_memory_gb: float = Field(
        4,
        gt=0,
        description="Address-space limit (GiB) of the process that loads one document; about 0.5 GiB of it is the "
        "interpreter and PyMuPDF. A document that fails to allocate within it (a decompression bomb, say) is "
        "rejected ('exceeded the memory limit of N GiB (limits.document_memory_gb)'), not cached, and the "
        "process is replaced.",
    )
    max_page_megapixels: float = Field(
        40, gt=0, description="Pixel budget of any page rendering (OCR included); larger renderings are scaled down."
    )
