"""invoice.pdf of the sample corpus: a one-page invoice with items, VAT and a total."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pymupdf

from docqa.demo.layout import GREY, MARGIN, NAVY, PAGE, RIGHT, Style, draw_table, put_text

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
