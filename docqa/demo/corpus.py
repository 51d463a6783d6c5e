"""Built-in corpus of small, realistic sample PDFs.

The corpus exists so that `make dataset` runs end to end on a fresh machine
without user-supplied documents, and so that tests work on documents whose
content is known (see SAMPLE_FACTS). The four documents cover common layouts:
a multi-page report with a ruled table, a fillable form, an invoice and a
two-column article. Everything is drawn with PyMuPDF's built-in fonts and
saved with fixed metadata, so the output is byte-for-byte deterministic.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pymupdf

from docqa.demo.article import build_article
from docqa.demo.form import build_form
from docqa.demo.invoice import build_invoice
from docqa.demo.layout import FIXED_DATE
from docqa.demo.report import build_report

# Exact strings that appear in each document's text, for tests.
SAMPLE_FACTS: dict[str, list[str]] = {
    "report.pdf": ["Northwind Ferries", "EUR 184.6 million", "3.5 %", "14 March 2023",
                   "Margit Halvorsen", "EUR 0.42 per share"],
    "form.pdf": ["Seasonal Berth Permit", "Jonas Lindqvist", "Sea Lark", "EM-4471"],
    "invoice.pdf": ["INV-2024-0187", "Brightwater Office Supplies Ltd", "2,311.70", "462.34",
                    "EUR 2,774.04"],
    "article.pdf": ["Ines Vasquez", "42 recorders", "312,480 recordings", "91.4 %"],
}




# File name -> (document title for the metadata, builder).
DOCUMENTS: dict[str, tuple[str, Callable[[], pymupdf.Document]]] = {
    "report.pdf": ("Northwind Ferries Annual Report 2023", build_report),
    "form.pdf": ("Seasonal Berth Permit Application 2024", build_form),
    "invoice.pdf": ("Invoice INV-2024-0187", build_invoice),
    "article.pdf": ("Low-Cost Acoustic Monitoring of Urban Bat Activity", build_article),
}


def write_sample_corpus(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write the sample PDFs into out_dir and return their paths, sorted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, (title, build) in DOCUMENTS.items():
        doc = build()
        # Fixed dates and no new file ID keep the bytes identical from run to run; the creator is the
        # corpus's first module name, kept so that document ids (sha256 of the bytes) never change.
        doc.set_metadata({"title": title, "author": "pipeline sample corpus",
                          "creator": "pipeline.samples", "producer": "PyMuPDF",
                          "creationDate": FIXED_DATE, "modDate": FIXED_DATE})
        path = out_dir / file_name
        doc.save(path, garbage=3, deflate=True, no_new_id=True)
        doc.close()
        paths.append(path)
    return sorted(paths)
