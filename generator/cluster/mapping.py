"""Ordered, bounded mapping over a Dask cluster.

:func:`ordered_map` submits ``fn(item)`` for a sliding window of items and yields the results
in the order of the items, so the caller commits in the same order as a single-process run.
The window bounds what is in flight (bytes held by the coordinator and the workers).
A task whose worker died more often than Dask allows (``KilledWorker``: a parser that
crashes its process) gives ``on_lost(item)`` instead of stopping the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SCATTER_BYTES = 256 * 1024  # above this, an argument goes to the cluster on its own


def ordered_map(
    client: Any,
    fn: Callable[..., R],
    items: Iterable[T],
    *,
    window: int,
    args: Callable[[T], tuple[Any, ...]] = lambda item: (item,),
    size: Callable[[T], int] = lambda _item: 0,
    on_lost: Callable[[T, BaseException], R] | None = None,
    **kwargs: Any,
) -> Iterator[R]:
    """``fn(*args(item), **kwargs)`` on the cluster for each item, results in item order."""
    from distributed import KilledWorker

    pending: deque[tuple[T, Any]] = deque()
    it = iter(items)
    exhausted = False

    def submit(item: T) -> Any:
        call_args = args(item)
        if size(item) > SCATTER_BYTES:  # big payloads are scattered, not put in the graph
            call_args = tuple(client.scatter(call_args, direct=False))
        return client.submit(fn, *call_args, pure=False, **kwargs)

    while True:
        while not exhausted and len(pending) < window:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.append((item, submit(item)))
        if not pending:
            return
        item, future = pending.popleft()
        try:
            result = future.result()
        except KilledWorker as exc:
            if on_lost is None:
                raise
            result = on_lost(item, exc)
        finally:
            future.release()
        yield result
