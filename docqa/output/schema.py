"""The dataset's schema, written down once: the Hugging Face features of a row, what each column means,
and how an annotated window becomes a row, a reject or dropped-pair rows."""

from __future__ import annotations

import dataclasses
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from docqa.quality.verify import RUBRIC_WEIGHTS
from docqa.records import AnnotatedWindow, Reject

SPLITS = ("train", "test")
SCHEMA_VERSION = 2  # of the rows below: raised when a column is added, removed or changes meaning


def pipeline_version() -> str:
    """The installed version of this pipeline, recorded with every dataset it writes."""
    try:
        return importlib.metadata.version("docqa-pipeline")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "images": datasets.List(datasets.Image()),
        "texts": datasets.List(
            {
                "user": datasets.Value("string"),
                "assistant": datasets.Value("string"),
                "source": datasets.Value("string"),
                "origin": datasets.Value("string"),
            }
        ),
        "grounding": datasets.List(
            {
                "support": datasets.Value("float32"),
                "page": datasets.Value("int32"),
                "boxes": datasets.List(datasets.List(datasets.Value("float32"))),
            }
        ),
        "checks": datasets.List(
            {
                "roundtrip_answer": datasets.Value("string"),
                "judge": {
                    **{name: datasets.Value("int32") for name in RUBRIC_WEIGHTS},
                    "score": datasets.Value("float32"),
                },
            }
        ),
        "doc_id": datasets.Value("string"),
        "source_path": datasets.Value("string"),
        "page_count": datasets.Value("int32"),
        "pages": datasets.List(datasets.Value("int32")),
        "text_sources": datasets.List(datasets.Value("string")),
        "language": datasets.Value("string"),
        "ocr_engine": datasets.Value("string"),
        "source_metadata": datasets.Value("string"),
        "prompt_id": datasets.Value("string"),
        "prompt_sha256": datasets.Value("string"),
        "prompt_tokens": datasets.Value("int32"),
        "document_tokens_dropped": datasets.Value("int32"),
        "model": datasets.Value("string"),
        "temperature": datasets.Value("float64"),
        "top_p": datasets.Value("float64"),
        "max_tokens": datasets.Value("int32"),
        "seed": datasets.Value("int64"),
        "finish_reason": datasets.Value("string"),
    }
)

COLUMN_DESCRIPTIONS = {
    "id": "`<doc_id[:24]>-<window>`: the same for a window across reruns and regenerations",
    "images": "page images of the example, in page order (at most 4 consecutive pages of one PDF)",
    "texts": "QA pairs: `user` is the question, `assistant` the answer, `source` the PDF and pages, `origin` what "
    "wrote the pair: `llm` (the model, from the page text), or the PDF's structure, the answer printed on the page "
    "by construction: `table` (a cell, by its column header and row label), `form` (a filled form field, by its "
    "label; check boxes as Yes/No) or `key_value` (a line such as 'Invoice date: 12 March 2024')",
    "grounding": "per QA pair, as in `texts`: `support`, how well the page text supports the answer (1.0: it "
    "occurs verbatim; 1.0 for structure pairs, read where their boxes are); `page`, the index in `images` of "
    "the page that prints it (-1: not found); `boxes`, "
    "`[x0, y0, x1, y1]` in pixels of that image, one per line of text where it is printed",
    "checks": "per QA pair, as in `texts`: `roundtrip_answer`, the model's own answer to the question from the page "
    "text (null: the round trip was off); `judge`, the judge's scores from 1 to 5 per rubric and their weighted "
    "`score` from 0 to 1 (null: the judge was off)",
    "doc_id": "sha256 of the PDF's bytes",
    "source_path": "where the PDF was read from, as `output.source_paths` records it (see the card's Source section)",
    "page_count": "pages in the whole PDF",
    "pages": "0-based numbers of the pages in `images`",
    "text_sources": "per page, where the text given to the LLM came from: `layer` (the PDF's) or `ocr`",
    "language": "ISO 639-1 code of the language of the pages' text (`fr`), as identified by lingua; empty when "
    "the text is too short or too mixed to tell",
    "ocr_engine": "the OCR engine and language data, when a page was OCRed (empty otherwise)",
    "source_metadata": "JSON metadata that came with the PDF (a webdataset sample's .json), or empty",
    "prompt_id": "prompt template id and version (`prompts/<prompt_id>.yaml`)",
    "prompt_sha256": "sha256 of the prompt template file",
    "prompt_tokens": "tokens of the prompt sent to the model",
    "document_tokens_dropped": "tokens of page text cut from the end to fit the context (0: nothing cut)",
    "model": "the model that wrote the QA pairs",
    "temperature": "sampling temperature",
    "top_p": "nucleus sampling threshold",
    "max_tokens": "generation budget",
    "seed": "engine seed",
    "finish_reason": "why generation stopped (`stop`: the JSON was complete)",
}


@dataclass
class DroppedPairRow:
    """One row of dropped/: a QA pair the engine wrote that is not in the dataset, and why."""

    doc_id: str
    source_path: str
    pages: list[int]
    question: str
    answer: str
    reason: str
    support: float
    about: str  # what counts of `reason` are broken down by: the eval set, the kinds of personal data, a language
    detail: str  # the particulars: the eval row and its hash distance, the languages compared
    origin: str  # llm, table, form or key_value (see the `texts` column)


@dataclass
class RunInfo:
    """What every row records about the run that made it."""

    temperature: float
    top_p: float
    max_tokens: int
    seed: int


def dataset_row(window: AnnotatedWindow, run: RunInfo, source_path: str) -> dict[str, Any]:
    """The row of a window; `source_path` is its path as recorded (`docqa.output.provenance`)."""
    pages = f"{window.pages[0] + 1}" if len(window.pages) == 1 else f"{window.pages[0] + 1}-{window.pages[-1] + 1}"
    source = f"{Path(source_path).name} p. {pages}"
    return {
        "id": f"{window.doc_id[:24]}-{window.window}",
        "images": [{"bytes": image, "path": None} for image in window.images],
        "texts": [{"user": p.question, "assistant": p.answer, "source": source, "origin": p.origin} for p in window.qa],
        "grounding": [{"support": p.support, "page": p.page, "boxes": p.boxes} for p in window.qa],
        "checks": [
            {"roundtrip_answer": p.roundtrip_answer, "judge": dataclasses.asdict(p.judge) if p.judge else None}
            for p in window.qa
        ],
        "doc_id": window.doc_id,
        "source_path": source_path,
        "page_count": window.page_count,
        "pages": window.pages,
        "text_sources": window.text_sources,
        "language": window.language,
        "ocr_engine": window.ocr_engine,
        "source_metadata": window.source_metadata,
        "prompt_id": window.prompt_id,
        "prompt_sha256": window.prompt_sha256,
        "prompt_tokens": len(window.prompt_token_ids),
        "document_tokens_dropped": window.document_tokens_dropped,
        "model": window.model,
        "temperature": run.temperature,
        "top_p": run.top_p,
        "max_tokens": run.max_tokens,
        "seed": run.seed,
        "finish_reason": window.finish_reason,
    }


def reject_of(window: AnnotatedWindow) -> Reject:
    failure = window.error
    return Reject(
        window.doc_id, window.source_path, window.pages, failure.stage, failure.kind, failure.reason, failure.about
    )


