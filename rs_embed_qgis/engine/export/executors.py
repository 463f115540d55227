"""Where export chunks run, and how progress is reported.

- ``serial``: fetch, embed, write, one chunk after the other (the baseline).
- ``threads`` (default): the next chunk is fetched in the background while the
  current one is embedded, and files are written by ``writer_workers`` threads
  (``async_write``). Inference stays in the calling thread, one model at a time,
  batched over the chunk.
- ``dask``: each chunk is a Dask task that fetches, embeds and writes on a worker
  (workers write their own outputs; only small manifests come back). A
  ``LocalCluster`` on 127.0.0.1 by default, or any scheduler address / Client.

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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..errors import Cancelled
from .core import ExportPlan, fetch_chunk, process_chunk, run_chunk, write_item


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
              prefetch: bool, async_write: bool, writer_workers: int,
              is_cancelled: Callable[[], bool] | None,
              results: list[dict[str, Any]]) -> bool:
    """Serial or threaded execution in this process; manifests go to ``results`` as items
    are written (so they are known even if a later chunk raises). Returns ``cancelled``."""
    fetch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rs-embed-prefetch") if prefetch else None
    write_pool = (ThreadPoolExecutor(max_workers=max(1, writer_workers), thread_name_prefix="rs-embed-write")
                  if async_write else None)
    writes: list[list[Future]] = []
    cancelled = False

    def harvest(batch: list[Future]) -> None:
        for f in batch:
            results.append(f.result())
        prog.items_done(len(batch))

    try:
        nxt: Future | None = None
        if fetch_pool is not None and chunks:
            nxt = fetch_pool.submit(fetch_chunk, plan, chunks[0], is_cancelled)
        for k, idx in enumerate(chunks):
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                break
            fetched = nxt.result() if nxt is not None else fetch_chunk(plan, idx, is_cancelled)
            nxt = None
            if fetch_pool is not None and k + 1 < len(chunks):
                nxt = fetch_pool.submit(fetch_chunk, plan, chunks[k + 1], is_cancelled)
            done = process_chunk(plan, idx, fetched, on_model_done=prog.model_done,
                                 is_cancelled=is_cancelled)
            if write_pool is None:
                for a, m in done:
                    results.append(write_item(plan, a, m))
                prog.items_done(len(done))
            else:
                writes.append([write_pool.submit(write_item, plan, a, m) for a, m in done])
                while len(writes) > 1:  # at most ~2 chunks in memory: wait for the older writes
                    harvest(writes.pop(0))
        while writes:
            harvest(writes.pop(0))
    except Cancelled:  # inside a fetch or a forward: the chunk is dropped, written items stay
        cancelled = True
    finally:
        if fetch_pool is not None:
            fetch_pool.shutdown(wait=True, cancel_futures=True)
        if write_pool is not None:
            write_pool.shutdown(wait=True)  # finish what was handed over: never half a file
            for batch in writes:  # written before the error: still recorded
                for f in batch:
                    if f.done() and f.exception() is None:
                        results.append(f.result())
    return cancelled


def _python_executable() -> bool:
    """Whether new processes can be spawned with ``sys.executable`` (a Python interpreter)."""
    import os

    name = os.path.basename(sys.executable or "").lower()
    return name.startswith("python") or name.startswith("pypy")


def run_dask(plan: ExportPlan, chunks: Sequence[Sequence[int]], prog: Progress, *,
             scheduler_address: Any, dask_options: dict[str, Any] | None,
             is_cancelled: Callable[[], bool] | None,
             results: list[dict[str, Any]], info: dict[str, Any]) -> bool:
    """Chunks as Dask tasks; manifests go to ``results``, cluster facts to ``info``.
    Returns ``cancelled``."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        from ..errors import SpecError

        raise SpecError(f"executor='dask' needs dask[distributed] (pip install 'dask[distributed]'): {exc}") from exc
    own_cluster = cluster = None
    if scheduler_address is None:
        opts = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None)
        if not _python_executable():  # e.g. inside QGIS: spawned workers would start QGIS itself
            opts["processes"] = False
        opts.update(dask_options or {})
        if not opts.get("processes") and "protocol" not in (dask_options or {}):
            opts.pop("host", None)  # threads in this process talk in-process, no socket at all
        cluster = own_cluster = LocalCluster(**opts)
        client = Client(cluster)
    elif isinstance(scheduler_address, Client):
        client = scheduler_address
    else:
        client = Client(scheduler_address)
    info.update(scheduler=client.scheduler.address if client.scheduler else None,
                n_workers=len(client.scheduler_info().get("workers", {})),
                local_cluster=own_cluster is not None)
    cancelled = False
    try:
        futs = [client.submit(run_chunk, plan, list(idx), pure=False) for idx in chunks]
        ac = as_completed(futs)
        for fut in ac:
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                client.cancel(futs)
                break
            try:
                res = fut.result()
            except Exception:
                client.cancel(futs)
                raise
            results.extend(res)
            prog.items_done(len(res), with_models=True)
    finally:
        if client is not scheduler_address:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    return cancelled
