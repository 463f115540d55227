"""Threads per worker: how many threads torch, numpy's BLAS and GDAL each start.

Left alone, every library starts one thread per core in every worker: N workers on N cores
then run N x N threads that wait on each other (OpenMP barriers, BLAS spin-waits), and more
workers make a batch slower. A worker that owns ``n`` cores runs with:

- torch: ``torch.set_num_threads(n)`` (its intra-op pool, process-wide), when torch is loaded;
- numpy's and scipy's BLAS/OpenMP pools: ``threadpoolctl.threadpool_limits(n)`` (process-wide),
  when threadpoolctl is installed (a stock QGIS may lack it: those pools are then left alone);
- GDAL: ``GDAL_NUM_THREADS=n`` (decompression and warping threads) for the worker's reads
  (:func:`gdal_threads`, through ``geoio.gdal_config``: per thread on the gdal backend,
  process-wide for the block on the rasterio one - every lane sets the same value).

``export_batch``'s threads executor gives each of its ``chunk_workers`` lanes
``cpu_count() // chunk_workers`` threads (:func:`per_worker`); a Dask task gets
``threads_per_task`` (default 1: Dask's own default is one worker thread per core).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_kept: dict[str, tuple[int, bool]] = {}  # what keep_limit last set in this process


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def per_worker(workers: int) -> int:
    """Threads each of ``workers`` workers sharing this machine's cores gets (at least 1)."""
    return max(1, cpu_count() // max(1, int(workers)))


def _limit(n: int) -> list:
    """Set torch's and the BLAS pools' threads to ``n``; return how to undo it."""
    undo = []
    torch = sys.modules.get("torch")  # never imported here just for this: numpy-only runs stay light
    if torch is not None and torch.get_num_threads() != n:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
        undo.append(lambda: torch.set_num_threads(old))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        undo.append(threadpool_limits(limits=n).restore_original_limits)
    return undo


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """torch and the BLAS pools use at most ``n`` threads in this process during the block."""
    with _lock:
        undo = _limit(max(1, int(n)))
    try:
        yield
    finally:
        with _lock:
            for u in reversed(undo):
                u()


def keep_limit(n: int) -> None:
    """:func:`limit_threads` for the rest of this process's life (a Dask worker: its tasks may
    run concurrently, so none restores what another still relies on). Cheap to repeat: done
    again only for another ``n`` or once torch has been loaded since (by a model built here)."""
    key = (max(1, int(n)), "torch" in sys.modules)
    with _lock:
        if _kept.get("key") != key:
            _limit(key[0])
            _kept["key"] = key


def gdal_threads(n: int):
    """``GDAL_NUM_THREADS=n`` for the GDAL reads of this worker during the block."""
    from .geoio import gdal_config

    return gdal_config(GDAL_NUM_THREADS=str(max(1, int(n))))


__all__ = ["cpu_count", "per_worker", "limit_threads", "keep_limit", "gdal_threads"]
