"""Library hygiene (issue 16, item 9): importing the package leaves the process environment
as it was; the CLI sets the offline defaults at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = (
    "LITELLM_OFFLINE_MODE",
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "TIKTOKEN_CACHE_DIR",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS",
)


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _environment_change(code: str) -> dict[str, list[str]]:
    script = (
        "import json, os\n"
        "before = dict(os.environ)\n"
        f"{code}\n"
        "after = dict(os.environ)\n"
        "print(json.dumps({'added': sorted(set(after) - set(before)),\n"
        "                  'changed': sorted(k for k in before if after.get(k) != before[k])}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_package_changes_nothing_in_the_environment() -> None:
    assert _environment_change("import generator") == {"added": [], "changed": []}


def test_importing_the_library_modules_changes_nothing_either() -> None:
    code = (
        "import generator.records, generator.tokens, generator.curate.pipeline, "
        "generator.export.writer, generator.generate.seeding, generator.redact"
    )
    assert _environment_change(code) == {"added": [], "changed": []}


def test_the_cli_sets_the_offline_defaults_at_start() -> None:
    change = _environment_change("import generator.cli")
    assert set(OFFLINE) - {"TIKTOKEN_CACHE_DIR"} <= set(change["added"])
    assert change["changed"] == []


def test_a_value_the_user_set_is_never_overridden() -> None:
    env = _clean_env() | {"LITELLM_OFFLINE_MODE": "false"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, generator.cli; print(os.environ['LITELLM_OFFLINE_MODE'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert proc.stdout.strip() == "false"
