"""The Hugging Face dataset card (``README.md``) of an export: a YAML header (licence,
language, task categories, size category, tags, and the data files per split so that
``datasets.load_dataset(DIR)`` reads exactly the dataset files, never the sidecars or the
manifest), then provenance, generation, the synthetic nature of the data and its terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from generator.export.gate import policies_seen

if TYPE_CHECKING:
    from generator.export.job import ExportResult

# The Hub's own size_categories values (its dataset-card metadata list), by upper bound.
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)


def size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` value for ``n`` examples."""
    return next((label for limit, label in _SIZES if n < limit), "n>1T")


def _header(res: ExportResult) -> str:
    tasks = ["text-generation"]
    if any(p in ("qa", "question-answering") for p in res.prompts):
        tasks.append("question-answering")
    files = [{"split": f.split, "path": f.name} for f in res.files if f.kind == "data"]
    data = {
        "license": "other",
        "license_name": "provider-terms-see-legal-review",
        "license_link": "LEGAL_REVIEW.md",
        "language": [res.options.language],
        "task_categories": tasks,
        "size_categories": [size_category(res.n_exported)],
        "tags": ["synthetic", "instructforge", res.options.fmt],
        "pretty_name": f"instructforge export ({res.options.fmt}, {res.options.use})",
        "configs": [{"config_name": "default", "data_files": files}],
    }
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def _bullets(counter: dict[str, int]) -> str:
    return "\n".join(f"- `{k}`: {n}" for k, n in sorted(counter.items())) or "- (none recorded)"


def dataset_card(res: ExportResult) -> str:
    opts, st = res.options, res.gate.stats
    policies = ", ".join(f"`{p}` ({res.gate.policies[p].terms.name})" for p in policies_seen(st))
    splits = ", ".join(f"{s}: {n}" for s, n in res.exported.items())
    meta = (
        "dropped (`--no-meta`)"
        if opts.no_meta
        else "in the `meta` column"
        if any(f.kind == "data" and f.name.endswith(".parquet") for f in res.files)
        else "in `meta.jsonl`, whose lines name the split and line of the example they describe"
    )
    judges = (
        "Judge models (their rankings chose the answers of the preference pairs; their terms "
        f"bind the pairs too):\n{_bullets(dict(st.judges))}\n\n"
        if st.judges
        else ""
    )
    body = f"""
# instructforge export ({opts.fmt})

{res.n_exported} synthetic fine-tuning examples ({splits}) in `{opts.fmt}` format, generated
from a private document collection with instructforge {res.target and ""}and exported for the
declared use **{opts.use}** after a licence check of every record.

## Provenance and generation

Examples were written by large language models from chunks of source documents, each record
tagged with the model, the provider, the terms-of-use policy in force, the prompt template
(id, version, hash) and the source document and span it came from (the provenance is {meta}).
Input: {res.plan.source}.

Models:
{_bullets(dict(res.by_model))}

{judges}Providers:
{_bullets(dict(res.by_provider))}

Prompt templates:
{_bullets(dict(res.prompts))}

Terms-of-use policies: {policies or "none"}. The verdict of each policy and source-document
label for the use **{opts.use}**, the clauses they rest on, the reviews accepted and every
excluded record with its reason are in `LEGAL_REVIEW.md` and `manifest.json`.

## Synthetic data

This dataset is machine-generated. Answers may be wrong, incomplete or out of date, may
reflect the generating model's biases, and are only as current as the source documents.
Curation (deduplication, filters, scores) and sampled human review reduce but do not
remove these risks. Do not treat the examples as verified facts; evaluate any model trained
on them against trusted references.

## Licence and terms

There is no single licence: each example is governed by the terms of the provider whose
model generated it and by the labels of its source document. Read `LEGAL_REVIEW.md` before
any use other than **{opts.use}**.
"""
    return _header(res) + body
