"""Scale-out engine under the stages: ``--cluster local:N | tcp://HOST:PORT`` (Dask).

An executor choice, not a stage: ingest, curate and generate keep their single-process path
and only hand the CPU-heavy part of their work to :class:`Cluster` when one is given. The
journal is always written by the coordinator (this process), never by a worker.
"""

from generator.cluster.connect import Cluster, open_cluster, parse_spec

__all__ = ["Cluster", "open_cluster", "parse_spec"]
