"""Independent fits of the atlas registration on a few threads, with the result of one.

The registration's independent Powell fits (the short fits of the screened starts, the
global fits from the best starts, the per-bone fits) can run at the same time. On this
project's machine they did not gain from it: a cost evaluation is about 40 numpy calls
on a few thousand samples and holds the GIL most of the time, so :mod:`._atlas` runs
them on one thread (``_FIT_THREADS``). Everything random (the sample positions of each
fit) is drawn before the fits start, in the order the one-thread code draws it, and
results are collected in input order, so the masks are the same with any number of
threads (test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_ordered"]

T = TypeVar("T")
R = TypeVar("R")


def map_ordered(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``workers`` threads when there are several
    items; results in input order, the first exception raised as in the loop."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                            thread_name_prefix="bmes-atlas-fit") as pool:
        return list(pool.map(fn, items))
