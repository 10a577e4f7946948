"""Fixtures of the generation tests: fresh provider state per test, one docs folder per
module."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.providers import mock, model_info
from tests.generate.engine_helpers import make_docs


@pytest.fixture(autouse=True)
def _fresh_provider_state() -> None:
    mock.reset()
    model_info.clear_overrides()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_docs(tmp_path_factory.mktemp("docs"))
