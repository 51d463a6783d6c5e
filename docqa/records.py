"""Records that cross stage boundaries, and their Arrow schemas.

A PDF flows through the stages as a growing record, one type per boundary:

    InputUnit --load--> PageWindow --prompt--> PromptedWindow --generate--> GeneratedWindow
        --parse/filter--> AnnotatedWindow --write parts--> Receipt (to the driver, which commits units)
        ... committed AnnotatedWindows --writer--> a dataset row or a reject row

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
    the sentence for a person, with the particulars (page numbers, the library's message); `about`, where a
    kind has one, is the short value its counts are broken down by (`eval_page`: the eval set;
    `personal_data`: the kinds found), so nothing is ever parsed back out of `reason`."""

    stage: str  # load, prompt, generate, parse, filter, dedup or pipeline
    kind: str
    reason: str
    about: str = ""

    def __str__(self) -> str:
        return f"{self.stage}: {self.reason}"


def no_pair_kept(stage: str, dropped: list[DroppedPair]) -> Failure:
    """The failure of a window whose every QA pair was dropped, with the count per drop reason."""
    counts = Counter(d.reason for d in dropped)
    detail = ", ".join(f"{r}: {n}" for r, n in counts.items()) or "none was written nor read off the pages"
    return Failure(stage, "no_pair_kept", f"no QA pair kept ({detail})")


@dataclass
class SourceDocument:
    """One input (a PDF or a tar shard) handed to the load stage on its own: a unit named by its path."""

    source_path: str


@dataclass
class InputUnit:
    """The unit of work a run schedules, loads and commits as one (docqa.runtime.units): a tar shard, or a
    group of PDFs, in input order. `name` hashes the inputs' paths and content identities."""

    name: str
    sources: list[str] = field(default_factory=list)


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
class EngineTime:
    """How the engine that generated a window spent its time (docqa.generate.meter). Each window carries its
    share of the engine's time since the engine's previous batch ended (the first: since it became ready),
    so that summed over a run's windows, `busy_s / span_s` is the engine's busy share while it had work."""

    engine: str = ""  # host:pid of the process holding the engine; empty: not generated
    ready_at: float = 0.0  # epoch seconds when the engine became ready
    start_s: float = 0.0  # seconds the engine took to start
    span_s: float = 0.0  # this window's share of the time since the engine's previous batch ended
    busy_s: float = 0.0  # of span_s, the time with at least one request in the engine
    most_requests: int = 0  # most requests in the engine at once over that time


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
    language: str = ""  # ISO 639-1 code of the page texts' language (docqa.quality.language); "": undetermined
    structure_pairs: list[QAPair] = field(default_factory=list)  # pairs read off the pages' tables, forms, lines
    ocr_engine: str = ""  # the OCR engine and its language data, when any page was OCRed
    source_metadata: str = ""  # JSON metadata that came with the document (a PDFA sample's .json)
    from_cache: bool = False  # pages and texts came from the page cache, not from rendering
    unit: str = ""  # the name of the input unit (a group of PDFs or a tar shard) this came from
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
class JudgeScores:
    """The judge's scores of one QA pair against its page text, each from 1 (bad) to 5 (good), and their
    weighted mean scaled to 0..1 (docqa.quality.verify.RUBRIC_WEIGHTS)."""

    correctness: int = 0  # the answer is right, by the page text
    training_signal: int = 0  # the pair teaches something worth learning about the page
    question_quality: int = 0  # the question is clear, specific and answerable
    needs_page: int = 0  # the question cannot be answered without this page
    answer_format: int = 0  # the answer is short, complete and well formed
    score: float = 0.0


@dataclass
class PairCheck:
    """What the model said about one QA pair of a window, asked by the generate stage with its own engine
    (docqa.quality.verify): the pair is named by its question and answer as parsed from the completion."""

    question: str
    answer: str
    roundtrip_answer: str | None = None  # the model's answer to the question, from the page text; None: not asked
    judge: JudgeScores | None = None  # None: not judged, or the judge's reply was not the requested JSON
    prompt_tokens: int = 0  # tokens the checks of this pair sent to the model
    output_tokens: int = 0  # and the tokens it wrote back


@dataclass
class GeneratedWindow(PromptedWindow):
    model: str = ""
    completion: str = ""
    finish_reason: str = ""
    output_tokens: int = 0
    checks: list[PairCheck] = field(default_factory=list)  # model checks of the pairs that passed the text filters
    engine_time: EngineTime = field(default_factory=EngineTime)


@dataclass
class QAPair:
    question: str
    answer: str
    support: float = 0.0  # how well the window's text supports the answer (docqa.quality.grounding.support_score)
    page: int = -1  # index in the window's images of the page that prints the answer; -1: not found
    boxes: list[list[float]] = field(default_factory=list)  # [x0, y0, x1, y1] in pixels of that image
    roundtrip_answer: str | None = None  # the model's own answer to the question (docqa.quality.verify)
    judge: JudgeScores | None = None  # the judge's scores, when the judge pass is on
    origin: str = "llm"  # what wrote it: llm, or the page's structure (table, form, key_value: docqa.ingest.structure)


@dataclass
class DroppedPair:
    """A QA pair a filter rejected. `reason` is a short, stable snake_case kind (ungrounded, contaminated,
    personal_data, ...) that counts are kept by; `about` the short value they are broken down by where the
    reason has one (the eval set, the kinds of personal data, the pair's language); `detail` the particulars
    for a person (the eval row and its hash distance)."""

    question: str
    answer: str
    reason: str
    support: float = 0.0
    about: str = ""
    detail: str = ""
    origin: str = "llm"


@dataclass
class AnnotatedWindow(GeneratedWindow):
    qa: list[QAPair] = field(default_factory=list)  # pairs that passed every filter
    dropped: list[DroppedPair] = field(default_factory=list)  # pairs a filter rejected, with its reason


@dataclass
class Receipt:
    """A finished window as the driver sees it once a worker has written it to a part file of the run's
    work folder (docqa.runtime.units): enough to commit its unit, count progress and tell a systemic
    failure (docqa.runtime.faults.LoadFailureGuard); no image or text crosses to the driver."""

    unit: str
    unit_index: int
    unit_last: bool
    part: str  # the part file holding the window, relative to the work folder
    source_path: str
    error: Failure | None = None
    pairs_kept: int = 0
    pairs_dropped: int = 0


@dataclass
class Reject:
    """One rejects-table row: a document (or one window of it) that produced no example."""

    doc_id: str
    source_path: str
    pages: list[int]
    stage: str
    kind: str
    reason: str
    about: str = ""  # as in Failure


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
