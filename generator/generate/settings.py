"""Settings of a generation run, and the fingerprint of those that affect outputs.

``GenerateSettings`` is the resolved configuration (``RUN/config.json``, no secrets). Its
:meth:`~GenerateSettings.fingerprint` covers only what changes what a provider is asked and
how replies are judged (model, template identity, seed-file hash, records per chunk, novelty
threshold, pool lag, sampling seed, a configured context window). A RUN remembers its
fingerprint; starting it again with a different one is refused
(:class:`~generator.errors.SettingsChangedError`) unless ``--force-new-settings``, which
starts a new *generation* inside the same RUN: work units are keyed by the fingerprint, so
old records stay and new units are planned for the new settings. Throughput knobs
(concurrency, rpm, workers, budget, ``--records``) never change outputs and are not
fingerprinted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator.errors import ConfigError, SettingsChangedError
from generator.records import Ref
from generator.redact import scrub_url_credentials

FINGERPRINT_KEY = "generate.fingerprint"
FINGERPRINT_FIELDS = (
    "model",
    "template",
    "prompt_ref",
    "seeds_sha256",
    "per_chunk",
    "novelty_threshold",
    "pool_lag",
    "sample_seed",
    "context_window",  # decides how chunks are split to fit
    "redact_before_send",  # what the provider sees
    # Whose server answers decides whose terms apply (generator/policy_resolve.py): a resumed
    # run must not mix records tagged under two hosts. Scrubbed of user:pass@; left out of
    # the fingerprint when unset, so runs without an API base keep their fingerprint.
    "api_base",
    "tools_sha256",  # the --tools catalogue (its hash): what a tool template shows and checks
)
# Left out of the fingerprint when unset, so runs started without them keep theirs.
OPTIONAL_FIELDS = ("api_base", "tools_sha256")


class GenerateSettings(BaseModel):
    """Everything a ``generate`` run was started with (validated; ``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")

    docs: str  # the document folder, as given
    run_dir: str
    model: str
    template: str = "qa"
    prompt_ref: Ref | None = None  # filled once the template is loaded
    seeds: str | None = None  # seed-task file (self-instruct); default: the generic one
    seeds_sha256: str | None = None
    per_chunk: int | None = Field(default=None, ge=1, le=1000)  # None: template's per call
    records: int | None = Field(default=None, ge=1)  # stop after this many accepted
    concurrency: int = Field(default=8, ge=1, le=4096)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_cost: float | None = Field(default=None, ge=0)
    # Cross-run call cache folder (``--cache``); None: off (generation wants novelty).
    # Not in the fingerprint: a cached reply is the same reply.
    cache_dir: str | None = None
    api_base: str | None = None
    # The variable holding the key for a custom api_base (its NAME, never the value).
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Processes making the provider calls: 0 = the main process; "auto" = 0 or 1 by
    # :func:`generator.generate.backend.call_processes`.
    workers: int | Literal["auto"] = "auto"
    # Self-Instruct: ROUGE-L F1 above this against the pool rejects an instruction.
    novelty_threshold: float = Field(default=0.7, gt=0, le=1)
    # Unit i shows pool examples only from units before i - pool_lag (see engine docstring).
    pool_lag: int = Field(default=64, ge=1)
    sample_seed: int = 0  # seeds the choice of in-context examples per unit
    context_window: int | None = Field(default=None, ge=256)  # overrides the model's
    price_in_per_m: float | None = Field(default=None, ge=0)  # USD / 1M input tokens
    price_out_per_m: float | None = Field(default=None, ge=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    timeout_s: float = Field(default=120.0, gt=0)
    tools: str | None = None  # --tools: a tool catalogue file (tool_use: templates)
    tools_sha256: str | None = None
    # Replace personal data and secrets in each chunk (generator.redact) before it is sent.
    redact_before_send: bool = False
    dry_run: bool = False
    force_new: bool = False  # --force-new-settings: accept a changed fingerprint

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_value(cls, value: Any) -> Any:
        if value == "auto":
            return value
        try:
            n = int(value)
        except (TypeError, ValueError):
            n = -1
        if isinstance(value, bool) or not 0 <= n <= 64:
            raise ValueError(f"workers must be auto or a number from 0 to 64, not {value!r}")
        return n

    @field_validator("model")
    @classmethod
    def _model_shape(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() for c in value):
            raise ValueError("model must be a LiteLLM model string such as openai/gpt-4o-mini")
        return value

    def _public_dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data.get("api_base"):  # user:pass@ stays in memory, for the calls only
            data["api_base"] = scrub_url_credentials(data["api_base"])
        return data

    def fingerprint(self) -> dict[str, Any]:
        """The output-affecting settings, JSON-ready (URL credentials scrubbed). The API base
        is left out when unset, so runs without one keep their fingerprint."""
        data = self._public_dump()
        return {k: data[k] for k in FINGERPRINT_FIELDS if k not in OPTIONAL_FIELDS or data[k]}

    def fingerprint_hash(self) -> str:
        raw = json.dumps(self.fingerprint(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def public_config(self) -> dict[str, Any]:
        """What ``RUN/config.json`` holds: every setting (none of them is a secret) plus the
        fingerprint hash. API keys are never settings: they are read from the environment
        (``api_key_env`` is a variable's name); credentials in ``api_base`` are scrubbed."""
        data = self._public_dump()
        data["fingerprint"] = self.fingerprint_hash()
        return data


def file_sha256(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def check_fingerprint(stored: dict[str, Any] | None, current: dict[str, Any], force: bool) -> None:
    """Refuse a run whose output-affecting settings differ from the stored ones.

    ``stored`` is None for a new run. With ``force`` the difference is accepted (the caller
    then stores ``current``)."""
    if stored is None or force:
        return
    changed = [k for k in FINGERPRINT_FIELDS if stored.get(k) != current.get(k)]
    if not changed:
        return

    def show(v: Any) -> str:
        if isinstance(v, dict):  # a Ref: id@version is what a person recognises
            return f"{v.get('id')}@{v.get('version')} ({str(v.get('sha256'))[:8]})"
        return json.dumps(v)

    diffs = "; ".join(f"{k}: {show(stored.get(k))} -> {show(current.get(k))}" for k in changed)
    raise SettingsChangedError(
        f"this run was started with different settings ({diffs}); use the same options to "
        "resume, another --out for a new run, or --force-new-settings to add a new generation "
        "to this run"
    )
