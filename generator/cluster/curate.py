"""``curate --cluster``: the steps run over partitions on Dask workers, and the files come out
byte for byte as from one process.

How the order is kept. In one process the steps are chained generators, so the exclusions of
different steps interleave in a precise order (``excluded.jsonl`` follows it). Here every step
runs once on its whole input, in order (pass 1), while a log records what it did between
pulls from its input: each pull, each record it yielded, each exclusion, and the pull that
found the input at its end. Pass 2 chains one replay per step over those logs, exactly as the
steps are chained in one process, and sends the exclusions to the pipeline's sink: same
records, same exclusions, same order.

Which step runs where (pass 1):

- a step that judges each record on its own (``Step.per_record``: heuristics, length, PII,
  harmful without a provider check) is mapped over partitions of its input; the partition
  logs are joined in order, and the workers' counters are added to the step's (``absorb``);
- a step with a cluster form (``Step.on_cluster``: exact and near dedup) does its heavy part
  on the workers and its decisions here;
- any other step (LLM checks with their journal, cache and breaker) runs here as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from generator.cluster.connect import Cluster
from generator.curate.base import Exclusion, Step
from generator.records import Record

PARTITION_MAX = 5_000  # records per mapped task: bounded worker memory, enough to amortise


class _Pull:
    """The step asked for its next input record (and got one)."""


class _End:
    """The step asked for its next input record and the input was at its end."""


PULL, END = _Pull(), _End()


@dataclass
class _Yield:
    record: Record


Event = _Pull | _End | _Yield | Exclusion


def logged_run(step: Step, items: Iterable[Record]) -> list[Event]:
    """Run ``step`` over ``items`` and return its log (see the module docstring)."""
    events: list[Event] = []

    def pulls() -> Iterator[Record]:
        for record in items:
            events.append(PULL)
            yield record
        events.append(END)

    sink = step._sink
    step.bind(events.append)
    try:
        for record in step.run(pulls()):
            events.append(_Yield(record))
    finally:
        step._sink = sink
    return events


def run_partition(
    blob: bytes, records: list[Record], last: bool
) -> tuple[list[Event], dict[str, Any]]:
    """On a worker: one partition through a fresh copy of the pickled step (counters at
    zero, whatever ran before on this worker); its log and its counters."""
    import cloudpickle

    step = cloudpickle.loads(blob)
    events = logged_run(step, records)
    if not last and events and isinstance(events[-1], _End):
        events.pop()  # only the last partition's end is the input's end
    return events, step.counters()


def replay(events: Sequence[Event], upstream: Iterator[Record], step: Step) -> Iterator[Record]:
    """Re-enact one step's log over the replay of the step before it."""
    sink = step._sink
    for ev in events:
        if isinstance(ev, _Pull):  # by type: a log from a worker holds copies of the markers
            next(upstream)
        elif isinstance(ev, _End):
            for _ in upstream:  # the step before it finishes here, as in one process
                raise AssertionError("a replayed step left input unread")
        elif isinstance(ev, _Yield):
            yield ev.record
        else:
            assert sink is not None and isinstance(ev, Exclusion)
            sink(ev)


def _mappable(step: Step) -> bool:
    return step.per_record and step.check_client is None


def _partition_size(step: Step, n: int, workers: int) -> int:
    size = max(1, min(PARTITION_MAX, -(-n // (4 * workers))))
    batch = max(1, int(getattr(step, "batch_size", 1)))
    return -(-size // batch) * batch  # whole batches: the same pulls between outputs


def _mapped(cluster: Cluster, step: Step, items: list[Record]) -> list[Event]:
    from generator.cluster.mapping import ordered_map

    size = _partition_size(step, len(items), cluster.n_workers)
    bounds = [(i, min(i + size, len(items))) for i in range(0, len(items), size)] or [(0, 0)]
    import cloudpickle

    sink, step._sink = step._sink, None  # the pipeline's sink stays here
    try:
        blob = cloudpickle.dumps(step)
    finally:
        step._sink = sink
    [shipped] = cluster.client.scatter([blob], broadcast=True, hash=False)
    # (the step's pickle goes to every worker once; each partition names it by future)
    events: list[Event] = []
    parts = ordered_map(
        cluster.client,
        run_partition,
        bounds,
        window=2 * cluster.n_workers + 1,
        args=lambda b: (items[b[0] : b[1]], b[1] == len(items)),
        shared=(shipped,),
    )
    for part_events, counters in parts:
        events.extend(part_events)
        step.absorb(counters)
    return events


def run_steps(
    cluster: Cluster, steps: Sequence[Step], records: Sequence[Record]
) -> Iterator[Record]:
    """The curated records, with every exclusion sent to each step's sink in the order of a
    single-process run (a generator: nothing runs until the first record is asked for)."""
    logs: list[list[Event]] = []
    items = list(records)
    for step in steps:
        with cluster.stage(f"curate:{step.name}", items=len(items)):
            if _mappable(step):
                events = _mapped(cluster, step, items)
            else:
                step.on_cluster(cluster, items)
                events = logged_run(step, items)
        logs.append(events)
        items = [ev.record for ev in events if isinstance(ev, _Yield)]
    stream: Iterator[Record] = iter(records)
    for step, events in zip(steps, logs, strict=True):
        stream = replay(events, stream, step)
    yield from stream
