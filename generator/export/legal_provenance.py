"""The provenance part of the legal pack: the settings the gate resolved terms with, the
records it could not verify, the disagreements it named and the written authorizations it
used (``manifest.json`` key ``provenance`` and the summary lines of LEGAL_REVIEW.md)."""

from __future__ import annotations

from typing import Any

from generator.export.gate import Gate


def provenance_manifest(gate: Gate) -> dict[str, Any]:
    """How the gate worked out each record's terms: the settings it resolved with, the
    records it could not verify, disagreements it named, and written authorizations used."""
    st = gate.stats
    auths = gate.authorizations
    return {
        "context": gate.context.to_dict(),
        "journal": gate.provenance.has_journal,
        "records_not_in_journal": st.imported,
        "disagreements": dict(st.disagreements.most_common()),
        "authorizations": {
            "file": str(auths.path) if auths.path else None,
            "sha256": auths.sha256 or None,
            "version": auths.version or None,
            "used": [
                {**a.model_dump(mode="json"), "records": st.authorizations[a.id]}
                for a in auths.entries
                if st.authorizations.get(a.id)
            ],
        },
    }


def provenance_lines(prov: dict[str, Any]) -> list[str]:
    ctx = prov["context"]
    out = [
        f"- Terms worked out again from each record's model and API base (domicile: "
        f"{ctx['domicile'] or 'not set'}; self-hosted hosts: "
        f"{', '.join(ctx['self_hosted']) or 'loopback only'})."
    ]
    if prov["records_not_in_journal"]:
        out.append(
            f"- **{prov['records_not_in_journal']} records are not in this run's journal** "
            "(data from elsewhere): their policy tags were not trusted."
        )
    for text, n in prov["disagreements"].items():
        out.append(f"- **Disagreement ({n} records):** {text}")
    for a in prov["authorizations"]["used"]:
        out.append(
            f"- Written authorization `{a['id']}` ({a['records']} records): {a['policy']} "
            f"granted {', '.join(a['uses'])} to {a['granted_to']} by {a['granted_by']} on "
            f"{a['date']} ({a['document']}): {a['scope']}"
        )
    return out
