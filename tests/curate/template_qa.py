"""Sets of distinct Q&A pairs written from one template, for the contradiction step.

Every question in a set shares its wording and differs only in the entities it names
(commands and flags, product names, numbers, people), which is what a generator asked
for "one question per command" writes. Answers share a template too and state different
figures, so any two questions wrongly taken for the same one look like a contradiction.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from generator.records import AlpacaRecord, Meta

_COMMANDS = [
    "sync",
    "push",
    "pull",
    "fetch",
    "build",
    "deploy",
    "backup",
    "restore",
    "migrate",
    "export",
    "import",
    "index",
    "prune",
    "compact",
    "verify",
    "serve",
    "login",
    "logout",
    "status",
    "clean",
    "archive",
    "rotate",
    "scan",
    "tag",
    "merge",
    "rebase",
    "stash",
    "lint",
    "test",
    "format",
    "publish",
    "release",
    "install",
    "uninstall",
    "upgrade",
    "watch",
    "mount",
    "unmount",
]
_FLAGS = [
    "--force",
    "--dry-run",
    "--verbose",
    "--quiet",
    "--all",
    "--recursive",
    "--no-cache",
    "--strict",
    "--json",
    "--watch",
    "--offline",
    "--parallel",
    "--retry",
    "--yes",
    "--keep-going",
    "--timeout",
    "--since",
    "--until",
    "--limit",
    "--prune",
    "--tags",
    "--depth",
    "--shallow",
    "--squash",
    "--rebase",
    "--debug",
    "--trace",
    "--color",
    "--no-color",
]
_PRODUCTS = [
    "Atlas",
    "Borealis",
    "Cobalt",
    "Dynamo",
    "Ember",
    "Falcon",
    "Granite",
    "Helios",
    "Ion",
    "Juniper",
    "Krypton",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Onyx",
    "Polaris",
    "Quasar",
    "Rook",
    "Sierra",
    "Titan",
    "Umbra",
    "Vega",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
]
_EDITIONS = ["Basic", "Pro", "Team", "Business", "Enterprise", "Edge", "Cloud", "Mobile"]
_FIRST = [
    "Alice",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lars",
    "Maya",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
    "Zora",
]
_LAST = [
    "Abbott",
    "Becker",
    "Costa",
    "Duval",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
]
_TEAMS = [
    "Finance",
    "Sales",
    "Legal",
    "Procurement",
    "Payroll",
    "Security",
    "Logistics",
    "Marketing",
]


def _rec(n: int, question: str, answer: str) -> AlpacaRecord:
    return AlpacaRecord(
        instruction=question, output=answer, meta=Meta(id=f"t{n:04d}", format="alpaca")
    )


def _unique(
    make: Callable[[random.Random], tuple[str, str]], n: int, seed: int
) -> list[AlpacaRecord]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[AlpacaRecord] = []
    for _ in range(n * 50):
        if len(out) == n:
            break
        q, a = make(rng)
        if q not in seen:
            seen.add(q)
            out.append(_rec(len(out), q, a))
    if len(out) < n:
        raise ValueError(f"the template cannot make {n} distinct questions")
    return out


def commands(rng: random.Random) -> tuple[str, str]:
    cmd, flag = rng.choice(_COMMANDS), rng.choice(_FLAGS)
    secs = rng.randint(1, 600)
    return (
        f"What does the `{cmd} {flag}` command do?",
        f"`{cmd} {flag}` runs {cmd} with {flag} set and gives up after {secs} seconds.",
    )


def products(rng: random.Random) -> tuple[str, str]:
    name, ed = rng.choice(_PRODUCTS), rng.choice(_EDITIONS)
    ver = f"{rng.randint(1, 9)}.{rng.randint(0, 12)}"
    price = rng.randint(5, 400)
    return (
        f"How much does a seat of {name} {ed} {ver} cost per month?",
        f"A seat of {name} {ed} {ver} costs {price} EUR per month, billed yearly.",
    )


def numbers(rng: random.Random) -> tuple[str, str]:
    amount = rng.randint(1, 1000) * 50
    days = rng.randint(1, 90)
    return (
        f"Who must approve a purchase order of {amount} EUR?",
        f"A purchase order of {amount} EUR needs approval within {days} days by the controller.",
    )


def people(rng: random.Random) -> tuple[str, str]:
    person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    team = rng.choice(_TEAMS)
    days = rng.randint(1, 40)
    return (
        f"How many days of leave does {person} from {team} have left this year?",
        f"{person} in {team} has {days} days of leave left this year.",
    )


def lowercase_slots(rng: random.Random) -> tuple[str, str]:
    # Entities with no surface mark (lowercase words, no digits): only the words differ.
    svc = rng.choice(_COMMANDS)
    env = rng.choice(["staging", "production", "testing", "development", "preview", "sandbox"])
    part = rng.choice(["worker", "scheduler", "gateway", "queue", "cache", "proxy", "indexer"])
    secs = rng.randint(1, 300)
    return (
        f"How do I configure the retry timeout for the {svc} {part} in {env}?",
        f"Set the retry timeout of the {svc} {part} in {env} to {secs} seconds in its config.",
    )


def mixed(rng: random.Random) -> tuple[str, str]:
    person = rng.choice(_FIRST)
    name, cmd, flag = rng.choice(_PRODUCTS), rng.choice(_COMMANDS), rng.choice(_FLAGS)
    n = rng.randint(2, 64)
    return (
        f"Can {person} run `{cmd} {flag}` on {name} with {n} workers?",
        f"Yes, {person} can run `{cmd} {flag}` on {name}; {n} workers take about {n * 3} minutes.",
    )


FAMILIES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "commands": commands,
    "products": products,
    "numbers": numbers,
    "people": people,
    "lowercase_slots": lowercase_slots,
    "mixed": mixed,
}


def one_template_set(family: str, n: int = 1000, seed: int = 16) -> list[AlpacaRecord]:
    """``n`` distinct Q&A pairs from the template ``family``."""
    return _unique(FAMILIES[family], n, seed)
