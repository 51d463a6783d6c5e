"""QA pairs read off a page's own structure: table cells, filled form fields and label/value lines.

A question is phrased from labels printed on the page (a column header and a row label, a form field's
label, the label of a "Label: value" line) by a fixed template, and its answer is the text printed where
those labels point: correct by construction, where an LLM's pair has to be checked. They run in the load
worker, where the PDF is open, and travel with the window (`PageWindow.structure_pairs`), cached with its
pages. Each pair has `origin` `table`, `form` or `key_value`, its page index in the window, the boxes of
its answer in pixels of the page image, and support 1.0 (its answer is what the page shows at those boxes).
Questions are not rephrased by an LLM (not built); the quality stage drops a question asked twice in a
window with different answers (`ambiguous_labels`, `docqa.quality.annotate`).

- Tables: PyMuPDF's `find_tables` (ruled tables: the "lines" strategy, without its layout model, which
  cost about 8 times as much per page on shared/corpus). A cell's text is read from the page's words inside
  the cell, since the table's own text extraction loses spaces. The first row is the header; a table whose
  header has a merged cell (a header on two levels) is skipped, as are merged body cells, empty cells, and
  every column whose header, or row whose label, is empty, holds only stop words or repeats. A cell is asked
  for as "What is the <header> of <row label>?"; in a two-column table whose first row is not a header (see
  `_two_column_header`), each row is a label and its value: "What is the <label>?", a value of at most
  MAX_VALUE_WORDS words (a longer one is a comment on a topic, not the topic's value).
- Form fields: AcroForm widgets. A filled text or choice field is asked for by its label: the words just
  left of it on its line, else the line just above it, else its tooltip, else its name when that is made of
  words; its value must be printed inside the field. A label of stop words only ("To", "From") names nothing
  a question can ask for, so the next of these is tried ("period_from": "What is the period from?"). A check
  box asks 'Is "<label>" checked?' with the words just right of it (else left), within
  CHECK_BOX_LABEL_DISTANCE word heights, as label, answered Yes or No. Radio buttons, signatures and empty
  fields are skipped.
- Label/value lines: a line (words side by side, across text blocks) of the form "Label: value", "Label
  ..... value" (dot leaders) or "Label<wide gap>value" where the value holds a digit (without a colon or
  leaders, only data-like values are trusted: two columns of prose also leave a gap). The label has at most
  MAX_LINE_LABEL_WORDS words, starts with a capital (in scripts with case), is no list item and holds no
  sentence's end; after a mere gap it holds no comma nor colon and does not start like the value (two cells
  of a row). The value has at most MAX_VALUE_WORDS words, and is not prose cut at the line's end (four words
  or more ending in a lowercase word, or a block that goes on). Lines in tables, form fields, headings
  (large type) and the page's running heads and feet are skipped.

Only pages whose text comes from their text layer are read (an OCRed page's words are not the PDF's, and
its form fields and ruling are unreliable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pymupdf

from docqa.quality.folding import folded_text, tokens
from docqa.quality.grounding import STOP_WORDS, line_boxes
from docqa.records import QAPair

# The version of the rules below, part of the page cache's key: raise it with any change to what they read.
STRUCTURE_RULES = 3

MAX_LABEL_WORDS = 6  # a form field's or a table's label; a longer one is a sentence
MAX_LINE_LABEL_WORDS = 4  # a line's label ("Invoice date:"); a longer one is a title or a heading
MAX_VALUE_WORDS = 10  # after a colon or leaders, or in a two-column table; a longer "value" is prose
MAX_GAP_VALUE_WORDS = 4  # after a mere gap, where only short, data-like values are trusted
MAX_LABEL_DISTANCE = 15  # word heights between a field and the label on its line (forms align them in columns)
CHECK_BOX_LABEL_DISTANCE = 3  # a check box's label is printed next to it; further on, it is another field's
MAX_TABLE_LABEL_WORDS = 8  # a column header or a row label
MAX_CELL_WORDS = 20  # a table cell longer than this is prose, not a value to ask for
WIDE_GAP = 1.5  # a gap of this many word heights between two words splits a line into segments
HEADING_HEIGHT = 1.3  # a line whose words are this many times the page's median word height is a heading
RUNNING_MARGIN = 0.06  # share of the page height at its top and bottom left out of label/value lines
LEADERS = re.compile(r"^(?:\.{3,}|…+|_{3,})$")
SENTENCE_END = (".", ",", ";", "!")
BULLETS = "•·‣◦▪–-*"


@dataclass
class Word:
    text: str
    rect: pymupdf.Rect  # in the page's displayed (rotated) frame, in points
    block: int  # PyMuPDF's text block and line numbers
    line: int

    @property
    def height(self) -> float:
        return self.rect.height


def page_structure_pairs(page: pymupdf.Page, words: Iterable[tuple], zoom: float, page_index: int) -> list[QAPair]:
    """The table, form and label/value pairs of one page, in that order. `words` are the page's text-layer
    words as `page.get_text("words")` gives them; `zoom` maps the displayed page to its image's pixels."""
    rotation = page.rotation_matrix
    placed = [Word(w[4], pymupdf.Rect(w[:4]) * rotation, w[5], w[6]) for w in words if w[4].strip()]
    widgets = [(widget, pymupdf.Rect(widget.rect) * rotation) for widget in page.widgets()]
    tables, table_areas = table_pairs(page, placed) if _has_ruling(page) else ([], [])
    taken = table_areas + [rect for _, rect in widgets]
    margin = RUNNING_MARGIN * page.rect.height  # running heads and feet ("Form 1040 (2010)   Page 2")
    outside = [w for w in placed if not _inside_any(w.rect, taken) and margin < w.rect.y0 and w.rect.y1 < page.rect.height - margin]
    found = [
        *((pair, "table") for pair in tables),
        *((pair, "form") for pair in form_pairs(widgets, placed)),
        *((pair, "key_value") for pair in key_value_pairs(outside)),
    ]
    to_pixels = pymupdf.Matrix(zoom, zoom)
    return [
        QAPair(question, answer, 1.0, page_index, line_boxes([list(r * to_pixels) for r in rects]), origin=origin)
        for (question, answer, rects), origin in found
    ]


# --- reading words ---------------------------------------------------------------------------------

def _rows(words: list[Word]) -> list[list[Word]]:
    """Words grouped into visual lines (overlapping vertically by half), each sorted left to right."""
    rows: list[tuple[pymupdf.Rect, list[Word]]] = []
    for word in sorted(words, key=lambda w: (w.rect.y0 + w.rect.y1) / 2):
        if rows:
            box, row = rows[-1]
            overlap = min(box.y1, word.rect.y1) - max(box.y0, word.rect.y0)
            if overlap >= 0.5 * min(box.height, word.height):
                row.append(word)
                rows[-1] = (box | word.rect, row)
                continue
        rows.append((pymupdf.Rect(word.rect), [word]))
    return [sorted(row, key=lambda w: w.rect.x0) for _, row in rows]


def _text(words: list[Word]) -> str:
    return " ".join(w.text for row in _rows(words) for w in row)


def _segments(row: list[Word]) -> list[list[Word]]:
    """A visual line cut at wide gaps and at dot leaders (which are dropped)."""
    segments: list[list[Word]] = [[]]
    for word in row:
        current = segments[-1]
        if LEADERS.match(word.text):
            if current:
                segments.append([])
            continue
        if current and word.rect.x0 - current[-1].rect.x1 > WIDE_GAP * max(word.height, current[-1].height):
            segments.append([])
        segments[-1].append(word)
    return [s for s in segments if s]


def _inside(rect: pymupdf.Rect, area: pymupdf.Rect) -> bool:
    """Whether the centre of `rect` lies in `area` (plain arithmetic: called for every word and cell)."""
    x, y = (rect.x0 + rect.x1) / 2, (rect.y0 + rect.y1) / 2
    return area.x0 <= x <= area.x1 and area.y0 <= y <= area.y1


def _inside_any(rect: pymupdf.Rect, areas: list[pymupdf.Rect]) -> bool:
    return any(_inside(rect, area) for area in areas)


def _names_something(label: str) -> bool:
    """Whether the label holds a word of its own: "To" or "From" alone (a period's two ends) ask nothing."""
    return any(any(c.isalpha() for c in token) and token not in STOP_WORDS for token in tokens(label))


def _label(words: list[Word]) -> str:
    """The words as a label: without the colon, leaders or arrow that lead to the value."""
    return _text(words).strip().rstrip(" :.…_▶►→").strip()


def _whole_block(run: list[Word], words: list[Word]) -> bool:
    """Whether `run` is all of its text block: a label printed on its own, not part of a sentence that
    goes on ("Married filing jointly (even if only one had" + "income)")."""
    blocks = {w.block for w in run}
    return len(blocks) == 1 and sum(w.block in blocks for w in words) == len(run)


def _block_goes_on(run: list[Word], words: list[Word]) -> bool:
    """Whether the text block of `run`'s last word has a line after it that is not a "Label:" line."""
    last = run[-1]
    later = [w for w in words if w.block == last.block and w.line > last.line]
    if not later:
        return False
    next_line = [w for w in later if w.line == min(x.line for x in later)]
    return not any(w.text.endswith(":") for w in next_line[:MAX_LINE_LABEL_WORDS])


def _question(label: str) -> str:
    """A label that is itself a question ("Do you need shore power?") is asked as printed."""
    return label if label.endswith("?") else f"What is the {label}?"


# --- tables ----------------------------------------------------------------------------------------

def _has_ruling(page: pymupdf.Page) -> bool:
    """Whether the page draws anything: without lines or rectangles the "lines" strategy finds no table,
    and `find_tables` costs tens of milliseconds even then."""
    return bool(page.get_cdrawings())


def table_pairs(page: pymupdf.Page, words: list[Word]) -> tuple[list[tuple[str, str, list[pymupdf.Rect]]], list[pymupdf.Rect]]:
    """The pairs of the page's ruled tables, and every table's area."""
    found = page.find_tables(strategy="lines", use_layout=False)
    pairs, areas = [], []
    for table in found.tables:
        area = pymupdf.Rect(table.bbox)
        areas.append(area)
        in_table = [w for w in words if _inside(w.rect, area)]
        grid = []
        for row in table.rows:  # words sorted into rows first: a table of thousands of cells stays cheap
            box = pymupdf.Rect(row.bbox)
            in_row = [w for w in in_table if _inside(w.rect, box)]
            grid.append([_cell(cell, in_row) for cell in row.cells])
        pairs += _table_questions(grid, _two_column_header(page, table))
    return pairs, areas


Cell = tuple[str, list[Word]] | None  # a cell's text and words; None: merged into its neighbour


def _cell(bbox: tuple | None, words: list[Word]) -> Cell:
    if bbox is None:
        return None
    inside = [w for w in words if _inside(w.rect, pymupdf.Rect(bbox))]
    return _text(inside), inside


def _unique_labels(labels: list[str | None], max_words: int = MAX_TABLE_LABEL_WORDS) -> list[bool]:
    """Which labels can stand in a question: present, naming something, short, said once (folded)."""
    folded = [folded_text(label) if label else "" for label in labels]
    return [
        bool(label) and _names_something(label) and len(label.split()) <= max_words and folded.count(f) == 1
        for label, f in zip(labels, folded)
    ]


def _table_questions(grid: list[list[Cell]], has_header: bool) -> list[tuple[str, str, list[pymupdf.Rect]]]:
    if not grid or len(grid[0]) < 2:
        return []
    if not has_header:
        if len(grid[0]) != 2:
            return []
        return _label_value_rows(grid)
    header, body = grid[0], grid[1:]
    if len(body) < 1 or any(cell is None for cell in header):
        return []  # a header on two levels, whose spans are not read
    headers = [cell[0] for cell in header]
    row_labels = [row[0][0] if row[0] else None for row in body]
    usable_columns = _unique_labels(headers)
    usable_rows = _unique_labels(row_labels)
    pairs = []
    for r, row in enumerate(body):
        if not usable_rows[r]:
            continue
        for c in range(1, len(row)):
            cell = row[c]
            if not usable_columns[c] or cell is None or not cell[0] or len(cell[0].split()) > MAX_CELL_WORDS:
                continue
            question = f"What is the {_label(header[c][1])} of {_label(row[0][1])}?"
            pairs.append((question, cell[0], [w.rect for w in cell[1]]))
    return pairs


def _label_value_rows(grid: list[list[Cell]]) -> list[tuple[str, str, list[pymupdf.Rect]]]:
    labels = [row[0][0] if row[0] else None for row in grid]
    usable = _unique_labels(labels, MAX_LABEL_WORDS)
    if sum(usable) < len(grid) / 2:
        return []  # mostly numbers or repeats in the first column: not a table of labels and values
    pairs = []
    for row, ok in zip(grid, usable):
        value = row[1]
        if ok and value is not None and value[0] and len(value[0].split()) <= MAX_VALUE_WORDS:  # longer: a comment
            pairs.append((_question(_label(row[0][1])), value[0], [w.rect for w in value[1]]))
    return pairs


def _two_column_header(page: pymupdf.Page, table) -> bool:
    """Whether a table's first row is a header. With three or more columns it is taken to be (PyMuPDF's
    convention, and the common case); a two-column table is read as labels and values unless its first row
    is set apart: bold where the second row is not, or holding no digit where most values do."""
    if table.col_count != 2:
        return True
    rows = table.rows
    if len(rows) < 2:
        return False
    if _bold(page, rows[0].bbox) and not _bold(page, rows[1].bbox):
        return True
    values = [row[1] or "" for row in table.extract()]
    with_digits = [any(c.isdigit() for c in v) for v in values[1:]]
    return not any(c.isdigit() for c in values[0]) and sum(with_digits) > len(with_digits) / 2


def _bold(page: pymupdf.Page, bbox: tuple) -> bool:
    spans = [
        span
        for block in page.get_text("dict", clip=pymupdf.Rect(bbox))["blocks"]
        for line in block.get("lines", ())
        for span in line["spans"]
        if span["text"].strip()
    ]
    return bool(spans) and all(span["flags"] & pymupdf.TEXT_FONT_BOLD or "Bold" in span["font"] for span in spans)


# --- form fields -----------------------------------------------------------------------------------

CHOICE_TYPES = (pymupdf.PDF_WIDGET_TYPE_TEXT, pymupdf.PDF_WIDGET_TYPE_COMBOBOX, pymupdf.PDF_WIDGET_TYPE_LISTBOX)
FIELD_NAME_WORDS = re.compile(r"[A-Za-z]+(?:[ _-][A-Za-z]+)*")


def form_pairs(widgets: list[tuple[pymupdf.Widget, pymupdf.Rect]], words: list[Word]) -> list[tuple[str, str, list[pymupdf.Rect]]]:
    rects = [rect for _, rect in widgets]
    printed = [w for w in words if not _inside_any(w.rect, rects)]  # labels are never inside a field
    pairs = []
    for widget, rect in widgets:
        if widget.field_type == pymupdf.PDF_WIDGET_TYPE_CHECKBOX:
            # A check box's label may be a short statement ("The vessel is insured").
            label = _beside(rect, printed, True, MAX_TABLE_LABEL_WORDS, CHECK_BOX_LABEL_DISTANCE) or _beside(
                rect, printed, False, MAX_TABLE_LABEL_WORDS, CHECK_BOX_LABEL_DISTANCE
            )
            if label:
                checked = widget.field_value not in (False, None, "", "Off")
                pairs.append((f'Is "{label}" checked?', "Yes" if checked else "No", [rect]))
        elif widget.field_type in CHOICE_TYPES:
            value = str(widget.field_value or "").strip()
            shown = [w for w in words if _inside(w.rect, rect)]
            if not value or folded_text(_text(shown)) != folded_text(value):
                continue  # empty, or not what the page shows
            others = [r for r in rects if r is not rect]
            label = _beside(rect, printed, right=False) or _above(rect, printed, others) or _named(widget)
            if label:
                pairs.append((_question(label), _text(shown), [w.rect for w in shown]))
    return pairs


def _beside(
    rect: pymupdf.Rect,
    words: list[Word],
    right: bool,
    max_words: int = MAX_LABEL_WORDS,
    distance: float = MAX_LABEL_DISTANCE,
) -> str:
    """The words on the field's line just left (or right) of it, up to the first wide gap."""
    middle = (rect.y0 + rect.y1) / 2
    on_line = [w for w in words if w.rect.y0 <= middle <= w.rect.y1]
    side = [w for w in on_line if (w.rect.x0 >= rect.x1 - 1 if right else w.rect.x1 <= rect.x0 + 1)]
    side.sort(key=lambda w: w.rect.x0, reverse=not right)
    run: list[Word] = []
    edge = rect.x1 if right else rect.x0
    for word in side:
        gap = word.rect.x0 - edge if right else edge - word.rect.x1
        allowed = (distance if not run else WIDE_GAP) * word.height
        if gap > allowed or len(run) > max_words:
            break
        run.append(word)
        edge = word.rect.x1 if right else word.rect.x0
    label = _label(run)
    clear = run and _whole_block(run, words) and _names_something(label) and len(label.split()) <= max_words
    return label if clear else ""


def _above(rect: pymupdf.Rect, words: list[Word], other_fields: list[pymupdf.Rect]) -> str:
    """The text line just above the field, overlapping it horizontally, within a line's height, unless that
    line is another field's (its label beside it)."""

    def on_a_field_line(word: Word) -> bool:
        middle = (word.rect.y0 + word.rect.y1) / 2
        return any(other.y0 <= middle <= other.y1 for other in other_fields)

    above = [w for w in words if w.rect.y1 <= rect.y0 + 1 and w.rect.y1 >= rect.y0 - 1.5 * w.height
             and w.rect.x1 > rect.x0 and w.rect.x0 < rect.x1 and not on_a_field_line(w)]
    if not above:
        return ""
    line = _rows(above)[-1]
    label = _label(line)
    clear = _whole_block(line, words) and _names_something(label) and len(label.split()) <= MAX_LABEL_WORDS
    return label if clear else ""


def _named(widget: pymupdf.Widget) -> str:
    """The field's tooltip, written for people, else its name when it is made of words ("vessel_name")."""
    tooltip = " ".join((widget.field_label or "").split()).rstrip(":")
    if _names_something(tooltip) and len(tooltip.split()) <= MAX_LABEL_WORDS:
        return tooltip
    name = (widget.field_name or "").strip()
    return name.replace("_", " ") if FIELD_NAME_WORDS.fullmatch(name) and len(name.split("_")) <= MAX_LABEL_WORDS else ""


# --- label/value lines -----------------------------------------------------------------------------

def key_value_pairs(words: list[Word]) -> list[tuple[str, str, list[pymupdf.Rect]]]:
    if not words:
        return []
    heights = sorted(w.height for w in words)
    body_height = heights[len(heights) // 2]
    pairs = []
    for row in _rows(words):
        if max(w.height for w in row) > HEADING_HEIGHT * body_height:
            continue  # a title or heading ("Individual Differential Privacy: A Utility-Preserving ...")
        segments = _segments(row)
        if not segments:
            continue
        leaders = any(LEADERS.match(w.text) for w in row)
        found = _colon_pair(segments) or (_gap_pair(segments, leaders) if len(segments) == 2 else None)
        if found:
            label_words, value_words = found
            label, value = _label(label_words), _text(value_words)
            fits = value and len(value_words) <= MAX_VALUE_WORDS and not _block_goes_on(value_words, words)
            fits = fits and not _runs_on(value_words)
            if _is_label(label_words) and fits:
                pairs.append((_question(label), value, [w.rect for w in value_words]))
    return pairs


def _colon_pair(segments: list[list[Word]]) -> tuple[list[Word], list[Word]] | None:
    """ "Label: value" starting a line that has no other part, or "Label:" then a gap and the line's only
    other part."""
    first = segments[0]
    for i, word in enumerate(first[:MAX_LINE_LABEL_WORDS]):
        if word.text.endswith(":") and len(word.text) > 1:
            rest = first[i + 1 :]
            if rest and len(segments) == 1:
                is_sentence = len(rest) >= 4 and rest[-1].text.endswith((".", "?", "!"))  # dialogue, prose
                return None if is_sentence else (first[: i + 1], rest)
            if not rest and len(segments) == 2:
                return first[: i + 1], segments[1]
            return None
    return None


def _runs_on(value: list[Word]) -> bool:
    """A value of four words or more that ends in a lowercase word is prose cut at the line's end ("Note 1:
    An equivalent device for high speed engines could be")."""
    last = value[-1].text
    return len(value) >= 4 and last[:1].islower() and last.isalpha()


def _gap_pair(segments: list[list[Word]], leaders: bool) -> tuple[list[Word], list[Word]] | None:
    label, value = segments
    if leaders:
        is_page_number = len(value) == 1 and value[0].text.isdigit() and len(value[0].text) <= 4
        return None if is_page_number else (label, value)  # a table of contents' page number asks nothing
    data_like = any(c.isdigit() for w in value for c in w.text) and len(value) <= MAX_GAP_VALUE_WORDS
    # A label that starts with a digit or holds a colon or a comma is a value or an address itself ("91-504
    # Łódź", "NIP: 531...", "Leeds Metropolitan University, UK"); two parts that start with the same word
    # are two cells of one row ("Header 2.1   Header 2.3").
    label_like = (
        label[0].text[:1].isalpha()
        and not any(":" in w.text or "," in w.text for w in label)
        and folded_text(label[0].text) != folded_text(value[0].text)
    )
    return (label, value) if data_like and label_like and not value[0].text[:1].islower() else None


def _is_label(words: list[Word]) -> bool:
    text = _label(words)
    first = next((c for c in text if c.isalpha()), "")
    starts_well = not first or first.isupper() or first.lower() == first.upper()  # scripts without case pass
    # A bullet starts a list item, and a full stop inside ends a sentence ("[Online]. Available:").
    in_prose = text[:1] in BULLETS or any(w.text.endswith(".") for w in words[:-1])
    return (
        0 < len(words) <= MAX_LINE_LABEL_WORDS
        and _names_something(text)
        and starts_well
        and not in_prose
        and not text.endswith(SENTENCE_END)
    )
