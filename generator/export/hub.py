"""``export --push-to-hub OWNER/NAME``: upload a finished export to a Hugging Face dataset repo.

Runs only after the export itself (and so the licence gate) succeeded: it sends files that
are already written, never records. Uploaded: the data files and the dataset card
``README.md`` (not the trainer snippets, which name this machine's paths); the provenance
sidecar ``meta.jsonl``, ``excluded.jsonl``, ``manifest.json`` and ``LEGAL_REVIEW.md`` only
with ``--push-legal`` (they name internal documents and people). One commit through
``huggingface_hub``; a repo that does not exist is created private. The token comes from
``HF_TOKEN`` only (never a token file on disk) and goes to the Hub only (``HF_ENDPOINT``,
default the public Hub); it is never printed or written.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator import config
from generator.errors import ConfigError, PushFailed
from generator.redact import scrub_url_credentials

REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
# Pushed without --push-legal. Not the trainer snippets: they hold this machine's paths.
PUBLIC_KINDS = ("data", "card")
LEGAL_KINDS = ("meta", "excluded", "manifest", "legal")


@dataclass
class PushResult:
    repo: str
    files: list[str]
    commit_url: str | None = None


def check_push(repo: str | None) -> str | None:
    """The token for ``--push-to-hub`` (checked before anything is written), or None."""
    if repo is None:
        return None
    if not REPO.match(repo):
        raise ConfigError(f"--push-to-hub {repo!r}: give a dataset repo as OWNER/NAME")
    if importlib.util.find_spec("huggingface_hub") is None:
        raise ConfigError("--push-to-hub needs huggingface_hub: pip install 'instructforge[hub]'")
    token = config.env("HF_TOKEN")
    if not token:
        raise ConfigError("--push-to-hub: set HF_TOKEN in the environment (a write token)")
    return token


def files_to_push(files: list[tuple[str, str]], push_legal: bool) -> list[str]:
    """Names of the export's files (name, kind) that go to the Hub."""
    kinds = PUBLIC_KINDS + (LEGAL_KINDS if push_legal else ())
    return [name for name, kind in files if kind in kinds]


@contextlib.contextmanager
def _online() -> Iterator[None]:
    """The CLI sets HF_HUB_OFFLINE=1 so nothing else reaches the Hub; a push is the one
    request that must, so offline mode is lifted for it alone."""
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def push(out: Path, repo: str, token: str, names: list[str], message: str) -> PushResult:
    """Upload ``names`` (files of ``out``) to the dataset repo in one commit."""
    import httpx2
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = config.env("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint, token=token)
    ops = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(out / n)) for n in names]
    try:
        with _online():
            api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)
            info = api.create_commit(repo, ops, commit_message=message, repo_type="dataset")
    except (HfHubHTTPError, httpx2.TransportError, OSError) as exc:  # mapped here, once
        where = scrub_url_credentials(endpoint or "the Hub")
        detail = str(exc).replace(token, "***").splitlines()[0][:300]
        raise PushFailed(
            f"--push-to-hub {repo}: {where} refused or could not be reached: {detail} "
            f"(the export in {out} is complete; push it again later)"
        ) from exc
    return PushResult(repo, names, getattr(info, "commit_url", None))
