"""Hostile PDFs, generated: the failure modes a web-crawled corpus is full of, made by the project's own code.

Tests run the ingestion stages over these so they do not depend on anyone else's files. Each file is
named after what is wrong with it; `HOSTILE_CASES` says what the pipeline must do with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pymupdf

from docqa.demo.corpus import write_sample_corpus

# file name -> what must happen: "text" (kept, with text), "ocr" (kept, text from OCR) or the reject reason's start
HOSTILE_CASES: dict[str, str] = {
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
