"""``ingest --cluster``: files are parsed and chunked on Dask workers; the coordinator reads
them (sha256, unchanged check) and commits every document to the journal in scan order,
so the journal is written by one writer and the run stays resumable.

The bytes travel with the task, so workers need no access to the document folder (a
``tcp://`` cluster on other machines works the same). A file whose parser kills its worker
process (Dask retries it on another worker first) ends as that file's error line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from generator.cluster.connect import Cluster
from generator.cluster.mapping import ordered_map
from generator.ingest.pipeline import FileResult, Parsed, ParseJob, ParseMap, parse_job
from generator.ingest.settings import IngestSettings
from generator.ingest.walk import ERROR


def _lost(job: ParseJob, exc: BaseException) -> FileResult:
    e = job.entry
    return FileResult(e.rel, e.type, ERROR, e.size, reason="parser crashed its worker process")


def cluster_parser(cluster: Cluster) -> ParseMap:
    """A :data:`~generator.ingest.pipeline.ParseMap` over ``cluster``'s workers (measured as
    the ``ingest`` stage of the run summary: files, MB and peak worker memory)."""

    def parse(jobs: Iterable[ParseJob], settings: IngestSettings) -> Iterator[Parsed | FileResult]:
        with cluster.stage("ingest") as row:

            def counted() -> Iterator[ParseJob]:
                for job in jobs:
                    row["items"] += 1
                    row["bytes"] += len(job.data)
                    yield job

            yield from ordered_map(
                cluster.client,
                parse_job,
                counted(),
                window=4 * cluster.n_workers + 4,
                args=lambda job: (job, settings),
                on_lost=_lost,
            )

    return parse
