"""Drawing helpers for the built-in sample corpus: text styles, text boxes that refuse to overflow, and
ruled tables, all with PyMuPDF's built-in fonts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pymupdf

PAGE = pymupdf.paper_rect("a4")
MARGIN = 56
FIXED_DATE = "D:20240101000000Z"
LEFT, CENTER, RIGHT, JUSTIFY = (pymupdf.TEXT_ALIGN_LEFT, pymupdf.TEXT_ALIGN_CENTER,
                                pymupdf.TEXT_ALIGN_RIGHT, pymupdf.TEXT_ALIGN_JUSTIFY)
NAVY = (0.08, 0.2, 0.38)
GREY = (0.4, 0.4, 0.4)


class Style(NamedTuple):
    font: str
    size: float
    space_after: float = 0
    align: int = LEFT
    color: tuple[float, float, float] = (0, 0, 0)
    line_height: float = 1.25  # multiple of the font size


STYLES = {
    # report.pdf
    "heading": Style("hebo", 14, 6, color=NAVY),
    "body": Style("helv", 10.5, 8, line_height=1.4),
    "caption": Style("heit", 9, 4, color=GREY),
    "signature": Style("heit", 10.5),
    # article.pdf
    "section": Style("tibo", 11, 3),
    "text": Style("tiro", 10, 6, JUSTIFY),
    "article caption": Style("tiit", 9.5, 4),
    "reference": Style("tiro", 8.5, 3),
}

Block = tuple[str, str]  # (style name in STYLES, text); whitespace in text is collapsed

def put_text(page: pymupdf.Page, rect: pymupdf.Rect, text: str, style: Style) -> float:
    """Write text into rect and return the y coordinate just below it.

    insert_textbox writes nothing and returns a negative number when the text
    does not fit; raising here keeps content from being lost silently.
    """
    spare = page.insert_textbox(rect, text, fontname=style.font, fontsize=style.size,
                                align=style.align, color=style.color,
                                lineheight=style.line_height)
    if spare < 0:
        raise ValueError(f"text overflows {rect} on page {page.number + 1}: {text[:40]!r}")
    return rect.y1 - spare


def write_blocks(page: pymupdf.Page, rect: pymupdf.Rect, blocks: Sequence[Block]) -> float:
    """Write blocks top to bottom inside rect; return the y below the last one."""
    y = rect.y0
    for style_name, text in blocks:
        style = STYLES[style_name]
        area = pymupdf.Rect(rect.x0, y, rect.x1, rect.y1)
        y = put_text(page, area, " ".join(text.split()), style) + style.space_after
    return y


def draw_table(page: pymupdf.Page, x: float, y: float, widths: Sequence[float],
               rows: Sequence[Sequence[str]], font: str = "helv", size: float = 9.5,
               bold_last_row: bool = False) -> float:
    """Draw a ruled table whose first row is the header; return the y below it.

    The first column is left-aligned, the others hold numbers and are right-aligned.
    Header cells may contain "\\n" to break long labels over two lines.
    """
    row_height = size * 2
    header_lines = max(cell.count("\n") + 1 for cell in rows[0])
    heights = [row_height + (header_lines - 1) * size * 1.2] + [row_height] * (len(rows) - 1)
    tops = [y + sum(heights[:i]) for i in range(len(rows) + 1)]
    lefts = [x + sum(widths[:i]) for i in range(len(widths) + 1)]
    shape = page.new_shape()
    shape.draw_rect(pymupdf.Rect(lefts[0], tops[0], lefts[-1], tops[1]))
    shape.finish(color=None, fill=(0.87, 0.9, 0.95))
    for top in tops:
        shape.draw_line((lefts[0], top), (lefts[-1], top))
    for left in lefts:
        shape.draw_line((left, tops[0]), (left, tops[-1]))
    shape.finish(width=0.6, color=GREY)
    shape.commit()
    bold = {"helv": "hebo", "tiro": "tibo"}[font]
    for r, row in enumerate(rows):
        is_bold = r == 0 or (bold_last_row and r == len(rows) - 1)
        for c, cell in enumerate(row):
            style = Style(bold if is_bold else font, size, align=LEFT if c == 0 else RIGHT,
                          line_height=1.2)
            cell_rect = pymupdf.Rect(lefts[c] + 4, tops[r] + size * 0.45,
                                     lefts[c + 1] - 4, tops[r + 1])
            put_text(page, cell_rect, cell, style)
    return tops[-1]
