"""GUI responsiveness while the dock runs an embedding: the longest stall of the event loop.

A QTimer ticks every 10 ms on the main thread while the dock's Run works (the embed_extent
algorithm in QGIS's task manager, then the layers added on the main thread); the longest gap between ticks, minus the 10 ms
period, is how long the GUI froze. Aim: under 100 ms. For comparison it also
times the same job run on the GUI thread (what the dock avoids). It exits 0: every widget it
makes belongs to one window, deleted before ``exitQgis()`` (``gui/standalone.py``). The figures
also go, one JSON line each, to ``out/bench/bench_gui_latency.jsonl`` (benchlib).

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python benchmarks/bench_gui_latency.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import median, record  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RS_EMBED_CACHE", tempfile.mkdtemp(prefix="rs_embed_bench_cache_"))


def _where() -> str:
    import threading
    import traceback

    me = threading.get_ident()
    out = []
    for tid, frame in sys._current_frames().items():
        if tid == me:
            continue
        st = [f for f in traceback.extract_stack(frame) if "rs_embed_qgis" in f.filename or "importlib" in f.filename]
        if st:
            out.append(" > ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in st[-3:]))
    return " | ".join(out) or "(outside rs_embed_qgis)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--grid-m", type=int, default=50, help="grid cell size of the output (m)")
    ap.add_argument("--model", default="mosaiks")
    ap.add_argument("--probe", action="store_true",
                    help="print where the worker thread was during each stall over 50 ms")
    args = ap.parse_args()

    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QElapsedTimer, QEventLoop, QTimer

    app = QgsApplication([], True)
    app.initQgis()
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRectangle

    from rs_embed_qgis.engine import clear_caches
    from rs_embed_qgis.engine.pipeline import run_embed
    from rs_embed_qgis.gui.dock import RsEmbedDock
    from rs_embed_qgis.gui.standalone import StandaloneIface

    iface = StandaloneIface()  # every widget here has a Qt parent: nothing outlives exitQgis()
    dock = RsEmbedDock(iface, iface.mainWindow())
    tab = dock.embed
    tab.ui.fileOutDir.setFilePath(tempfile.mkdtemp(prefix="rs_embed_bench_"))
    tab.ui.cmbModel.setCurrentText(args.model)
    tab.ui.spinGridScale.setValue(args.grid_m)
    dock.set_roi_rectangle(QgsRectangle(9.001, 47.827, 9.039, 47.852), QgsCoordinateReferenceSystem("EPSG:4326"))
    req = tab.request()

    def measure(start_job, is_done) -> tuple:
        gaps = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]

        def tick():
            now = clock.elapsed()
            gaps.append(now - last[0])
            if args.probe and now - last[0] > 60:
                print(f"    stall {now - last[0] - 10} ms; worker threads at: {_where()}")
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(tick)
        timer.start()
        t0 = time.perf_counter()
        start_job()
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: loop.quit() if is_done() else None)
        poll.start(5)
        loop.exec()
        wall = time.perf_counter() - t0
        tick()  # the gap up to the end counts too
        timer.stop()
        poll.stop()
        stall = max(gaps) - 10 if gaps else float("nan")
        return stall, wall, len(gaps), gaps

    print(f"model {args.model} (device {req.device}), ROI 9.001-9.039 E x 47.827-47.852 N (~2.8 x 2.8 km), grid {args.grid_m} m; "
          f"timer period 10 ms; {os.cpu_count()} CPUs")
    rows = []
    for i in range(args.runs):
        if i == 0:
            clear_caches()  # the first run also builds the embedder (cold)
        state = {}
        dock.taskFinished.connect(lambda kind, ok, state=state: state.update(ok=ok, kind=kind))
        stall, wall, n, gaps = measure(tab.run, lambda state=state: "ok" in state)
        dock.taskFinished.disconnect()
        if not state.get("ok"):
            raise SystemExit(f"run failed: {tab.ui.txtReport.toPlainText()}")
        QgsProject.instance().removeAllMapLayers()
        p99 = sorted(gaps)[int(0.99 * (len(gaps) - 1))] - 10
        rows.append((stall, wall))
        print(f"  background run {i + 1} ({'cold' if i == 0 else 'warm'}): task {wall * 1000:7.0f} ms, "
              f"{n} ticks, longest GUI stall {stall:6.1f} ms, p99 stall {p99:5.1f} ms")

    # the same job on the GUI thread, for comparison
    stall_blocking, wall_b, _, _ = measure(lambda: run_embed(req), lambda: True)
    print(f"  same job on the GUI thread: longest stall {stall_blocking:7.1f} ms")
    worst = max(r[0] for r in rows)
    print(f"RESULT longest GUI stall during background runs: {worst:.1f} ms "
          f"(median of runs {statistics.median(r[0] for r in rows):.1f} ms; target < 100 ms; "
          f"blocking would freeze {stall_blocking:.0f} ms, {stall_blocking / max(worst, 1e-3):.0f}x longer)")
    ctx = {"model": args.model, "grid_m": args.grid_m, "runs": args.runs, "device": req.device}
    record("bench_gui_latency", "longest_stall", worst, "ms", **ctx)
    record("bench_gui_latency", "median_stall", median([r[0] for r in rows]), "ms", **ctx)
    record("bench_gui_latency", "blocking_stall", stall_blocking, "ms", **ctx)
    dock.cleanup()
    iface.close()  # the window, the dock and the message bar go while QGIS still runs
    app.exitQgis()


if __name__ == "__main__":
    main()
