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
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
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

# Exact strings that appear in each document's text, for tests.
SAMPLE_FACTS: dict[str, list[str]] = {
    "report.pdf": ["Northwind Ferries", "EUR 184.6 million", "3.5 %", "14 March 2023",
                   "Margit Halvorsen", "EUR 0.42 per share"],
    "form.pdf": ["Seasonal Berth Permit", "Jonas Lindqvist", "Sea Lark", "EM-4471"],
    "invoice.pdf": ["INV-2024-0187", "Brightwater Office Supplies Ltd", "2,311.70", "462.34",
                    "EUR 2,774.04"],
    "article.pdf": ["Ines Vasquez", "42 recorders", "312,480 recordings", "91.4 %"],
}


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


# ---------------------------------------------------------------- report.pdf

REPORT_PAGES: list[list[Block]] = [
    [
        ("heading", "Letter from the Chief Executive"),
        ("body", """2023 was the year in which Northwind Ferries returned to the traffic levels
         last seen before the pandemic and, for the first time, exceeded them. Our six routes
         across the Eastmarch archipelago carried 2.41 million passengers and 538,000 vehicles,
         and group revenue rose by 7.2 % to EUR 184.6 million. Operating profit (EBIT)
         reached EUR 21.3 million, compared with EUR 17.9 million in 2022, an operating margin
         of 11.5 %."""),
        ("body", """The most visible milestone of the year was the arrival of MV Skarholmen, our
         first battery-hybrid ferry. She was delivered by the Brenner & Holt shipyard on
         14 March 2023 and entered service on the Eastmarch - Holmvik route on 3 April. She
         carries up to 600 passengers and 160 cars, and in her first nine months she sailed
         71 % of her time inside the harbour limits on battery power alone."""),
        ("body", """Punctuality remained a priority. Across the network, 96.8 % of departures left
         within five minutes of the timetable, slightly better than the 96.1 % achieved a year
         earlier. Storms in November forced us to cancel 412 of 61,850 scheduled departures, or
         0.7 %, and I want to thank our crews and terminal staff for keeping passengers informed
         and safe during those difficult days."""),
        ("body", """I would also like to thank our customers, our 1,126 employees and our
         shareholders for their continued trust. We enter 2024 with a modern fleet, a strong
         balance sheet and a clear plan to halve our carbon emissions by 2030."""),
        ("signature", "Margit Halvorsen, Chief Executive Officer. Eastmarch, 21 February 2024"),
    ],
    [
        ("heading", "Financial highlights"),
        ("body", """Group revenue grew by EUR 12.4 million to EUR 184.6 million. Ticket sales
         accounted for EUR 139.2 million, onboard sales of food and retail for EUR 31.8 million,
         and freight and other income for EUR 13.6 million. Growth was strongest on the
         Saltö - Kvarnholm route, where a new timetable with two additional daily departures
         lifted revenue by 11.2 %. Operating costs rose by 5.4 % to EUR 163.3 million, mainly
         because of higher wages and harbour fees, while fuel costs fell by 2.8 % thanks to lower
         consumption and a stable bunker price in the second half of the year."""),
        ("caption", "Table 1. Passengers, vehicles, revenue and punctuality by route, 2023"),
    ],
    [
        ("heading", "Operations and fleet"),
        ("body", """Northwind Ferries operates a fleet of 14 vessels with an average age of
         19.6 years. Nine of them are car ferries, four are smaller passenger-only vessels serving
         the outer islands, and one is a dedicated freight vessel. MV Skarholmen replaced the
         1984-built MV Holmvik Star, which was sold to an operator in West Africa in June 2023."""),
        ("body", """Skarholmen is 98 metres long and combines two 1.6 MW diesel generators with a
         4.2 MWh battery pack that is charged from shore power at both ends of the route. Charging
         takes 11 minutes during a normal turnaround. During the year the vessel used 38 % less
         fuel per crossing than the ship she replaced."""),
        ("body", """Four vessels completed their five-yearly dry-docking during the winter
         season, with a total of 143 days off hire. While MV Lillö was in dock, the
         Ytterby - Lillö route was served for six weeks in January and February by the chartered
         vessel MV Gullvik."""),
        ("body", """Our new booking app was launched on 15 May 2023 and had been downloaded
         186,000 times by the end of the year. By December, 44 % of all car bookings were made in
         the app, and the average time needed to complete a booking fell from 4 minutes 10 seconds
         to 1 minute 50 seconds."""),
    ],
    [
        ("heading", "Sustainability"),
        ("body", """Greenhouse gas emissions from our vessels totalled 88,400 tonnes of CO2
         equivalent, a reduction of 3.5 % compared with 2022 even though traffic increased.
         Emissions per passenger fell from 38.9 to 36.7 kilograms. Hybrid operation accounted for
         9.4 % of all crossings in the network."""),
        ("body", """Shore power at the Eastmarch terminal was commissioned on 2 October 2023.
         Vessels that stay at the berth overnight now connect to the grid instead of running their
         auxiliary engines. Once all berths are equipped in 2025, we expect this to cut annual
         emissions by about 2,100 tonnes."""),
        ("body", """Our target is to halve emissions by 2030 from the 2019 baseline of
         104,000 tonnes and to reach net zero by 2045. The second hybrid ferry, ordered in
         November 2023, is the next major step towards that target."""),
        ("body", """The share of onboard waste that is sorted for recycling reached 67 %, and all
         vessels now deliver black and grey water to port reception facilities instead of
         treating it on board. We also fund a three-year study of the eelgrass meadows near
         Holmvik, carried out by the University of Eastmarch, to understand how wash from our
         vessels affects the seabed."""),
    ],
    [
        ("heading", "People and safety"),
        ("body", """At the end of 2023 Northwind Ferries employed 1,126 people, equivalent to
         978 full-time positions, plus 214 seasonal staff on the summer routes. Women made up
         38 % of all employees and 21 % of officers on the bridge and in the engine rooms, up from
         17 % in 2021."""),
        ("body", """The lost-time injury frequency was 2.9 per million hours worked, compared
         with 3.4 in 2022, and no passenger suffered a serious injury. We held two major drills
         with the coast guard and the rescue services, including a full evacuation exercise on
         MV Saltvik on 19 September 2023 with 250 volunteer passengers."""),
        ("body", """Employees completed 41,300 hours of training, of which 9,800 hours were on the
         new hybrid propulsion system. The cadet programme, run together with Eastmarch Maritime
         Academy, took in 24 cadets, the largest intake since it started in 2008."""),
        ("body", """The annual employee survey was answered by 83 % of staff and gave an
         engagement score of 78 out of 100, up from 74. Scores were lowest for rostering, so a new
         rostering system, developed with the Seafarers' Union and led by Head of People
         Sofia Brandt, will be introduced in spring 2024."""),
    ],
    [
        ("heading", "Outlook"),
        ("body", """We expect passenger traffic to grow by 2 to 3 % in 2024 and revenue by 4 to
         6 %, supported by price adjustments and the full-year effect of the new Saltö timetable.
         Fuel prices, interest rates and the weather remain the main uncertainties. Our second
         hybrid ferry, MV Fjärdvind, was ordered from Brenner & Holt in November 2023 for
         EUR 63.0 million and is scheduled for delivery in the third quarter of 2025."""),
        ("heading", "Corporate governance"),
        ("body", """The Board of Directors has seven members and has been chaired by Tomas Ekdahl
         since 2019. The Board met nine times in 2023. The Audit Committee, chaired by Annika
         Rosell, met five times and reviewed the financing of the fleet renewal programme. The
         auditors, Lind & Partners Revision AB, issued an unqualified opinion on the accounts."""),
        ("heading", "Proposed dividend"),
        ("body", """Net profit for the year was EUR 15.6 million. The Board proposes a dividend of
         EUR 0.42 per share for 2023, compared with EUR 0.35 for 2022. With 20.0 million shares
         outstanding, the total payout is EUR 8.4 million, or 54 % of net profit. The Annual
         General Meeting will be held in Eastmarch on 25 April 2024, and the dividend will be
         paid on 3 May 2024."""),
    ],
]

ROUTE_TABLE = [
    ["Route", "Passengers\n('000)", "Vehicles\n('000)", "Revenue\n(EUR m)", "Change\nvs 2022",
     "Punctuality"],
    ["Eastmarch - Holmvik", "812.4", "203.1", "58.7", "+6.1 %", "97.2 %"],
    ["Eastmarch - Saltö", "544.9", "131.6", "41.2", "+8.4 %", "96.5 %"],
    ["Holmvik - Ytterby", "318.2", "72.5", "22.9", "+3.7 %", "98.1 %"],
    ["Saltö - Kvarnholm", "276.0", "58.3", "19.4", "+11.2 %", "95.9 %"],
    ["Eastmarch - Norrskär (summer)", "241.7", "40.8", "24.6", "+9.8 %", "94.3 %"],
    ["Ytterby - Lillö", "216.8", "31.7", "17.8", "+4.0 %", "97.6 %"],
    ["Total", "2,410.0", "538.0", "184.6", "+7.2 %", "96.8 %"],
]

AFTER_ROUTE_TABLE: list[Block] = [
    ("body", """The two main routes from Eastmarch together generated 54 % of group revenue.
     Cash flow from operating activities was EUR 34.7 million. Net interest-bearing debt fell
     from EUR 96.5 million to EUR 88.2 million at 31 December 2023, despite investments of
     EUR 27.9 million, most of which was the final instalment for MV Skarholmen. The equity
     ratio improved to 48.3 %."""),
]


def build_report() -> pymupdf.Document:
    doc = pymupdf.open()
    body = pymupdf.Rect(MARGIN, MARGIN, PAGE.width - MARGIN, PAGE.height - MARGIN)
    for number, blocks in enumerate(REPORT_PAGES, start=1):
        page = doc.new_page(width=PAGE.width, height=PAGE.height)
        top = body.y0
        if number == 1:
            page.draw_rect(pymupdf.Rect(0, 0, PAGE.width, 150), color=None, fill=NAVY)
            put_text(page, pymupdf.Rect(MARGIN, 45, body.x1, 95), "Northwind Ferries AB",
                     Style("hebo", 26, color=(1, 1, 1)))
            put_text(page, pymupdf.Rect(MARGIN, 95, body.x1, 130), "Annual Report 2023",
                     Style("helv", 16, color=(1, 1, 1)))
            top = 180
        y = write_blocks(page, pymupdf.Rect(body.x0, top, body.x1, body.y1), blocks)
        if number == 2:
            y = draw_table(page, body.x0, y, [163, 64, 60, 64, 62, 70], ROUTE_TABLE,
                           bold_last_row=True)
            below_table = pymupdf.Rect(body.x0, y + 14, body.x1, body.y1)
            write_blocks(page, below_table, AFTER_ROUTE_TABLE)
        footer = f"Northwind Ferries AB - Annual Report 2023 - page {number} of {len(REPORT_PAGES)}"
        put_text(page, pymupdf.Rect(body.x0, body.y1 + 16, body.x1, PAGE.height),
                 footer, Style("helv", 8, align=CENTER, color=GREY))
    return doc


# ------------------------------------------------------------------ form.pdf

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


# --------------------------------------------------------------- invoice.pdf

SELLER = """Brightwater Office Supplies Ltd\nUnit 7, Quayside Business Park\nEastmarch EM2 4QT
VAT reg. no. EM 402 7781 19\naccounts@brightwater-supplies.example"""
BUYER = """Bill to:\nNorthwind Ferries AB\nAttn: Procurement Department\nTerminal Road 1
Eastmarch EM1 1AA"""
INVOICE_DETAILS = [("Invoice number", "INV-2024-0187"), ("Invoice date", "12 February 2024"),
                   ("Due date", "13 March 2024"), ("Customer number", "C-10442"),
                   ("Your order", "PO-77315")]
# (description, quantity, unit price in EUR)
INVOICE_ITEMS = [
    ("Ergonomic office chair, model Aria", 4, Decimal("189.00")),
    ("Standing desk 160 x 80 cm, electric", 2, Decimal("412.50")),
    ("A4 copy paper, box of 5 reams", 10, Decimal("23.90")),
    ("Toner cartridge, black, high yield", 6, Decimal("74.95")),
    ("Whiteboard markers, pack of 12", 5, Decimal("8.40")),
]
VAT_RATE = Decimal("0.20")
PAYMENT_TERMS = """Payment is due within 30 days of the invoice date. Please transfer the total to
 IBAN EM12 BRWT 0000 4471 9920 03 (Eastmarch Savings Bank) and quote the invoice number as the
 payment reference. Late payments incur interest at 8.0 % per year. Goods remain our property
 until paid in full. Thank you for your business."""


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def build_invoice() -> pymupdf.Document:
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE.width, height=PAGE.height)
    right = PAGE.width - MARGIN
    put_text(page, pymupdf.Rect(MARGIN, MARGIN, 330, 150), SELLER, Style("helv", 9.5))
    put_text(page, pymupdf.Rect(330, MARGIN - 6, right, 95), "INVOICE",
             Style("hebo", 24, align=RIGHT, color=NAVY))
    y = 100
    for label, value in INVOICE_DETAILS:
        put_text(page, pymupdf.Rect(330, y, 430, y + 16), label, Style("hebo", 9.5))
        put_text(page, pymupdf.Rect(430, y, right, y + 16), value, Style("cour", 9.5, align=RIGHT))
        y += 15
    put_text(page, pymupdf.Rect(MARGIN, 190, 330, 270), BUYER, Style("helv", 9.5))
    rows = [["Description", "Qty", "Unit price (EUR)", "Amount (EUR)"]]
    subtotal = Decimal("0")
    for description, quantity, unit_price in INVOICE_ITEMS:
        amount = quantity * unit_price
        subtotal += amount
        rows.append([description, str(quantity), money(unit_price), money(amount)])
    y = draw_table(page, MARGIN, 300, [233, 50, 100, 100], rows)
    vat = (subtotal * VAT_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    totals = [("Subtotal", money(subtotal)), (f"VAT {VAT_RATE * 100:.0f} %", money(vat)),
              ("Total due", f"EUR {money(subtotal + vat)}")]
    y += 10
    for label, value in totals:
        is_total = label == "Total due"
        if is_total:
            page.draw_line((330, y - 3), (right, y - 3), color=GREY, width=0.6)
        font = "hebo" if is_total else "helv"
        put_text(page, pymupdf.Rect(330, y, 430, y + 16), label, Style(font, 10))
        put_text(page, pymupdf.Rect(430, y, right - 4, y + 16), value, Style(font, 10, align=RIGHT))
        y += 18
    put_text(page, pymupdf.Rect(MARGIN, y + 30, right, PAGE.height - MARGIN),
             " ".join(PAYMENT_TERMS.split()), Style("helv", 9.5, line_height=1.4))
    return doc


# --------------------------------------------------------------- article.pdf

ARTICLE_TITLE = ("Listening to the City at Night: "
                 "Low-Cost Acoustic Monitoring of Urban Bat Activity")
ARTICLE_AUTHORS = ("Ines Vasquez, Rohan Mehta and Lotte de Vries\n"
                   "Department of Biology, University of Eastmarch")
ARTICLE_ABSTRACT = """Abstract. Bats are sensitive indicators of the ecological quality of urban
 green space, but surveying them is labour-intensive and expensive. We deployed 42 recorders
 built from commodity parts, at a cost of EUR 58 each, across the city of Eastmarch for
 18 months and collected 312,480 recordings of bat echolocation calls. A small convolutional
 classifier trained on 6,200 expert-labelled calls identified nine species with an overall
 accuracy of 91.4 %. Bat activity was 27 % lower within 50 m of streets where sodium lamps had
 been replaced by white LED lamps, and the effect was strongest for Myotis species. Dense
 networks of inexpensive recorders can reveal fine-grained patterns that conventional surveys
 miss."""

# Blocks for the four text columns: page 1 left and right, page 2 left and right.
ARTICLE_COLUMNS: list[list[Block]] = [
    [
        ("section", "1. Introduction"),
        ("text", """Bats make up about a fifth of all mammal species, and many of them have
         adapted to life in towns and cities, where they feed on insects around parks, rivers and
         street trees. Because they respond quickly to changes in lighting, noise and vegetation,
         urban bats are often used as indicators of the ecological quality of green space.
         Monitoring them is difficult, however. Traditional surveys rely on trained volunteers
         who walk fixed transects with handheld detectors on a few evenings each year, which
         gives a coarse picture and misses most of the night."""),
        ("text", """Passive acoustic recorders solve part of this problem, because they can
         record every night for months without supervision. Commercial units cost several
         hundred euros each, so most studies deploy only a handful of them. In this paper we ask
         whether a dense network of cheap, home-built recorders can deliver data of comparable
         quality, and what such a network reveals about the effect of street lighting on bat
         activity in a mid-sized European city."""),
        ("section", "2. Study area and data"),
        ("text", """Eastmarch is a coastal city of about 240,000 inhabitants. Between April 2022
         and September 2023 we operated 42 recorders at sites chosen by stratified random
         sampling across four habitat classes: parks, riverbanks, residential streets and the
         industrial harbour."""),
    ],
    [
        ("text", """Each recorder consisted of a single-board computer, an ultrasonic MEMS
         microphone and a 20 Ah battery in a weatherproof box fixed at a height of 3 m. The parts
         for one recorder cost EUR 58, and a team of 16 volunteers exchanged the batteries every
         nine days. Recording was triggered by sound above 15 kHz, and clips of up to 5 seconds
         were stored. Over the 18-month study the network collected 312,480 recordings, of which
         71 % contained at least one bat call; the rest were triggered by insects, rain or
         traffic."""),
        ("text", """To study the effect of lighting we used the municipal lamp register, which
         lists the position and type of each of the city's 31,700 street lamps. During the study
         the city replaced 4,900 orange high-pressure sodium lamps with white LED lamps, which
         gave us a natural experiment at 11 of our sites."""),
        ("section", "3. Classification method"),
        ("text", """Each recording was converted into a spectrogram with a window of 512 samples
         and passed to a small convolutional neural network with four convolutional layers and
         410,000 parameters. The network was trained on 6,200 calls labelled by two experienced
         bat workers, who agreed on the species in 94 % of cases; disputed calls were left out.
         We held back 20 % of the labelled calls, stratified by species and site, as a test
         set. The classifier runs on the recorder itself in about 40 milliseconds per clip, so
         only the predicted species and a confidence score need to be transmitted."""),
    ],
    [
        ("section", "4. Results"),
        ("text", """On the held-out test set the classifier reached an overall accuracy of
         91.4 %. Accuracy was highest for the common pipistrelle and the noctule, whose calls are
         distinctive, and lowest for the two Myotis species, Daubenton's and Natterer's bat,
         which are easily confused with each other (Table 1). Treating the two Myotis species as
         a single class raised the overall accuracy to 95.0 %."""),
        ("text", """Across all sites the recorders detected 1.87 million bat passes. The common
         pipistrelle accounted for 63.2 % of them, followed by the soprano pipistrelle with
         14.5 % and the noctule with 8.9 %. Activity peaked in late August, when young bats leave
         their roosts, and was almost zero between December and February."""),
        ("text", """Riverbank sites had the highest activity, with a median of 412 passes per
         night, against 96 in parks, 38 on residential streets and 11 in the harbour. At the 11
         sites where street lamps were replaced during the study, activity within 50 m of the
         new white LED lamps was 27 % lower than in the same months of the previous year. The
         decline was strongest for Myotis species, whose activity fell by 58 %, while
         pipistrelles, which readily hunt insects attracted to lamps, showed no significant
         change."""),
        ("section", "5. Discussion"),
        ("text", """Our results agree with earlier studies that found slow-flying, light-averse
         bats to be most affected by white light [1]. The novelty of this study is the density
         of the network: with recorders on average 600 m apart, we could relate activity to
         individual streets rather than to whole districts. The main limitations are the short
         battery life, which required a large volunteer effort, and the lower accuracy for the
         Myotis species, which calls for more labelled training data [3]."""),
    ],
    [
        ("section", "6. Conclusion"),
        ("text", """A network of 42 low-cost recorders produced more than 300,000 recordings in
         18 months at a hardware cost of under EUR 2,500. With a classifier accuracy of 91.4 %,
         such networks are a practical tool for cities that want to measure how lighting and
         planning decisions affect wildlife. We have shared the recorder design and the trained
         model [2] with the Eastmarch parks department, which will use them to plan a dark
         corridor along the Holm river."""),
        ("section", "Acknowledgements"),
        ("text", """We thank the 16 volunteers who maintained the recorders. The study was funded
         by the Eastmarch Nature Fund under grant ENF-2021-07."""),
        ("section", "References"),
        ("reference", """[1] Halvorsen, K. and Berg, A. (2019). Street lighting and the foraging
         behaviour of urban bats. Journal of Urban Ecology 12, 45-58."""),
        ("reference", """[2] Mehta, R. (2021). Edge inference for bioacoustics on single-board
         computers. Proceedings of the Workshop on Embedded Sensing, 101-110."""),
        ("reference", """[3] Okafor, C., de Vries, L. and Lund, P. (2020). A field guide to the
         echolocation calls of North European bats. Eastmarch University Press."""),
    ],
]

SPECIES_TABLE = [
    ["Species", "Test\ncalls", "Correct", "Accuracy\n(%)"],
    ["Common pipistrelle", "412", "400", "97.1"],
    ["Soprano pipistrelle", "236", "223", "94.5"],
    ["Nathusius' pipistrelle", "88", "79", "89.8"],
    ["Noctule", "131", "126", "96.2"],
    ["Serotine", "74", "67", "90.5"],
    ["Daubenton's bat", "118", "90", "76.3"],
    ["Natterer's bat", "61", "44", "72.1"],
    ["Brown long-eared bat", "67", "57", "85.1"],
    ["Barbastelle", "53", "47", "88.7"],
    ["All species", "1,240", "1,133", "91.4"],
]


def add_article_footer(page: pymupdf.Page) -> None:
    put_text(page, pymupdf.Rect(0, PAGE.height - 42, PAGE.width, PAGE.height),
             f"Vasquez et al. - Urban bat acoustic monitoring - {page.number + 1}",
             Style("tiro", 8, align=CENTER, color=GREY))


def build_article() -> pymupdf.Document:
    doc = pymupdf.open()
    margin, gutter = 64, 20
    column_width = (PAGE.width - 2 * margin - gutter) / 2
    left = pymupdf.Rect(margin, margin, margin + column_width, PAGE.height - margin)
    right = left + (column_width + gutter, 0, column_width + gutter, 0)
    full_width = pymupdf.Rect(left.x0, left.y0, right.x1, left.y1)
    # Add each page only when the previous one is finished: new_page() orphans
    # Page objects obtained earlier from the same document.
    first = doc.new_page(width=PAGE.width, height=PAGE.height)
    y = put_text(first, full_width, ARTICLE_TITLE, Style("tibo", 17, align=CENTER)) + 10
    y = put_text(first, full_width + (0, y - left.y0, 0, 0), ARTICLE_AUTHORS,
                 Style("tiro", 11, align=CENTER)) + 18
    y = put_text(first, full_width + (24, y - left.y0, -24, 0),
                 " ".join(ARTICLE_ABSTRACT.split()), Style("tiit", 9.5, align=JUSTIFY)) + 14
    first.draw_line((full_width.x0, y), (full_width.x1, y), color=GREY, width=0.5)
    below_abstract = (0, y + 14 - left.y0, 0, 0)
    write_blocks(first, left + below_abstract, ARTICLE_COLUMNS[0])
    write_blocks(first, right + below_abstract, ARTICLE_COLUMNS[1])
    add_article_footer(first)
    second = doc.new_page(width=PAGE.width, height=PAGE.height)
    write_blocks(second, left, ARTICLE_COLUMNS[2])
    y = put_text(second, right, "Table 1. Classification accuracy on the test set by species.",
                 STYLES["article caption"]) + 4
    y = draw_table(second, right.x0, y, [97, 36, 40, column_width - 173], SPECIES_TABLE,
                   font="tiro", size=8.5, bold_last_row=True)
    write_blocks(second, right + (0, y + 16 - right.y0, 0, 0), ARTICLE_COLUMNS[3])
    add_article_footer(second)
    return doc


# ------------------------------------------------------------------- corpus

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
        # Fixed dates and no new file ID keep the bytes identical from run to run.
        doc.set_metadata({"title": title, "author": "pipeline sample corpus",
                          "creator": "pipeline.samples", "producer": "PyMuPDF",
                          "creationDate": FIXED_DATE, "modDate": FIXED_DATE})
        path = out_dir / file_name
        doc.save(path, garbage=3, deflate=True, no_new_id=True)
        doc.close()
        paths.append(path)
    return sorted(paths)
