"""Records that cross stage boundaries, and their Arrow schemas.

A PDF flows through the stages as a growing record, one type per boundary:

    SourceDocument --load--> PageWindow --prompt--> PromptedWindow --generate--> GeneratedWindow
        --parse/filter--> AnnotatedWindow --writer--> a dataset row or a reject row

A window is at most `render.max_pages_per_example` consecutive pages of one document: one example in
the dataset. A record whose `error` is set (a `Failure`: the stage, a kind to group by, the reason) has
failed; later stages pass it through untouched and the writer puts it in the rejects table. The Arrow schema of each record is derived from
its fields, so it is written down once, here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import pyarrow as pa


@dataclass
class Failure:
    """Why a record produced no example. `kind` is a short, stable snake_case category to group and count
    rejects by (not_a_pdf, encrypted, timeout, no_usable_text, not_json, no_pair_kept, ...); `reason` is
    the sentence for a person, with the particulars (page numbers, the library's message)."""

    stage: str  # load, prompt, generate, parse, filter, dedup or pipeline
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.stage}: {self.reason}"


def no_pair_kept(stage: str, dropped: list[DroppedPair]) -> Failure:
    """The failure of a window whose every QA pair was dropped, with the count per drop reason."""
    counts = Counter(d.reason for d in dropped)
    return Failure(stage, "no_pair_kept", "no QA pair kept (" + ", ".join(f"{r}: {n}" for r, n in counts.items()) + ")")


@dataclass
class SourceDocument:
    source_path: str


@dataclass
class PageWords:
    """The words printed on one page, in reading order, with their boxes in pixels of the page image."""

    text: list[str] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)  # [x0, y0, x1, y1] per word


@dataclass
class StageCost:
    """What one stage spent on a record: its share of the batch's CPU and GPU seconds (docqa.runtime.stage)."""

    stage: str
    cpu_s: float = 0.0
    gpu_s: float = 0.0


@dataclass
class PageWindow:
    source_path: str
    doc_id: str = ""  # sha256 of the file's bytes; empty only when the file cannot be read
    page_count: int = 0  # pages in the whole document
    window: int = 0  # index of this window within the document
    pages: list[int] = field(default_factory=list)  # 0-based page numbers in the document
    images: list[bytes] = field(default_factory=list)  # encoded page images, one per page
    texts: list[str] = field(default_factory=list)  # page texts, one per page
    text_sources: list[str] = field(default_factory=list)  # where each text came from: "layer" or "ocr"
    words: list[PageWords] = field(default_factory=list)  # the words of each page, for answer localisation
    ocr_engine: str = ""  # the OCR engine and its language data, when any page was OCRed
    source_metadata: str = ""  # JSON metadata that came with the document (a PDFA sample's .json)
    from_cache: bool = False  # pages and texts came from the page cache, not from rendering
    unit: str = ""  # the input unit (a PDF or a tar shard) this came from, as the run scheduled it
    unit_index: int = 0  # this record's place among its unit's records, from 0
    unit_last: bool = False  # the unit's last record: the unit is complete once it and every lower index arrived
    costs: list[StageCost] = field(default_factory=list)  # one per stage that processed this record
    error: Failure | None = None  # set when this window failed


@dataclass
class PromptedWindow(PageWindow):
    prompt_id: str = ""
    prompt_sha256: str = ""  # hash of the template file the prompt was built from
    prompt_token_ids: list[int] = field(default_factory=list)  # exactly what the engine is given
    document_tokens: int = 0  # tokens of page text before any cut
    document_tokens_dropped: int = 0  # tokens cut from the end of the page text to fit the context


@dataclass
class GeneratedWindow(PromptedWindow):
    model: str = ""
    completion: str = ""
    finish_reason: str = ""
    output_tokens: int = 0


@dataclass
class QAPair:
    question: str
    answer: str
    support: float = 0.0  # how well the window's text supports the answer (docqa.quality.grounding.support_score)
    page: int = -1  # index in the window's images of the page that prints the answer; -1: not found
    boxes: list[list[float]] = field(default_factory=list)  # [x0, y0, x1, y1] in pixels of that image


@dataclass
class DroppedPair:
    question: str
    answer: str
    reason: str
    support: float = 0.0


@dataclass
class AnnotatedWindow(GeneratedWindow):
    qa: list[QAPair] = field(default_factory=list)  # pairs that passed every filter
    dropped: list[DroppedPair] = field(default_factory=list)  # pairs a filter rejected, with its reason


@dataclass
class Reject:
    """One rejects-table row: a document (or one window of it) that produced no example."""

    doc_id: str
    source_path: str
    pages: list[int]
    stage: str
    kind: str
    reason: str


@dataclass
class DedupKey:
    """One row of the deduplication's grouping (`docqa.quality.dedup`): an item, a document or a QA pair, under
    one key it shares with the items it may repeat: its identity (a document's bytes, a pair's folded text) or
    one band of its MinHash signature."""

    key: bytes
    order: int  # the item's place in input order (docqa.quality.dedup.order_of)
    doc_id: str = ""  # documents
    source_path: str = ""  # documents
    signature: bytes = b""  # documents, under a band key: the whole signature, to check candidates
    question: str = ""  # pairs, under a band key: the folded question
    answer: str = ""  # pairs, under a band key: the folded answer


@dataclass
class DedupLink:
    """What one group of `DedupKey` rows found: a document that is another's bytes under a later path
    (`copy`), two near-copy documents (`near_copy`), a pair said again word for word (`duplicate`), or two
    pairs near each other (`near_pair`: dropped or not once the earlier pairs are settled)."""

    kind: str
    order: int  # the later item (copy, duplicate) or one of the two (near_copy, near_pair)
    other: int = 0  # near_pair: the other pair's order
    doc_id: str = ""  # copy, near_copy
    other_doc_id: str = ""  # near_copy
    source_path: str = ""  # copy: the copy's path
    first_path: str = ""  # copy: the path the bytes were first read from


R = TypeVar("R")

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
}


def _arrow_type(tp: Any) -> pa.DataType:
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _arrow_type(inner)
    if origin is list:
        return pa.list_(_arrow_type(typing.get_args(tp)[0]))
    if dataclasses.is_dataclass(tp):
        return pa.struct([pa.field(f, t) for f, t in _field_types(tp).items()])
    raise TypeError(f"no Arrow type for {tp!r}")


@cache
def _field_types(cls: type) -> dict[str, pa.DataType]:
    hints = typing.get_type_hints(cls)
    return {f.name: _arrow_type(hints[f.name]) for f in dataclasses.fields(cls)}


@cache
def arrow_schema(cls: type) -> pa.Schema:
    return pa.schema([pa.field(name, t) for name, t in _field_types(cls).items()])


@cache
def _nested_record_types(cls: type) -> dict[str, type]:
    """Fields that hold a record or a list of records, e.g. AnnotatedWindow.qa -> QAPair, .error -> Failure."""
    nested = {}
    for name, tp in typing.get_type_hints(cls).items():
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (list, typing.Union, types.UnionType) and dataclasses.is_dataclass(args[0]):
            nested[name] = args[0]
        elif dataclasses.is_dataclass(tp):
            nested[name] = tp
    return nested


def from_row(cls: type[R], row: dict[str, Any]) -> R:
    nested = _nested_record_types(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = row[f.name]
        if f.name in nested and isinstance(value, list):
            value = [from_row(nested[f.name], item) for item in value]
        elif f.name in nested and value is not None:
            value = from_row(nested[f.name], value)
        values[f.name] = value
    return cls(**values)


def to_row(record: Any) -> dict[str, Any]:
    row = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            value = [to_row(item) for item in value]
        elif dataclasses.is_dataclass(value):
            value = to_row(value)
        row[f.name] = value
    return row


def to_table(cls: type, records: list[Any]) -> pa.Table:
    return pa.Table.from_pylist([to_row(r) for r in records], schema=arrow_schema(cls))


def from_table(cls: type[R], table: pa.Table) -> list[R]:
    return [from_row(cls, row) for row in table.to_pylist()]


def extend(cls: type[R], record: Any, **values: Any) -> R:
    """Promote a record to the next boundary's type, keeping its fields and adding `values`."""
    kept = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    return cls(**kept, **values)
