"""Where export chunks run, and how progress is reported.

- ``serial``: fetch, embed, write, one chunk after the other in this thread, with the
  libraries' own thread pools (the baseline).
- ``threads`` (default): ``chunk_workers`` lanes (threads; default one per core) each take
  the next chunk and fetch, embed and write it, so while one lane reads another computes.
  Each lane owns ``cpu_count() // chunk_workers`` cores: torch, the BLAS and GDAL are held
  to that many threads (``engine/threads.py``), so lanes do not oversubscribe the cores. The
  readers of a chunk (``num_workers``, scene-major) stay within the lane's budget for a
  backend that reads local files (decoding is CPU work); a remote backend (Earth Engine,
  STAC) keeps ``num_workers`` requests in flight per lane. Files are written by
  ``writer_workers`` threads (``async_write``), at most one chunk per lane pending.
- ``dask``: each chunk is a Dask task that fetches, embeds and writes on a worker
  (workers write their own outputs; only small manifests come back). The plan is sent to
  every worker once (scattered), a bounded window of chunks is in flight (a million ROIs
  are not a million queued tasks), and each task runs with ``threads_per_task`` threads
  (default 1). A ``LocalCluster`` on 127.0.0.1 by default, or any scheduler address / Client.

Progress: tqdm bars in a terminal (overall + one per model), or a callback
``progress(fraction, message)`` (QGIS: ``QgsFeedback.setProgress``), and
``is_cancelled()`` checked between chunks and models and, through the pipeline's
cancel scope, inside fetches (between ROIs and scenes) and forwards (between
batches): a cancelled run stops before writing the current chunk, so no partial
item is left.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import Cancelled
from ..pipeline import fetch_session
from ..threads import gdal_threads, limit_threads, per_worker
from .core import ExportPlan, fetch_chunk, process_chunk, run_chunk, write_item
from .manifest import slim


class Progress:
    """Overall progress (items written) and per-model inference progress."""

    def __init__(self, plan: ExportPlan, n_pending: int, n_skipped: int, show: bool,
                 callback: Callable[[float, str], None] | None) -> None:
        self.n = max(1, n_pending)
        self.models = plan.models
        self.callback = callback
        self.items = 0
        self.model_items: dict[str, int] = {m: 0 for m in plan.models}
        self._lock = threading.Lock()
        self.bars: dict[str, Any] = {}
        if show and callback is None:
            try:
                from tqdm.auto import tqdm

                total = n_pending + n_skipped
                self.bars["_all"] = tqdm(total=total, initial=n_skipped, desc="export", unit="roi",
                                         position=0, file=sys.stderr)
                for k, m in enumerate(plan.models):
                    self.bars[m] = tqdm(total=n_pending, desc=f"infer[{m}]", unit="roi",
                                        position=k + 1, leave=False, file=sys.stderr)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.bars = {}

    def _emit(self, msg: str) -> None:
        if self.callback is not None:
            done = self.items * len(self.models) + sum(self.model_items.values())
            total = self.n * 2 * len(self.models)
            self.callback(min(1.0, done / total), msg)

    def model_done(self, model: str, n: int) -> None:
        with self._lock:
            self.model_items[model] += n
            if model in self.bars:
                self.bars[model].update(n)
            self._emit(f"infer[{model}] {self.model_items[model]}/{self.n}")

    def items_done(self, n: int, *, with_models: bool = False) -> None:
        with self._lock:
            self.items += n
            if with_models:  # Dask: per-model progress happens on workers, unseen here
                for m in self.models:
                    self.model_items[m] += n
            if "_all" in self.bars:
                self.bars["_all"].update(n)
            self._emit(f"written {self.items}/{self.n}")

    def close(self) -> None:
        for b in self.bars.values():
            b.close()


def run_local(plan: ExportPlan, chunks: Sequence[Sequence[int]], prog: Progress, *,
              workers: int, async_write: bool, writer_workers: int,
              is_cancelled: Callable[[], bool] | None,
              results: list[dict[str, Any]]) -> bool:
    """Chunks in this process: ``workers`` lanes (1: serial, the libraries keep their own
    thread pools); each lane fetches, embeds and writes whole chunks. Slim records of the
    written items go to ``results`` as they are written (so they are known even if a later
    chunk raises). Returns ``cancelled``."""
    lanes = max(1, min(int(workers), len(chunks)))
    budget = per_worker(lanes) if lanes > 1 else None
    write_pool = (ThreadPoolExecutor(max_workers=max(1, writer_workers), thread_name_prefix="rs-embed-write")
                  if async_write else None)
    pending = threading.BoundedSemaphore(lanes)  # chunks handed to the writers, not yet written
    lock = threading.Lock()
    todo = iter(chunks)
    stop = threading.Event()
    state: dict[str, Any] = {"cancelled": False, "error": None}

    def fail(exc: BaseException) -> None:
        with lock:
            state["error"] = state["error"] or exc
        stop.set()

    def write_chunk(done: list) -> None:
        try:
            for a, m in done:  # each item is recorded once written, so one that fails later loses none
                man = write_item(plan, a, m)
                with lock:
                    results.append(slim(man))
                prog.items_done(1)
        except BaseException as exc:  # noqa: BLE001 - stops the lanes; raised after they end
            fail(exc)
        finally:
            pending.release()

    def lane() -> None:
        try:
            # the lane's reader stays open from chunk to chunk: each file is opened once per lane
            with gdal_threads(budget) if budget else _nothing(), fetch_session(plan):
                while not stop.is_set():
                    with lock:
                        idx = next(todo, None)
                    if idx is None:
                        return
                    if is_cancelled is not None and is_cancelled():
                        raise Cancelled("export cancelled")
                    fetched = fetch_chunk(plan, idx, is_cancelled, reader_budget=budget)
                    done = process_chunk(plan, idx, fetched, on_model_done=prog.model_done,
                                         is_cancelled=is_cancelled)
                    pending.acquire()  # back-pressure: memory holds at most one chunk per lane
                    if write_pool is None:
                        write_chunk(done)
                    else:
                        write_pool.submit(write_chunk, done)
        except Cancelled:  # inside a fetch or a forward: the chunk is dropped, written items stay
            state["cancelled"] = True
            stop.set()
        except BaseException as exc:  # noqa: BLE001 - the first error stops every lane, then is raised
            fail(exc)

    try:
        with limit_threads(budget) if budget else _nothing():
            if lanes == 1:
                lane()
            else:
                threads = [threading.Thread(target=lane, name=f"rs-embed-lane-{k}", daemon=True)
                           for k in range(lanes)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
    finally:
        if write_pool is not None:
            write_pool.shutdown(wait=True)  # finish what was handed over: never half a file
    if state["error"] is not None:
        raise state["error"]
    return state["cancelled"]


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _python_executable() -> bool:
    """Whether new processes can be spawned with ``sys.executable`` (a Python interpreter)."""
    import os

    name = os.path.basename(sys.executable or "").lower()
    return name.startswith("python") or name.startswith("pypy")


def local_cluster(dask_options: dict[str, Any] | None = None):
    """The ``LocalCluster`` an export starts: ``n_workers=2`` processes of one thread on 127.0.0.1
    (threads in this process inside QGIS), ``dask_options`` on top.

    Its workers keep glibc's adaptive allocator: Dask starts workers with
    ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes malloc's mmap threshold, so every
    array over 128 kB is mapped and unmapped afresh; per-ROI work allocates many such
    arrays and ran 4x slower for it (bench_export). Workers of a cluster you start yourself:
    leave ``MALLOC_TRIM_THRESHOLD_`` unset (docs/export.md).
    """
    import dask
    from distributed import LocalCluster

    opts: dict[str, Any] = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                dashboard_address=None)
    if not _python_executable():  # e.g. inside QGIS: spawned workers would start QGIS itself
        opts["processes"] = False
    opts.update(dask_options or {})
    if not opts.get("processes") and "protocol" not in (dask_options or {}):
        opts.pop("host", None)  # threads in this process talk in-process, no socket at all
    env = {k: v for k, v in dict(dask.config.get("distributed.nanny.pre-spawn-environ", {})).items()
           if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(**opts)


def run_dask(plan: ExportPlan, chunks: Sequence[Sequence[int]], prog: Progress, *,
             scheduler_address: Any, dask_options: dict[str, Any] | None, threads_per_task: int,
             is_cancelled: Callable[[], bool] | None,
             results: list[dict[str, Any]], info: dict[str, Any]) -> bool:
    """Chunks as Dask tasks; slim records go to ``results``, cluster facts to ``info``.
    Returns ``cancelled``."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        from ..errors import SpecError

        raise SpecError(f"executor='dask' needs dask[distributed] (pip install 'dask[distributed]'): {exc}") from exc
    own_cluster = cluster = None
    if scheduler_address is None:
        cluster = own_cluster = local_cluster(dask_options)
        client = Client(cluster)
    elif isinstance(scheduler_address, Client):
        client = scheduler_address
    else:
        client = Client(scheduler_address)
    workers = client.scheduler_info().get("workers", {})
    slots = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
    info.update(scheduler=client.scheduler.address if client.scheduler else None,
                n_workers=len(workers), threads=slots, local_cluster=own_cluster is not None,
                threads_per_task=threads_per_task)
    cancelled = False
    window = 2 * slots + 2  # chunks in flight: every worker busy, one more queued each
    futs: list[Any] = []
    try:
        # the plan (every ROI) travels once to each worker, not once per chunk
        shared = client.scatter(plan, broadcast=True, hash=False)
        todo = iter(chunks)

        def submit() -> Any:
            idx = next(todo, None)
            if idx is None:
                return None
            fut = client.submit(run_chunk, shared, list(idx), threads_per_task, pure=False)
            futs.append(fut)
            return fut

        ac = as_completed([f for f in (submit() for _ in range(window)) if f is not None])
        for fut in ac:
            futs.remove(fut)
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                client.cancel(futs)
                break
            try:
                res = fut.result()
            except Exception:
                client.cancel(futs)
                raise
            results.extend(res)  # slim records already (run_chunk)
            prog.items_done(len(res), with_models=True)
            nxt = submit()
            if nxt is not None:
                ac.add(nxt)
    finally:
        if client is not scheduler_address:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    return cancelled
