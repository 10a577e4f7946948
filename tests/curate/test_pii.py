"""PII and secrets: planted values in real sentences are found, rewritten, never leaked."""

from __future__ import annotations

import random

import pytest

from generator import redact
from generator.curate.pii import PiiConfig, PiiStep, run_key
from generator.records import AlpacaRecord, Meta
from generator.store import Journal

SENTENCES = [
    "For payroll questions, write to {v} before the 15th of the month.",
    "The on-call engineer can be reached at {v} during the weekend rotation.",
    "Refunds for the conference were sent to the card ending in {v} last week.",
    "Please update the vendor record so that payments go to {v} from now on.",
    "The build agent at {v} lost its connection to the artifact store again.",
    "Her employment file still lists {v} as the tax identifier on record.",
    "The deployment script still contains {v}, which must be rotated today.",
]

EMAILS = [
    "jane.doe@northwind-example.com",
    "m.okafor@contoso.co.uk",
    "it-help@acme.io",
    "lars.nilsson+hr@example.org",
    "p.sharma@finance.example.net",
]
PHONES = ["+1 415 555 0132", "(212) 555-0199", "+44 20 7946 0958", "+49 30 901820", "415-555-0107"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117"]
IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
]
IPS = ["192.168.14.20", "10.0.3.77", "172.16.254.1", "2001:db8:85a3::8a2e:370:7334"]
SSNS = ["536-22-4831", "219-09-9999", "457-55-5462"]
SECRETS = {
    "OPENAI_KEY": "sk-proj-4fR9xQ2mT7vB1nK8sL3pZ6wY0aE5cH2j",
    "ANTHROPIC_KEY": "sk-ant-api03-Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz",
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
    "SLACK_TOKEN": "xoxb-2048-4096-abcdefGHIJKLmnop",
    "GOOGLE_API_KEY": "AIzaSyD4kR2tP9xQ7mN5vB3cL8wE1yU6iO0aSdF",
    "JWT": (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ),
    "URL_CREDENTIALS": "https://deploy:Tr0ub4dor3@git.internal.example.com/repo.git",
    "PRIVATE_KEY": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    ),
}


def _planted() -> list[tuple[str, str, str]]:
    """(entity type, planted value, sentence) for every value in every sentence frame."""
    cases = []
    for kind, values in [
        ("EMAIL", EMAILS),
        ("PHONE", PHONES),
        ("CREDIT_CARD", CARDS),
        ("IBAN", IBANS),
        ("IP_ADDRESS", IPS),
        ("US_SSN", SSNS),
    ]:
        for v in values:
            for s in SENTENCES:
                cases.append((kind, v, s.format(v=v)))
    for kind, v in SECRETS.items():
        for s in SENTENCES:
            cases.append((kind, v, s.format(v=v)))
    return cases


def _record(text: str, rid: str = "r1") -> AlpacaRecord:
    return AlpacaRecord(
        instruction="Summarise the note.",
        input=text,
        output=f"The note says: {text}",
        meta=Meta(id=rid, format="alpaca"),
    )


def test_recall_on_planted_values_is_at_least_95_percent_per_type() -> None:
    hits: dict[str, list[bool]] = {}
    misses = []
    for kind, value, sentence in _planted():
        start = sentence.index(value)
        end = start + len(value)
        ok = any(
            f.type == kind and f.start <= start + 1 and f.end >= end - 1
            for f in redact.detect(sentence)
        )
        hits.setdefault(kind, []).append(ok)
        if not ok:
            misses.append((kind, sentence))
    recall = {k: sum(v) / len(v) for k, v in hits.items()}
    assert all(r >= 0.95 for r in recall.values()), (recall, misses[:10])


CLEAN = [
    "Kill the process with the task manager if the export hangs for more than ten minutes.",
    "Execute the order only after the purchase request has two approvals.",
    "Version 2.4.1 of the client was released on 12 March and fixes the sync bug.",
    "Room 204 seats 12 people; book it through the facilities calendar.",
    "The commit 9f2c1e7b3a4d5e6f708192a3b4c5d6e7f8091a2b fixed the login redirect.",
    "Our support line is open from 9 to 17 on weekdays, except public holidays.",
    "The warehouse ships about 1200 parcels a day across 3 regions.",
]


def test_clean_business_text_has_no_findings() -> None:
    for text in CLEAN:
        assert redact.detect(text) == [], text


def test_redaction_leaves_no_secret_or_contact_in_any_field() -> None:
    step = PiiStep()
    records = [_record(s, f"r{i}") for i, (_, _, s) in enumerate(_planted())]
    out = list(step.run(records))
    assert len(out) == len(records)
    blob = "\n".join(r.to_json() for r in out)
    for value in [*EMAILS, *CARDS, *IBANS, *SECRETS.values()]:
        assert value not in blob
    assert "<EMAIL>" in blob and "<OPENAI_KEY>" in blob
    stats = step.stats()
    assert stats["findings"]["EMAIL"] >= len(EMAILS) * len(SENTENCES)
    # examples in the report are masked, never the raw value
    for ex in stats["examples"]["EMAIL"]:
        assert ex not in EMAILS and "*" in ex


def test_pseudonyms_are_consistent_within_a_run_and_differ_across_runs(tmp_path) -> None:
    cfg = PiiConfig(actions={"EMAIL": "pseudonymize"})
    key1 = run_key(Journal(tmp_path / "run1"))
    assert run_key(Journal(tmp_path / "run1")) == key1  # stored once, reused on resume
    key2 = run_key(Journal(tmp_path / "run2"))
    text = "Write to jane.doe@northwind-example.com or jane.doe@northwind-example.com."
    a = list(PiiStep(cfg, key1).run([_record(text, "a"), _record(text, "b")]))
    b = list(PiiStep(cfg, key2).run([_record(text, "c")]))
    p1 = a[0].input.split()[2]
    assert a[0].input == a[1].input and a[0].input.count(p1) == 2
    assert p1.endswith("@example.invalid") and "jane" not in p1
    assert b[0].input != a[0].input


def test_drop_action_excludes_the_record_with_its_reason() -> None:
    step = PiiStep(PiiConfig(actions={"US_SSN": "drop", "EMAIL": "redact"}))
    recs = [
        _record("Her file lists 536-22-4831 as the identifier.", "x"),
        _record("Mail it-help@acme.io for help.", "y"),
    ]
    out = list(step.run(recs))
    assert [r.meta.id for r in out] == ["y"]
    assert step.excluded[0].reason == "pii:US_SSN"
    assert step.excluded[0].record.meta.id == "x"
    assert "536-22-4831" not in step.excluded[0].record.to_json()  # excluded, but redacted


def test_mask_action_keeps_shape() -> None:
    step = PiiStep(PiiConfig(actions={"CREDIT_CARD": "mask"}))
    out = list(step.run([_record("Card 4111 1111 1111 1111 was charged.")]))
    assert "4*****************1" in out[0].input


def test_unknown_entity_type_in_config_is_a_config_error() -> None:
    from generator.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown entity types"):
        PiiStep(PiiConfig(actions={"EMAILS": "redact"}))


def test_entropy_detector_ignores_hex_digests_but_flags_random_tokens() -> None:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    token = "".join(rng.choice(alphabet) for _ in range(40))
    found = redact.detect(f"set the header to {token} before calling the API")
    assert [f.type for f in found] == ["HIGH_ENTROPY_TOKEN"]
    assert redact.detect("sha256 " + "a3f9" * 16) == []


def test_redact_text_for_sending_replaces_every_planted_value() -> None:
    text = " ".join(s for _, _, s in _planted()[::7])
    clean, counts = redact.redact_text(text)
    for value in [*EMAILS, *CARDS, *IBANS, *SECRETS.values()]:
        assert value not in clean
    assert counts["EMAIL"] >= 1 and sum(counts.values()) >= len(_planted()[::7]) * 0.95


def test_person_and_place_names_with_the_ner_extra() -> None:
    if not redact.ner_available():
        pytest.skip("needs the [ner] extra: pip install --no-deps -r requirements-ner.txt")
    step = PiiStep(PiiConfig(ner=True, actions={"PERSON": "pseudonymize", "LOCATION": "redact"}))
    text = "Maria Schmidt from the Berlin office approves travel requests for John Carter."
    out = next(iter(step.run([_record(text)])))
    assert "Maria Schmidt" not in out.input and "John Carter" not in out.input
    assert "<LOCATION>" in out.input and "<PERSON_" in out.input
    assert step.stats()["findings"]["PERSON"] >= 2


def test_ner_requested_without_the_extra_warns_and_still_redacts(monkeypatch) -> None:
    monkeypatch.setattr(redact, "ner_available", lambda: False)
    step = PiiStep(PiiConfig(ner=True))
    out = next(iter(step.run([_record("Mail it-help@acme.io, says Maria Schmidt.")])))
    assert "<EMAIL>" in out.input
    assert step.stats()["warnings"] == [redact.NER_HINT]
