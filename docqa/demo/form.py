"""form.pdf of the sample corpus: a berth permit application with filled AcroForm fields."""

from __future__ import annotations

import pymupdf

from docqa.demo.layout import GREY, MARGIN, NAVY, PAGE, RIGHT, Style, put_text

FORM_INTRO = """Use this form to apply for a berth in the Eastmarch marina for the 2024 season,
 which runs from 1 April to 31 October. Complete all fields and return the form to the Harbour
 Office by 1 March 2024. Applications received later are placed on the waiting list in the
 order in which they arrive. The seasonal fee is EUR 64.00 per metre of vessel length and is
 payable when a berth is allocated."""

# Section title -> fields as (field name, label, value). A bool value makes a checkbox.
FORM_SECTIONS: dict[str, list[tuple[str, str, str | bool]]] = {
    "1. Applicant": [
        ("applicant_name", "Full name", "Jonas Lindqvist"),
        ("address", "Postal address", "Strandvägen 14, Eastmarch EM3 2PL"),
        ("email", "Email", "jonas.lindqvist@example.org"),
        ("phone", "Phone", ""),
    ],
    "2. Vessel": [
        ("vessel_name", "Vessel name", "Sea Lark"),
        ("registration", "Registration number", "EM-4471"),
        ("length", "Length overall (m)", "9.8"),
        ("vessel_type", "Type of vessel", "Sailing yacht"),
    ],
    "3. Berth period and services": [
        ("period_from", "From", "1 April 2024"),
        ("period_to", "To", "31 October 2024"),
        ("shore_power", "Shore power connection required", True),
        ("winter_storage", "Winter storage on land requested", False),
    ],
    "4. Declaration": [
        ("insured", "The vessel has valid third-party liability insurance", True),
        ("date", "Date", "20 February 2024"),
        ("signature", "Signature", ""),
    ],
}


def add_form_field(page: pymupdf.Page, name: str, label: str, value: str | bool, y: float) -> None:
    widget = pymupdf.Widget()
    widget.field_name = name
    widget.field_label = label
    widget.border_color = GREY
    widget.border_width = 0.8
    label_style = Style("helv", 10)
    if isinstance(value, bool):
        widget.field_type = pymupdf.PDF_WIDGET_TYPE_CHECKBOX
        widget.field_value = value
        widget.rect = pymupdf.Rect(MARGIN + 170, y, MARGIN + 182, y + 12)
        put_text(page, pymupdf.Rect(MARGIN + 190, y, PAGE.width - MARGIN, y + 16), label,
                 label_style)
    else:
        widget.field_type = pymupdf.PDF_WIDGET_TYPE_TEXT
        widget.field_value = value
        widget.fill_color = (0.95, 0.97, 1)
        widget.text_font = "Helv"
        widget.text_fontsize = 10
        widget.rect = pymupdf.Rect(MARGIN + 170, y - 3, PAGE.width - MARGIN, y + 15)
        put_text(page, pymupdf.Rect(MARGIN, y, MARGIN + 165, y + 16), label, label_style)
    page.add_widget(widget)


def build_form() -> pymupdf.Document:
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE.width, height=PAGE.height)
    width = PAGE.width - MARGIN
    put_text(page, pymupdf.Rect(MARGIN, MARGIN - 6, width, 80),
             "Port of Eastmarch Harbour Authority", Style("hebo", 11, color=NAVY))
    put_text(page, pymupdf.Rect(MARGIN, 80, width, 110),
             "Application for a Seasonal Berth Permit 2024", Style("hebo", 17))
    put_text(page, pymupdf.Rect(MARGIN, 80, width, 110), "Form HA-12",
             Style("helv", 9, align=RIGHT, color=GREY))
    y = put_text(page, pymupdf.Rect(MARGIN, 120, width, 260), " ".join(FORM_INTRO.split()),
                 Style("helv", 10, line_height=1.4)) + 14
    for section, fields in FORM_SECTIONS.items():
        page.draw_line((MARGIN, y), (width, y), color=NAVY, width=0.8)
        put_text(page, pymupdf.Rect(MARGIN, y + 6, width, y + 26), section,
                 Style("hebo", 11, color=NAVY))
        y += 32
        for name, label, value in fields:
            add_form_field(page, name, label, value, y)
            y += 26
        y += 10
    put_text(page, pymupdf.Rect(MARGIN, y + 10, width, PAGE.height - MARGIN),
             "For office use only: permit number, berth and date of allocation are entered by "
             "the Harbour Office.", Style("heit", 9, color=GREY))
    return doc
