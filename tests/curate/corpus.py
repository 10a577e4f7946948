"""Real-looking business Q/A records with planted duplicates, for curation tests and the
benchmark.

Each record is composed from many sentence templates with slots filled from word banks,
so two generated records rarely share more than a sentence or two (they are distinct,
not trivially near-identical), plus hand-written real Q/A pairs. Planted duplicates are
edits of a source record: whitespace, punctuation, one word changed, sentences reordered.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from generator.curate.normalize import normalize

_BANK_TEXT = """
dept: Finance|Sales|Legal|Procurement|Engineering|Customer Support|Marketing|Facilities
    Human Resources|IT Operations|Logistics|Quality Assurance|Security|Training|Payroll
days: two|three|five|seven|ten|fourteen|twenty|thirty|forty-five|sixty
amount: $50|$75|$120|$250|$500|$1,000|$2,500|$5,000|$10,000|$25,000
system: Workday|SAP Concur|ServiceNow|Salesforce|Jira|the HR portal|the intranet|Coupa
    NetSuite|Zendesk|Okta|the expense app|SharePoint|the asset register
role: line manager|department head|finance controller|HR business partner|security officer
    regional director|team lead|procurement officer|CFO|site manager
doc: expense claim|purchase order|travel request|leave request|incident report
    access request|change request|vendor form|timesheet|contract amendment|refund request
    onboarding checklist|risk assessment|invoice
region: EMEA|North America|APAC|Latin America|the UK|Germany|Japan|Canada|France|Australia
    Brazil|India
product: the Basic plan|the Pro plan|the Enterprise plan|the mobile app|the API
    the analytics add-on|the hardware kit|the support package|the starter bundle
percent: 5%|10%|15%|20%|25%|30%|40%|50%
weekday: Monday|Tuesday|Wednesday|Thursday|Friday
quarter: the first quarter|the second quarter|the third quarter|the fourth quarter|year end
    the half-year close
item: laptop|mobile phone|monitor|security badge|parking permit|corporate card|VPN token
    headset|docking station|desk chair
channel: email|the service desk|a ticket|the team chat|phone|the self-service form
hours: 4|8|12|24|48|72
"""


def _banks(text: str) -> dict[str, list[str]]:
    """Parse "name: value|value|..." lines; an indented line continues the bank above."""
    banks: dict[str, str] = {}
    name = ""
    for line in text.strip().splitlines():
        if line.startswith(" "):
            banks[name] += "|" + line.strip()
        else:
            name, values = line.split(": ", 1)
            banks[name] = values
    return {k: v.split("|") for k, v in banks.items()}


BANKS = _banks(_BANK_TEXT)


QUESTIONS = [
    "How many days do I have to submit a {doc} in {dept}?",
    "Who approves a {doc} above {amount}?",
    "What is the process for requesting a new {item}?",
    "Can I submit a {doc} through {system}?",
    "What happens if my {doc} is late in {quarter}?",
    "How do customers in {region} cancel {product}?",
    "What discount can sales offer on {product} in {region}?",
    "Explain how {dept} handles a lost {item}.",
    "Summarise the approval rules for a {doc} in {dept}.",
    "Describe the escalation path when {system} is down.",
    "What should I do before returning my {item} to {dept}?",
    "List the steps to close a {doc} in {system}.",
    "When is the deadline for {doc} submissions at {quarter}?",
    "Which team owns the {doc} process in {region}?",
    "How long does {dept} keep records of a {doc}?",
    "What is the response time for a priority ticket about {system}?",
    "Give me the rules for reimbursing travel in {region}.",
    "How should a contractor in {dept} request access to {system}?",
    "What is the refund policy for {product}?",
    "Write a short reply to a customer asking about {product} pricing in {region}.",
    "Draft an email reminding {dept} about the {doc} deadline.",
    "Compare the approval limits of a {role} and a {role2}.",
    "What evidence is needed to support a {doc} over {amount}?",
    "Explain who to contact via {channel} about a broken {item}.",
    "Classify this request: a {doc} from {dept} for {amount}.",
]

PREFACES = [
    "I'm new in {dept}.",
    "Quick question from the {region} office:",
    "A client in {region} is asking.",
    "Our {role} wants to know.",
    "I work in {dept} and use {system} daily.",
    "Sorry if this was asked before.",
    "I'm a contractor with a {item} from {dept}.",
    "Following up on my {doc} from {weekday}.",
    "We are closing {quarter} in {dept}.",
    "For the {region} team:",
    "My {role} is away this week.",
    "Asking for a colleague in {dept}.",
]

SUFFIXES = [
    "Thanks!",
    "It's urgent.",
    "Please keep it short.",
    "I need it by {weekday}.",
    "Is that different in {region}?",
    "Does the {role} need to know?",
    "Can I do it in {system}?",
    "What if it is over {amount}?",
]

SENTENCES = [
    "A {doc} must be submitted within {days} working days in {dept}.",
    "Requests above {amount} need written approval from the {role}.",
    "Employees use {system} to create, track and close every {doc}.",
    "If the deadline is missed, the {role} reviews the case before {quarter}.",
    "Customers in {region} can cancel {product} at any time from their account page.",
    "Sales may offer up to {percent} off {product} without extra sign-off.",
    "A lost {item} has to be reported to {dept} through {channel} within {hours} hours.",
    "The {role} checks that receipts match the amounts claimed.",
    "Priority tickets about {system} get a first response within {hours} hours.",
    "Records of each {doc} are kept for {days} years for audit purposes.",
    "Contractors need sponsorship from a {role} before they get access to {system}.",
    "Travel in {region} is reimbursed at the published daily rates.",
    "Refunds for {product} are issued to the original payment method within {days} days.",
    "Returned equipment such as a {item} must be wiped by IT before it is reissued.",
    "The {dept} team owns the {doc} process in {region}.",
    "Escalations go first to the {role} and then to the {role2}.",
    "Late submissions after {quarter} are paid in the following cycle.",
    "Any {doc} over {amount} also needs a second approver from {dept}.",
    "Discounts above {percent} require approval from the {role}.",
    "Staff should attach the original invoice and a short business justification.",
    "During an outage of {system}, log the request by {channel} and note the ticket number.",
    "New starters in {dept} receive a {item} on their first {weekday}.",
    "The policy applies to permanent staff, interns and contractors alike.",
    "Exceptions are recorded in the {doc} log and reviewed every quarter.",
    "Currency conversions use the rate on the day the cost was incurred.",
    "A {role} can approve up to {amount} per month for their team.",
    "Cancellations of {product} take effect at the end of the billing period.",
    "Customers in {region} are billed in local currency plus applicable tax.",
    "Security incidents involving a {item} must be reported to the {role} immediately.",
    "Unused budget in {dept} does not carry over past {quarter}.",
    "Approvals in {system} are sent to the {role} by email and expire after {days} days.",
    "Managers must confirm the {doc} before {weekday} noon to meet the payroll cut-off.",
    "The {role2} signs off any {doc} that affects more than one region.",
    "Please keep copies of supporting documents for at least {days} months.",
    "Questions about the {doc} process can be sent to {dept} through {channel}.",
    "Access to {system} is reviewed every {days} days and removed when no longer needed.",
    "Orders for {product} placed before {weekday} ship the same week in {region}.",
    "Damaged equipment is replaced once the {role} confirms the incident report.",
    "Training on {system} is mandatory for new members of {dept}.",
    "Any change to {product} pricing in {region} is announced {days} days in advance.",
]

REAL = [
    (
        "What is our policy on working from home?",
        "Staff may work from home up to three days a week with their manager's agreement. "
        "Core hours are ten to four, and you must be reachable on the team chat. "
        "Equipment used at home stays company property and must be returned on leaving.",
    ),
    (
        "How do I report a phishing email?",
        "Do not click any link or open attachments in the message. Use the Report Phish "
        "button in the mail client, which sends a copy to the security team. If you already "
        "entered your password, change it at once and call the service desk.",
    ),
    (
        "When are salaries paid?",
        "Salaries are paid on the last working day of each month. Payslips appear in the HR "
        "portal two days earlier. Overtime approved after the 20th is paid the next month.",
    ),
    (
        "Can I carry over unused annual leave?",
        "You can carry over up to five days of unused leave into the next year. Carried-over "
        "days must be taken by the end of March or they lapse. Exceptions need HR approval "
        "in writing, for example after long sick leave.",
    ),
    (
        "What should I do if I lose my building pass?",
        "Report the loss to reception and security the same day so the pass can be blocked. "
        "A temporary pass is issued for up to a week. A replacement costs nothing the first "
        "time; repeated losses are charged at fifteen pounds.",
    ),
    (
        "How do I book a meeting room for an external visitor?",
        "Book the room in the calendar and add the visitor's name in the guest field. "
        "Reception prints a badge on arrival and calls you down. Visitors must be "
        "accompanied at all times outside the ground floor.",
    ),
    (
        "Explain the code review rules for the payments service.",
        "Every change needs two approvals, one of them from the payments team. Changes to "
        "the ledger schema also need a sign-off from the data owner. Hotfixes may merge with "
        "one approval but get a full review within two working days.",
    ),
    (
        "Who pays for a professional certification?",
        "The company pays exam fees for certifications listed in the training catalogue. "
        "Your manager must approve the request before you book. If you leave within a year, "
        "half of the fee is deducted from your final salary.",
    ),
]

SWAPS = {
    "must": "should",
    "within": "inside",
    "approval": "sign-off",
    "customers": "clients",
    "employees": "staff",
    "request": "application",
    "reported": "notified",
    "team": "group",
    "days": "business days",
    "need": "require",
    "every": "each",
}


@dataclass
class Item:
    """A generated record and, for a planted duplicate, the index it copies."""

    instruction: str
    output: str
    key: str = ""  # "d<n>" for distinct records, "p<n>" for planted duplicates
    source: str | None = None  # key of the original, for planted duplicates
    edit: str = ""


def _fill(template: str, rng: random.Random) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1).rstrip("2")
        return rng.choice(BANKS[key])

    return re.sub(r"\{(\w+)\}", sub, template)


def distinct_record(rng: random.Random) -> tuple[str, str]:
    """One generated Q/A pair: a question and 3-5 answer sentences."""
    question = _fill(rng.choice(QUESTIONS), rng)
    if rng.random() < 0.9:
        question = _fill(rng.choice(PREFACES), rng) + " " + question
    if rng.random() < 0.7:
        question += " " + _fill(rng.choice(SUFFIXES), rng)
    picked = rng.sample(SENTENCES, rng.randint(3, 5))
    return question, " ".join(_fill(s, rng) for s in picked)


def edit(instruction: str, output: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """A near/exact duplicate of a record by one kind of edit."""
    sents = re.split(r"(?<=[.!?])\s+", output)
    if kind == "whitespace":
        return "  " + instruction.replace(" ", "  ", 2), output.replace(". ", ".\n\n ", 2)
    if kind == "punctuation":
        out = output.replace(", ", " ").replace(".", "!", 1).rstrip(".")
        return instruction.rstrip("?.") + " ?", out
    if kind == "case":
        return instruction.upper(), output.lower()
    if kind == "word":
        for i in rng.sample(range(len(sents)), len(sents)):
            ws = sents[i].split()
            hits = [k for k, w in enumerate(ws) if w.lower() in SWAPS]
            if hits:
                k = rng.choice(hits)
                ws[k] = SWAPS[ws[k].lower()]
                sents[i] = " ".join(ws)
                break
        else:  # no swappable word: change the last word of the answer
            ws = sents[-1].split()
            ws[-1] = "promptly."
            sents[-1] = " ".join(ws)
        return instruction, " ".join(sents)
    if kind == "reorder":
        order = sents[1:] + sents[:1] if len(sents) > 1 else sents
        return instruction, " ".join(order)
    raise ValueError(kind)


EDITS = ("whitespace", "punctuation", "case", "word", "reorder")


def corpus(n_distinct: int, n_dups: int, seed: int = 7) -> list[Item]:
    """``n_distinct`` distinct records (hand-written ones first) plus ``n_dups`` planted
    duplicates, shuffled deterministically, each copy placed after its original (so "keep
    the first" keeps the original)."""
    rng = random.Random(seed)
    base = [Item(q, a) for q, a in REAL[:n_distinct]]
    # Distinct means distinct questions too: exact dedup keys on the instruction.
    seen = {normalize(q) for q, _ in REAL}
    while len(base) < n_distinct:
        q, a = distinct_record(rng)
        if normalize(q) not in seen:
            seen.add(normalize(q))
            base.append(Item(q, a))
    rng.shuffle(base)
    keyed: list[tuple[float, Item]] = []
    for n, item in enumerate(base):
        item.key = f"d{n}"
        keyed.append((float(n), item))
    for k in range(n_dups):
        src = rng.randrange(n_distinct)
        kind = EDITS[k % len(EDITS)]
        q, a = edit(base[src].instruction, base[src].output, kind, rng)
        at = src + 0.5 + rng.random() * (n_distinct - src)
        keyed.append((at, Item(q, a, f"p{k}", base[src].key, kind)))
    keyed.sort(key=lambda t: t[0])
    return [item for _, item in keyed]


def as_rows(items: list[Item]) -> list[dict[str, object]]:
    """Alpaca JSON objects with the item key as ``meta.id``."""
    return [
        {
            "instruction": it.instruction,
            "input": "",
            "output": it.output,
            "meta": {"id": it.key, "format": "alpaca"},
        }
        for it in items
    ]


def write_run(run: Path, n_distinct: int, n_dups: int = 0, seed: int = 5) -> Path:
    """A run folder ``run`` whose ``records.jsonl`` holds :func:`corpus` as rows."""
    run.mkdir()
    rows = as_rows(corpus(n_distinct, n_dups, seed=seed))
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run
