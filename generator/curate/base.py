"""The curation step contract.

A step is ``run(records) -> records`` over iterators. A filter implements only
``keep(record) -> bool | (bool, reason)``; the base class counts drops per reason and
hands every removed record, with its step and reason, to the exclusion sink (the pipeline
writes it to ``curation/excluded.jsonl`` or ``curation/review.jsonl``). Nothing is dropped
silently. A configured check that could not run on a record (an LLM call failed, a reply
was unparsable) is a finding, never a pass: :meth:`Step.check_failed` sends the record to
review as ``check_failed:<step>`` and counts it. Steps hold no global state: everything
they need comes in their constructor, so the same step runs unchanged on a batch inside a
Dask worker.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from generator.records import Record

Destination = Literal["excluded", "review", "quarantine"]


@dataclass
class Exclusion:
    """One record a step removed, and why."""

    record: Record
    step: str
    reason: str
    destination: Destination = "excluded"
    duplicate_of: str | None = None  # id of the kept record, for duplicates
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        data["meta"].setdefault("curation", {})["excluded"] = {
            "step": self.step,
            "reason": self.reason,
            "destination": self.destination,
            "duplicate_of": self.duplicate_of,
            **({"details": self.details} if self.details else {}),
        }
        return data


Sink = Callable[[Exclusion], None]


class Step(abc.ABC):
    """Base of every curation step."""

    #: the step's name in curate.yaml, reports and exclusion files
    name: str = "step"
    #: True when the step judges each record on its own (no state across records, no
    #: provider client): ``--cluster`` then maps it over partitions of its input
    per_record: bool = False

    def __init__(self) -> None:
        self.seen = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()
        self.excluded: list[Exclusion] = []  # used only when no sink is bound
        self._sink: Sink | None = None
        self.failed_checks = 0
        # the step's LLM client, if any: ``problems()`` gives its calls, failures, unparsable
        self.check_client: Any = None

    def counters(self) -> dict[str, Any]:
        """What :meth:`absorb` adds up from a copy of this step that ran on one partition
        (``--cluster``; plain data, so it crosses processes whatever else the step holds).
        A step with more state than the base counters extends both."""
        return {
            "seen": self.seen,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "failed_checks": self.failed_checks,
        }

    def absorb(self, part: dict[str, Any]) -> None:
        """Add the :meth:`counters` of a copy of this step that ran on one partition."""
        self.seen += part["seen"]
        self.kept += part["kept"]
        self.dropped.update(part["dropped"])
        self.failed_checks += part["failed_checks"]

    def on_cluster(self, cluster: Any, records: list[Record]) -> None:
        """Before :meth:`run` on ``records`` under ``--cluster``: a step with a partitioned
        form (dedup) does its heavy part on ``cluster`` here; the default does nothing."""
        del cluster, records

    def bind(self, sink: Sink) -> None:
        """Send exclusions to ``sink`` (the pipeline's writer) instead of ``self.excluded``."""
        self._sink = sink

    def exclude(
        self,
        record: Record,
        reason: str,
        *,
        destination: Destination = "excluded",
        duplicate_of: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record that ``record`` leaves the dataset, with its reason."""
        self.dropped[reason] += 1
        exc = Exclusion(record, self.name, reason, destination, duplicate_of, details)
        if self._sink is not None:
            self._sink(exc)
        else:
            self.excluded.append(exc)

    def drop_duplicates(
        self, items: list[Record], drop: dict[int, tuple[int, float]], reason: str, measure: str
    ) -> Iterator[Record]:
        """Yield the kept ``items``; exclude each index in ``drop`` (index -> (index of the
        record it duplicates, similarity)) with ``reason`` and the similarity as ``measure``."""
        for i, record in enumerate(items):
            if i in drop:
                keep, value = drop[i]
                self.exclude(
                    record,
                    reason,
                    duplicate_of=items[keep].meta.id,
                    details={measure: round(value, 4)},
                )
            else:
                self.kept += 1
                yield record

    def check_failed(self, record: Record, why: str, details: dict[str, Any] | None = None) -> None:
        """A configured check could not run on ``record``: flag it and send it to review."""
        self.failed_checks += 1
        self.annotate(record, check_failed=why)
        self.exclude(
            record,
            f"check_failed:{self.name}",
            destination="review",
            details={"check_failed": why, **(details or {})},
        )

    def annotate(self, record: Record, **values: Any) -> None:
        """Store this step's scores/decisions under ``meta.curation[<step name>]``."""
        record.meta.curation.setdefault(self.name, {}).update(values)

    @abc.abstractmethod
    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        """Yield the records that stay; call :meth:`exclude` for each one that leaves."""

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = {"step": self.name, "kept": self.kept, "dropped": dict(self.dropped)}
        if self.check_client is not None or self.failed_checks:
            calls = self.check_client.problems() if self.check_client is not None else {}
            data["check_failed"] = {"records": self.failed_checks, **calls}
        return data


class Filter(Step):
    """A step that judges each record on its own."""

    destination: Destination = "excluded"
    per_record = True

    @abc.abstractmethod
    def keep(self, record: Record) -> bool | tuple[bool, str]:
        """True to keep; False or (False, reason) to drop."""

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.seen += 1
            verdict = self.keep(record)
            ok, reason = verdict if isinstance(verdict, tuple) else (verdict, self.name)
            if ok:
                self.kept += 1
                yield record
            else:
                self.exclude(record, reason, destination=self.destination)
