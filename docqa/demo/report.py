"""report.pdf of the sample corpus: a ferry operator's annual report, six pages with a ruled table."""

from __future__ import annotations

import pymupdf

from docqa.demo.layout import CENTER, GREY, MARGIN, NAVY, PAGE, Block, Style, draw_table, put_text, write_blocks

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
