"""The fitted harm classifier on disk (``harm/fit_cache.py``): a second process loads it
instead of fitting, gets the very same verdicts, and never trusts a file it cannot vouch
for (corrupt, for another key, pickled)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import numpy as np
import pytest

from generator.curate.harm import classifier, fit_cache
from generator.curate.harm.evaluation import load_labelled
from generator.curate.harm.exemplars import EXEMPLARS
from generator.curate.semantic_dedup import embeddings_available

DATA = Path(__file__).parent / "data"
needs_embeddings = pytest.mark.skipif(
    not embeddings_available(), reason="the [embeddings] extra is not installed"
)
# fitted() without its per-process cache: what a new process does
fresh_process_fitted = classifier.fitted.__wrapped__


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The cache in this test's own folder; the list grows by one mode per real fit."""
    monkeypatch.setenv("INSTRUCTFORGE_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str] = []
    real_init = classifier.HarmClassifier.__init__

    def spy(self, exemplars, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(mode)
        real_init(self, exemplars, mode, *args, **kwargs)

    monkeypatch.setattr(classifier.HarmClassifier, "__init__", spy)
    return calls


def _files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "harm").glob("*.npz"))


def _same_fit(a: classifier.HarmClassifier, b: classifier.HarmClassifier) -> None:
    sa, sb = a.state(), b.state()
    assert sorted(sa) == sorted(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


def test_second_load_does_not_fit(fits: list[str], tmp_path: Path) -> None:
    first = fresh_process_fitted("patterns")
    assert fits == ["patterns"]
    (path,) = _files(tmp_path)
    for folder in (path.parent, path.parent.parent):  # created private
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    second = fresh_process_fitted("patterns")
    assert fits == ["patterns"]  # loaded, not fitted
    _same_fit(first, second)
    assert second.threshold == first.threshold and second.describe() == first.describe()
    assert not list(path.parent.glob(".fit-*"))  # no temp file left behind


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # truncated
        lambda p: p.write_bytes(b"not a zip file at all"),
        lambda p: p.write_bytes(b""),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_a_corrupt_file_is_refitted_and_rewritten(fits: list[str], tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    fresh_process_fitted("patterns")
    (path,) = _files(tmp_path)
    damage(path)
    fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns"]
    fresh_process_fitted("patterns")  # the rewritten file serves
    assert fits == ["patterns", "patterns"]


def test_a_tampered_array_is_not_trusted(fits: list[str], tmp_path: Path) -> None:
    """A well-formed file whose numbers were changed fails its content digest."""
    fitted = fresh_process_fitted("patterns")
    (path,) = _files(tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["threshold"] = np.float64(-50.0)  # would flag nearly everything
    np.savez(path, **arrays)
    again = fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns"]
    assert again.threshold == fitted.threshold


def test_a_file_for_another_key_is_not_trusted(fits: list[str], tmp_path: Path) -> None:
    fresh_process_fitted("patterns")
    (default,) = _files(tmp_path)
    fresh_process_fitted("patterns", 0.1)
    assert fits == ["patterns", "patterns"]
    (other,) = set(_files(tmp_path)) - {default}
    default.write_bytes(other.read_bytes())  # the right name, the wrong fit inside
    fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns", "patterns"]


def test_a_pickled_file_is_never_loaded(fits: list[str], tmp_path: Path) -> None:
    """allow_pickle=False: an object array (unpickling runs code) is refused, not read."""
    fitted = fresh_process_fitted("patterns")
    (path,) = _files(tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert all(a.dtype != object for a in arrays.values())
    arrays["_key"] = np.array([str(arrays["_key"])], dtype=object)
    np.savez(path, **arrays)  # allow_pickle is numpy's default when saving
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(path, allow_pickle=False)["_key"]
    again = fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns"]
    _same_fit(fitted, again)


def test_a_file_others_can_write_is_not_trusted(fits: list[str], tmp_path: Path) -> None:
    """A fit anyone could replace decides what counts as harmful: only a private file loads."""
    fresh_process_fitted("patterns")
    (path,) = _files(tmp_path)
    path.chmod(0o666)
    fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns"]
    path.chmod(0o600)
    path.parent.chmod(0o777)
    fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns", "patterns"]
    path.parent.chmod(0o700)
    fresh_process_fitted("patterns")
    assert fits == ["patterns", "patterns", "patterns"]


def test_changed_operating_point_or_exemplars_refit(fits: list[str], tmp_path: Path) -> None:
    fresh_process_fitted("patterns")
    fresh_process_fitted("patterns", 0.05)
    assert fits == ["patterns", "patterns"]
    changed = tmp_path / "exemplars.jsonl"
    lines = EXEMPLARS.read_text(encoding="utf-8").splitlines()
    benign = next(i for i, line in enumerate(lines) if '"benign"' in line)
    lines[benign] = lines[benign].replace('"text": "', '"text": "Note: ', 1)
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fresh_process_fitted("patterns", path=changed)
    assert fits == ["patterns"] * 3
    assert len(_files(tmp_path)) == 3
    fresh_process_fitted("patterns", 0.05)  # each key still served by its own file
    fresh_process_fitted("patterns", path=changed)
    assert fits == ["patterns"] * 3


def test_the_key_covers_code_and_model() -> None:
    key = fit_cache.fit_key("a" * 64, "embeddings", 0.04, 1)
    assert key == fit_cache.fit_key("a" * 64, "embeddings", 0.04, 1)
    assert key != fit_cache.fit_key("a" * 64, "embeddings", 0.04, 2)
    assert key != fit_cache.fit_key("a" * 64, "patterns", 0.04, 1)
    assert key != fit_cache.fit_key("b" * 64, "embeddings", 0.04, 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fit_cache, "_source_digest", lambda: "edited")
        assert key != fit_cache.fit_key("a" * 64, "embeddings", 0.04, 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fit_cache, "_version", lambda package: f"{package}-other")
        assert key != fit_cache.fit_key("a" * 64, "embeddings", 0.04, 1)


def test_an_unwritable_cache_dir_means_no_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("INSTRUCTFORGE_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.DEBUG, logger=fit_cache.__name__):
        clf = fresh_process_fitted("patterns")
    assert clf.threshold == classifier.fitted("patterns").threshold
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "not written" in caplog.records[0].getMessage()


def test_default_location_is_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INSTRUCTFORGE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert fit_cache.cache_dir() == Path.home() / ".cache" / "instructforge" / "harm"
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    assert fit_cache.cache_dir() == Path("/x/instructforge/harm")
    monkeypatch.setenv("INSTRUCTFORGE_CACHE_DIR", "/y")
    assert fit_cache.cache_dir() == Path("/y/harm")


@pytest.mark.parametrize("mode", [pytest.param("embeddings", marks=needs_embeddings), "patterns"])
def test_a_loaded_classifier_gives_identical_verdicts(
    fits: list[str], tmp_path: Path, mode: str
) -> None:
    fresh = fresh_process_fitted(mode)
    loaded = fresh_process_fitted(mode)
    assert fits == [mode]
    _same_fit(fresh, loaded)
    texts = [r.text for p in sorted(DATA.glob("harm_*.jsonl")) for r in load_labelled(p)[1]]
    assert len(texts) > 1500
    verdicts = loaded.classify(texts)
    assert verdicts == fresh.classify(texts)  # Verdict is a dataclass: exact equality
    assert any(v.flagged and v.via == "classifier" for v in verdicts)
