"""Write the binary sample documents (PDF and DOCX) of ``samples/`` from the text below.

Run: ``.venv/bin/python benchmarks/make_samples.py`` (needs fpdf2 from the dev extra). The
outputs are committed; this script is how they were made and how to change them. The same
renderers build the PDF/DOCX part of ``bench_ingest.py``'s corpus. The text uses a tiny
markdown subset: ``#`` headings, ``- `` bullets, ``| a | b |`` tables, paragraphs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FIXED_DATE = dt.datetime(2026, 2, 16, 9, 30, tzinfo=dt.UTC)


def blocks(text: str) -> list[tuple[str, object]]:
    """('h', (level, text)) | ('p', text) | ('li', text) | ('table', rows) in order."""
    out: list[tuple[str, object]] = []
    for block in text.strip().split("\n\n"):
        lines = block.strip().split("\n")
        if lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            out.append(("h", (level, lines[0].lstrip("# ").strip())))
        elif lines[0].startswith("|"):
            rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
            out.append(("table", [r for r in rows if not set("".join(r)) <= set("-: ")]))
        elif lines[0].startswith("- "):
            items = " ".join(lines).split("- ")[1:]
            out.extend(("li", " ".join(i.split())) for i in items)
        else:
            out.append(("p", " ".join(" ".join(lines).split())))
    return out


def render_pdf(text: str, path: Path, *, title: str, author: str) -> None:
    """A text PDF with bookmarks for the headings (fpdf2, core fonts: latin-1 text only)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    outline_level = -1  # bookmarks may go at most one level deeper at a time
    for kind, value in blocks(text):
        if kind == "h":
            level, heading = value  # type: ignore[misc]
            if level <= 2 and pdf.get_y() > 200:
                pdf.add_page()
            pdf.set_font("Helvetica", "B", {1: 18, 2: 14}.get(level, 12))
            outline_level = min(level - 1, outline_level + 1)
            pdf.start_section(heading, level=outline_level)
            pdf.multi_cell(width, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "p":
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(width, 5.5, str(value), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "li":
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(width, 5.5, f"- {value}", new_x="LMARGIN", new_y="NEXT")
        elif kind == "table":
            pdf.set_font("Helvetica", "", 10)
            with pdf.table(width=width, line_height=5) as table:
                for row in value:  # type: ignore[attr-defined]
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
            pdf.ln(3)
    pdf.output(str(path))


def render_docx(text: str, path: Path, *, title: str, author: str) -> None:
    """A Word document with heading styles, bullet lists and tables (python-docx)."""
    import docx

    doc = docx.Document()
    doc.core_properties.title = title
    doc.core_properties.author = author
    doc.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    doc.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    for kind, value in blocks(text):
        if kind == "h":
            level, heading = value  # type: ignore[misc]
            doc.add_heading(heading, level=level)
        elif kind == "p":
            doc.add_paragraph(str(value))
        elif kind == "li":
            doc.add_paragraph(str(value), style="List Bullet")
        elif kind == "table":
            rows = value  # type: ignore[assignment]
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))  # type: ignore[arg-type]
            table.style = "Table Grid"
            for r, row in enumerate(rows):  # type: ignore[arg-type]
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
    doc.save(str(path))


MANUAL = """
# FieldLog X2 User Manual

Document FL-X2-UM, revision E, February 2026. Applies to firmware 3.4 and newer. Larkspur
Instruments GmbH, Freiburg im Breisgau.

## 1. Safety information

Read this manual before installing the device. The FieldLog X2 is designed for outdoor use
in ambient temperatures from -40 C to +70 C and is protected to IP67 when the lid is closed
and all cable glands are fitted or sealed with the supplied blind plugs.

- Use only 1.5 V AA lithium cells. Alkaline and rechargeable cells can leak at low
temperatures and are not supported.
- Do not open the lid in rain or snow. Moisture inside the housing voids the warranty.
- Mount the device with the cable glands facing down so that water cannot collect at the
seals.
- The device contains a radio transmitter (LTE-M / NB-IoT). Switch it to flight mode on
aircraft and where radio use is prohibited.

## 2. What is in the box

| Item | Part number | Quantity |
| --- | --- | --- |
| FieldLog X2 logger | FL-X2 | 1 |
| AA lithium cells | FL-BAT-AA | 2 |
| Wall and pole mounting kit | FL-MNT-1 | 1 |
| Blind plugs for unused glands | FL-PLG-4 | 4 |
| Quick start card | FL-X2-QS | 1 |

Probes (temperature/humidity TH-2, soil moisture SM-1, water level WL-5) are ordered
separately. The X2 has four probe ports; any combination of up to four probes can be used.

## 3. Installation

### 3.1 Choosing a location

Choose a place with at least two bars of mobile signal. Check the signal before you drill:
switch the device on, wait for the antenna symbol to stop blinking and read the bars on the
display. Where the signal is weak, fit the external antenna FL-ANT-3 on a cable of up to 5
metres. Avoid mounting the logger directly above water or in full midday sun; the
temperature probe should hang in the shade or in a radiation shield (FL-RS-1).

### 3.2 Mounting

Fix the mounting plate to a wall with the four screws supplied, or to a pole of 30 to 60 mm
diameter with the two hose clamps. Hang the logger on the plate and secure it with the
locking screw at the bottom. Tighten the lid screws to 1.2 Nm; over-tightening cracks the
lid, under-tightening lets water in.

### 3.3 Connecting probes

Open the lid, pass the probe cable through a free cable gland, and push the connector into
a probe port until it clicks. Ports are numbered P1 to P4 from left to right. Tighten the
gland nut by hand, then a quarter turn with the gland key. Seal unused glands with blind
plugs. The device detects probes automatically within 10 seconds and shows their type on
the display.

## 4. First start

Insert two AA lithium cells, observing the polarity marks in the compartment. The display
shows the Larkspur logo, the firmware version and then the status screen. On first start
the device registers itself with FieldLog Cloud over the built-in eSIM. Registration takes
up to five minutes. When it succeeds, the cloud symbol stops blinking and the device
appears in the customer's FieldLog Cloud account under "Unassigned devices".

If registration fails, the display shows an error code. E21 means no network: improve the
signal or fit the external antenna. E22 means the SIM is not activated: contact support with
the serial number from the label inside the lid. E23 means the device is not linked to an
account: enter the claim code from the quick start card in FieldLog Cloud.

## 5. Settings

### 5.1 Logging interval

The logging interval sets how often the device measures. The default is 15 minutes; it can
be set from 1 minute to 24 hours in FieldLog Cloud or with the Desktop app. Shorter
intervals reduce battery life: each halving of the interval costs about 30% of battery life.

### 5.2 Upload schedule

Readings are stored locally and uploaded in batches. The default is one upload per day at
a random time between 01:00 and 05:00, which spreads load on the cloud service. Uploads can
be made more frequent (up to every 15 minutes) at the cost of battery life. Alarms are
always uploaded immediately, regardless of the schedule.

### 5.3 Alarms

Each probe channel can have an upper and a lower alarm threshold and a delay. An alarm is
raised when a value stays outside the threshold for longer than the delay (default 10
minutes). Alarms are sent by email, SMS or webhook from FieldLog Cloud. The device also
shows a bell symbol on its display while an alarm is active.

## 6. Maintenance

### 6.1 Batteries

With default settings the batteries last about 18 months at 20 C. The display shows BAT
LOW when about 10% of capacity is left; the cloud sends a warning at the same time. Change
both cells together. Readings are kept in flash memory while the batteries are out.

### 6.2 Cleaning

Clean the housing with a damp cloth. Do not use solvents or a pressure washer. Check the
gland seals once a year and replace them when they are brittle (seal kit FL-SEAL-2).

### 6.3 Calibration

Recalibrate the TH-2 probe every 24 months and the SM-1 probe every 12 months, or after a
drop or flooding. Send probes to the Larkspur calibration lab in Freiburg with an RMA
number from support. The lab issues a calibration certificate; for the TH-2 this is a
DAkkS-accredited certificate.

## 7. Firmware updates

Firmware updates are delivered over the air. The device downloads an update in the
background and installs it at the next upload window when the battery is above 30%. The
update takes about two minutes, during which the display shows UPD. Measurements are not
lost. An update that fails is retried once; after a second failure the device keeps the
old firmware and reports error E41 to the cloud.

## 8. Troubleshooting

| Display | Meaning | What to do |
| --- | --- | --- |
| E21 | No network | Check the signal bars; fit the external antenna FL-ANT-3 |
| E22 | SIM not activated | Contact support with the serial number |
| E31 | Probe not detected | Reseat the connector; check the cable for damage |
| E41 | Firmware update failed twice | Contact support; the device keeps working |
| BAT LOW | Batteries nearly empty | Replace both AA lithium cells |

## 9. Technical data

Dimensions 160 x 120 x 65 mm, weight 480 g with batteries. Housing polycarbonate, UV
stabilised, IP67. Operating temperature -40 C to +70 C. Memory 500,000 readings.
Radio LTE-M (Cat-M1) with NB-IoT fallback, bands 1, 2, 3, 4, 5, 8, 12, 13, 20, 25, 26, 28,
66, 85. Four probe ports, digital. Battery life about 18 months with default settings.

## 10. Disposal

Do not dispose of the device with household waste. Return it to Larkspur Instruments free
of charge or take it to a collection point for electronic equipment. Remove the batteries
first and recycle them separately.
"""

TRAVEL_POLICY = """
# Travel and Expenses Policy

Owner: Finance. Version 2.3, valid from 1 January 2026. Applies to all employees of Larkspur
Instruments GmbH and Larkspur Instruments B.V. Classification: INTERNAL.

## 1. Principles

Travel only when a video call will not do. When you travel, choose the option that is
safe, reasonable in cost and kind to the climate. You should neither gain nor lose money
through business travel. Expenses are claimed in Spendwise within 30 days of the trip;
claims older than 90 days are not reimbursed.

## 2. Approval

Every trip needs approval from your manager before you book. Trips outside Europe also need
approval from the managing director. Trade fairs are planned by Marketing, who book travel
and hotels for the whole team.

## 3. Transport

### 3.1 Rail first

For journeys under six hours door to door, take the train. Second class is the default;
first class is allowed for journeys over four hours or when it is cheaper than second
class at the time of booking. A BahnCard 50 is paid by the company if you travel enough
for it to pay off.

### 3.2 Flights

Flights are booked through the travel agency portal in economy class. Business class is
allowed only for flights longer than eight hours and needs the managing director's
approval. Frequent flyer miles may be kept but must not influence the choice of airline.

### 3.3 Cars

Use a rental car only when public transport is not practical, for example when visiting a
customer's field site. Book the smallest car that fits the equipment. Private cars used for
business trips are reimbursed at EUR 0.30 per kilometre; parking and tolls are reimbursed
against receipts. Fines are never reimbursed.

## 4. Accommodation

Book hotels through the travel portal. The following nightly limits apply, including
breakfast. Hotels above the limit need your manager's approval in advance.

| City or region | Limit per night |
| --- | --- |
| Freiburg, Utrecht and other cities in Germany or the Netherlands | EUR 130 |
| London, Paris, Munich, Zurich | EUR 200 |
| Other European cities | EUR 150 |
| Outside Europe | According to the statutory per diem table |

## 5. Meals and per diems

In Germany, meals during business trips are covered by the statutory per diem
(Verpflegungspauschale): EUR 14 for trips of more than eight hours without an overnight
stay, EUR 28 for each full day away. When breakfast, lunch or dinner is provided (for
example by the hotel or a customer), the per diem is reduced by 20% for breakfast and 40%
each for lunch and dinner. In the Netherlands, actual meal costs are reimbursed against
receipts up to EUR 45 per day.

Business meals with customers are reimbursed against an itemised receipt that names the
guests and the purpose. The limit is EUR 70 per person including drinks. Alcohol is
reimbursed only with customers, never for internal meals.

## 6. Other expenses

- Mobile data abroad: use the company eSIM profile; personal roaming costs are not
reimbursed.
- Visa fees, vaccinations and travel insurance for business trips are paid by the company.
- Laundry is reimbursed for trips longer than five nights.
- Tips are reimbursed up to 10% of the bill where tipping is customary.
- Lost receipts: a signed personal statement is accepted up to EUR 25 per item, at most
three times per year.

## 7. Corporate card

Employees who travel more than four times a year receive a corporate credit card. Use it
only for business expenses. Private charges must be paid back within 14 days and reported
in Spendwise; repeated private use leads to the card being withdrawn. Cash withdrawals are
allowed only abroad and only when cards are not accepted.

## 8. Safety while travelling

Register every trip outside the European Union in the travel portal so that the company can
reach you in an emergency. Check the foreign office travel advice before you book. The
24-hour travel assistance number is printed on the back of the corporate card. Company
laptops must stay in your hand luggage, and you follow the Information Security Policy on
public Wi-Fi: connect through the VPN.
"""


def main() -> None:
    (SAMPLES / "product").mkdir(parents=True, exist_ok=True)
    (SAMPLES / "handbook").mkdir(parents=True, exist_ok=True)
    author = "Larkspur Instruments GmbH"
    render_pdf(
        MANUAL,
        SAMPLES / "product" / "fieldlog-x2-user-manual.pdf",
        title="FieldLog X2 User Manual",
        author=author,
    )
    render_docx(
        TRAVEL_POLICY,
        SAMPLES / "handbook" / "travel-and-expenses-policy.docx",
        title="Travel and Expenses Policy",
        author="Finance, " + author,
    )
    print(f"wrote PDF and DOCX samples under {SAMPLES}")


if __name__ == "__main__":
    main()
