"""Hostile PDFs, generated: the failure modes a web-crawled corpus is full of, made by the project's own code.

Tests run the ingestion stages over these so they do not depend on anyone else's files. Each file is
named after what is wrong with it; `HOSTILE_CASES` says what the pipeline must do with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import pymupdf

from docqa.demo.corpus import write_sample_corpus

# The limits HOSTILE_CASES hold for: small, so the bombs hit them quickly. The content-stream bomb runs for
# minutes, the font bomb asks for 3 GiB; a good page loads in under a second, a scanned one in a few.
HOSTILE_LIMITS = {"document_memory_gb": 1, "document_timeout_s": 10}

# file name -> what must happen: "text" (kept, with text), "ocr" (kept, text from OCR) or the reject reason's start
HOSTILE_CASES: dict[str, str] = {
    "font-decompression-bomb.pdf": "load: exceeded the memory limit of 1 GiB (limits.document_memory_gb)",
    "content-stream-bomb.pdf": "load: timed out after 10 s (limits.document_timeout_s)",
    # MuPDF decodes an image at the resolution it is drawn at and pads missing data: the page is kept
    "huge-image.pdf": "text",
    # MuPDF stops drawing a form that draws itself: the page is kept
    "self-drawing-form.pdf": "text",
    "deep-nesting.pdf": "load: page 1: RuntimeError: code=5: too many nested graphics states",
    "huge-page.pdf": "text",
    "page-tree-cycle.pdf": "load: page 2: ",
    "truncated.pdf": "load: ",
    "encrypted.pdf": "load: encrypted",
    "encrypted-known-password.pdf": "text",
    "scanned.pdf": "ocr",
    "png-named-pdf.pdf": "load: not a PDF",
    "empty.pdf": "load: not a PDF",
    "zero-pages.pdf": "load: no pages",
}
KNOWN_PASSWORD = "sesame"
SCANNED_TEXT = "Quarterly inspection report. The north pier was repaired in April."


def _pdf_from_objects(objects: list[str]) -> bytes:
    """A PDF file with the given objects (numbered from 1) and a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def repeated_flate(block: bytes, count: int) -> bytes:
    """A zlib (FlateDecode) stream of `block` repeated `count` times, made without compressing it all.

    After a full flush the compressor starts afresh, so every further copy of `block` compresses to the same
    bytes: they are computed once and repeated. A 3 GiB stream takes a second to write and 3 MB to keep.
    """
    compressor = zlib.compressobj(9)
    out = bytearray(compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH))
    copy = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(block)
    for _ in range(count - 1):
        out += copy
        checksum = zlib.adler32(block, checksum)
    # the compressor saw `block` twice: its closing checksum is replaced by that of the whole stream
    out += compressor.flush()[:-4] + checksum.to_bytes(4, "big")
    return bytes(out)


def _stream(entries: str, data: bytes) -> str:
    """A PDF stream object holding compressed `data`; latin-1 carries its bytes through `_pdf_from_objects`."""
    return f"<< {entries} /Filter /FlateDecode /Length {len(data)} >>\nstream\n{data.decode('latin-1')}\nendstream"


def _content(operators: str, entries: str = "") -> str:
    """An uncompressed stream object (a content stream, or a form with `entries`)."""
    return f"<< {entries} /Length {len(operators)} >>\nstream\n{operators}\nendstream"


HOSTILE_PAGE_TEXT = "BT /F1 18 Tf 72 700 Td (A page of text beside a hostile object.) Tj ET"


def _hostile_page(contents: str, resources: str, *objects: str) -> bytes:
    """A one-page PDF whose page shows `HOSTILE_PAGE_TEXT`, then `contents`; `objects` are numbered from 6."""
    return _pdf_from_objects(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {contents} /Resources {resources} >>",
            _content(HOSTILE_PAGE_TEXT),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *objects,
        ]
    )


def font_bomb(inflated_bytes: int = 3 << 30) -> bytes:
    """An embedded TrueType font whose stream inflates to `inflated_bytes` of zeros (3 MB to 3 GiB by
    default): MuPDF reads a font whole."""
    font = "<< /Type /Font /Subtype /TrueType /BaseFont /Bomb /FirstChar 32 /LastChar 126 /FontDescriptor 7 0 R >>"
    descriptor = (
        "<< /Type /FontDescriptor /FontName /Bomb /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 "
        "/Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 8 0 R >>"
    )
    chunk = 1 << 20
    return _hostile_page(
        "[4 0 R 9 0 R]",
        "<< /Font << /F1 5 0 R /F2 6 0 R >> >>",
        font,
        descriptor,
        _stream("", repeated_flate(bytes(chunk), inflated_bytes // chunk)),
        _content("BT /F2 18 Tf 72 600 Td (Set in the bomb font.) Tj ET"),
    )


def _content_stream_bomb() -> bytes:
    """A 1 MB content stream that inflates to 1 GiB of `q Q` operators, each one drawn and extracted."""
    operators = repeated_flate(b"q Q " * (1 << 18), 1 << 10)
    return _hostile_page("[4 0 R 6 0 R]", "<< /Font << /F1 5 0 R >> >>", _stream("", operators))


def _huge_image() -> bytes:
    """A 60000 x 60000 RGB image (10.8 GB of pixels declared) with 1 MiB of data."""
    image = "/Type /XObject /Subtype /Image /Width 60000 /Height 60000 /ColorSpace /DeviceRGB /BitsPerComponent 8"
    return _hostile_page(
        "[4 0 R 7 0 R]",
        "<< /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >>",
        _stream(image, repeated_flate(bytes(1 << 20), 1)),
        _content("q 400 0 0 400 100 100 cm /X1 Do Q"),
    )


def _self_drawing_form() -> bytes:
    """A form XObject whose content draws the form itself: endless recursion, unless the reader stops it."""
    form = "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /X1 6 0 R >> >>"
    resources = "<< /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >>"
    return _hostile_page("[4 0 R 7 0 R]", resources, _content("/X1 Do", form), _content("/X1 Do"))


def _deep_nesting(depth: int = 10_000) -> bytes:
    """Graphics states saved `depth` deep around the text (`q q q ... Q Q Q`)."""
    nested = "q " * depth + HOSTILE_PAGE_TEXT + " Q" * depth
    return _hostile_page("6 0 R", "<< /Font << /F1 5 0 R >> >>", _content(nested))


def _page_tree_cycle() -> bytes:
    content = "BT /F1 18 Tf 72 700 Td (The first page is fine; the second is the page tree itself.) Tj ET"
    return _pdf_from_objects(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",  # the second kid is the tree itself
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def _text_page_pdf(text: str, width: float = 595, height: float = 842) -> pymupdf.Document:
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    page.insert_textbox(pymupdf.Rect(72, 72, width - 72, height - 72), text, fontsize=14)
    return doc


def _scanned() -> bytes:
    """An image-only page: the text exists only as pixels, as in a scan."""
    pixmap = _text_page_pdf(SCANNED_TEXT)[0].get_pixmap(dpi=200, colorspace=pymupdf.csGRAY, alpha=False)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, stream=pixmap.tobytes("png"))
    return doc.tobytes(deflate=True)


def _encrypted(user_password: str) -> bytes:
    doc = _text_page_pdf("Minutes of the board meeting. The budget for 2025 was approved unanimously.")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=user_password, owner_pw=user_password + "-owner")


def write_hostile_corpus(out_dir: Path) -> list[Path]:
    """Write every case of `HOSTILE_CASES` into `out_dir`; returns the paths, sorted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = write_sample_corpus(out_dir / "source")[-1].read_bytes()
    huge_text = "A poster-sized page: 200 by 200 inches. Its rendering must be scaled down, not allocated whole."
    makers: dict[str, Callable[[], bytes]] = {
        "font-decompression-bomb.pdf": font_bomb,
        "content-stream-bomb.pdf": _content_stream_bomb,
        "huge-image.pdf": _huge_image,
        "self-drawing-form.pdf": _self_drawing_form,
        "deep-nesting.pdf": _deep_nesting,
        "huge-page.pdf": lambda: _text_page_pdf(huge_text, 14400, 14400).tobytes(),
        "page-tree-cycle.pdf": _page_tree_cycle,
        "truncated.pdf": lambda: report[:400],  # cut inside the first object: nothing can be repaired
        "encrypted.pdf": lambda: _encrypted("a password nobody configured"),
        "encrypted-known-password.pdf": lambda: _encrypted(KNOWN_PASSWORD),
        "scanned.pdf": _scanned,
        "png-named-pdf.pdf": lambda: pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 8, 8), False).tobytes("png"),
        "empty.pdf": lambda: b"",
        "zero-pages.pdf": lambda: _pdf_from_objects(
            ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"]
        ),
    }
    paths = []
    for name, make in makers.items():
        (out_dir / name).write_bytes(make())
        paths.append(out_dir / name)
    return sorted(paths)
