"""Click-to-stop: how long after a cancel every long job of the plugin stops, printed (no assertions).

Each job runs in a worker thread, as in QGIS's task manager; the "click" sets the flag its
``is_cancelled()`` reads, ``--delay`` seconds into the work (several times at different
delays), and the figure is the time from the click until the job has raised ``Cancelled``
and cleaned up. The aim is under 1 s for every job (issue 17). For the embedders the run is
repeated without prompt cancel (forward batches of the model's size, the engine's default
outside the dock) to show what a forward batch costs a cancel.

Jobs: embed (MOSAIKS grid over the bundled sample; a ViT, RemoteCLIP with random weights, in
tiles), export (export_batch, MOSAIKS, 24 ROIs), inspect (the input fetch alone), super-
resolution (the full S2x10NetS, random weights), forecast (the full forecaster, random weights).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cancel.py [--delays 0.3,0.8,1.5] [--skip superres]

Each figure also goes, as one JSON line, to ``out/bench/bench_cancel.jsonl`` (benchlib).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import record  # noqa: E402

SAMPLE_BBOX = (9.001, 47.827, 9.039, 47.852)  # the bundled sample's 2022 scenes


PROBE = False


def _where(th: threading.Thread) -> str:
    import traceback

    frame = sys._current_frames().get(th.ident)
    st = [f for f in traceback.extract_stack(frame) if "rs_embed_qgis" in f.filename] if frame else []
    return " > ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in st[-4:]) or "(outside)"


def click_to_stop(job, delay: float) -> tuple[str, float]:
    """Run ``job(is_cancelled)`` in a thread, click ``delay`` s in; ``("stopped", seconds)`` from the
    click to the end, or ``("finished", run time)`` when it ended before the click."""
    from rs_embed_qgis.engine.errors import Cancelled

    clicked = threading.Event()
    done: dict = {}

    def work():
        try:
            job(clicked.is_set)
            done["how"] = "finished"
        except Cancelled:
            done["how"] = "stopped"
        except BaseException as exc:  # noqa: BLE001 - reported in the table
            done["how"] = f"failed: {type(exc).__name__}: {exc}"
        done["t"] = time.perf_counter()

    t0 = time.perf_counter()
    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(delay)
    if th.is_alive():
        t_click = time.perf_counter()
        where = _where(th) if PROBE else ""
        clicked.set()
        th.join()
        if PROBE and done["t"] - t_click > 1.0:
            print(f"    slow stop {done['t'] - t_click:.2f} s; the job was at: {where}")
        return done["how"], done["t"] - t_click
    return done["how"], done["t"] - t0


def jobs(work: Path, skip: set[str]):
    """``{name: (job(is_cancelled), prompt_variant or None)}``."""
    import numpy as np

    from rs_embed_qgis.engine import BBox, OutputSpec, PointBuffer, SensorSpec, TemporalSpec
    from rs_embed_qgis.engine.pipeline import EmbedRequest, run_embed

    summer = TemporalSpec.range("2022-06-01", "2022-09-01")
    whole = BBox(*SAMPLE_BBOX)
    out = {}

    def embed(model, output, options, input_prep="resize", sensor=None):
        req = EmbedRequest(model=model, spatials=[whole], temporal=summer, output=output, sensor=sensor,
                           backend="local", device="cpu", input_prep=input_prep, model_options=options)

        def job(prompt):
            return lambda is_cancelled: run_embed(req, is_cancelled=is_cancelled, prompt_cancel=prompt)

        return job(True), job(False)

    if "embed" not in skip:
        out["embed: MOSAIKS 4096 features, grid 20 m, one ROI"] = embed(
            "mosaiks", OutputSpec.grid(scale_m=20), {"num_features": 4096})
        out["embed: RemoteCLIP ViT-B/32 (random weights), tiles"] = embed(
            "remoteclip", OutputSpec.grid(scale_m=10), {"allow_random_weights": True}, input_prep="tile",
            sensor=SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=5))
    if "export" not in skip:
        from rs_embed_qgis.engine.export import export_batch

        rois = [PointBuffer(9.004 + 0.0045 * (i % 8), 47.831 + 0.0045 * (i // 8), 400) for i in range(24)]
        k = iter(range(10**6))

        def export(is_cancelled):
            import json

            from rs_embed_qgis.engine.errors import Cancelled

            out = work / f"exp{next(k)}"
            export_batch(spatials=rois, temporal=summer, models=["mosaiks"], out_dir=str(out),
                         backend="local", output=OutputSpec.pooled(), chunk_size=4, num_workers=2,
                         model_options={"mosaiks": {"num_features": 2048}}, show_progress=False,
                         is_cancelled=is_cancelled)
            if json.loads((out / "export_run.json").read_text())["status"] == "cancelled":
                raise Cancelled("the export stopped")  # it returns its manifests: what was done stays

        out["export: export_batch, MOSAIKS, 24 ROIs"] = (export, None)
    if "inspect" not in skip:
        from rs_embed_qgis.engine.input_checks import inspect_provider_patch
        from rs_embed_qgis.engine.progress import Feedback, cancel_scope

        s10 = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED",
                         bands=("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"), scale_m=2)

        def inspect(is_cancelled):
            with cancel_scope(Feedback(is_cancelled=is_cancelled)):  # as the dock's InspectTask
                inspect_provider_patch(spatial=whole, temporal=summer, sensor=s10, backend="local", name="bench")

        out["inspect: fetch, 10 bands at 2 m over the sample"] = (inspect, None)
    if "superres" not in skip:
        from rs_embed_qgis.engine.superres.raster import super_resolve_raster

        src = work / "sr_in.tif"
        _write_s2_raster(src, 48)
        k2 = iter(range(10**6))

        def superres(is_cancelled):
            super_resolve_raster(src, work / f"sr_{next(k2)}.tif", model="s2x10", random_weights=True, tile=48,
                                 overlap=8, device="cpu", is_cancelled=is_cancelled)

        out["super-resolution: S2x10NetS full size (random), 48 px tile"] = (superres, None)
    if "forecast" not in skip:
        from rs_embed_qgis.engine.forecast.data import synthetic_minicube
        from rs_embed_qgis.engine.forecast.predict import forecast_to_geotiffs

        cube = synthetic_minicube(work / "cube" / "val" / "32UNU" / "c.nc", size=128, seed=1)
        k3 = iter(range(10**6))

        def forecast(is_cancelled):
            forecast_to_geotiffs(cube, None, work / f"fc{next(k3)}", is_cancelled=is_cancelled, write_ndvi=False)

        out["forecast: full forecaster (random), 128 px cube"] = (forecast, None)
    del np
    return out


def _write_s2_raster(path: Path, side: int) -> None:
    import numpy as np

    from rs_embed_qgis.engine.geoio import write_raster

    yy, xx = np.mgrid[0:side, 0:side]
    bands = np.stack([1500 + 800 * np.sin(xx / (4 + b)) * np.cos(yy / (6 + b)) + 50 * b for b in range(10)])
    write_raster(path, bands.astype("uint16"), crs="EPSG:32632", transform=(10, 0, 600000, 0, -10, 5100000),
                 band_names=["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"], nodata=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delays", default="0.3,0.8,1.5", help="seconds into the work at which to click")
    ap.add_argument("--skip", default="", help="comma-separated: embed,export,inspect,superres,forecast")
    ap.add_argument("--probe", action="store_true", help="print where a job was when it took over 1 s to stop")
    args = ap.parse_args()
    global PROBE
    PROBE = args.probe
    delays = [float(d) for d in args.delays.split(",")]
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    work = Path(tempfile.mkdtemp(prefix="rs_embed_bench_cancel_"))
    os.environ.setdefault("RS_EMBED_CACHE", str(work / "cache"))
    table = jobs(work, set(filter(None, args.skip.split(","))))
    print(f"click-to-stop (s) at clicks {delays} s into the work; {os.cpu_count()} CPUs; aim < 1 s")
    worst_prompt = 0.0
    for name, (job, naive) in table.items():
        job(lambda: False) if name.startswith("embed") else None  # warm: build the model, read the index
        rows = []
        for variant, fn in (("", job), (" [forward batches of the model's size]", naive)):
            if fn is None:
                continue
            res = [click_to_stop(fn, d) for d in delays]
            stops = [t for how, t in res if how == "stopped"]
            other = [f"{how} {t:.2f}s" for how, t in res if how != "stopped"]
            line = (f"  {name}{variant}: " + (f"max {max(stops):.2f} s, median {statistics.median(stops):.2f} s"
                                               if stops else "never stopped")
                    + (f" ({'; '.join(other)})" if other else ""))
            rows.append(line)
            if stops:
                ctx = {"job": name, "prompt": not variant, "delays": delays, "not_stopped": other}
                record("bench_cancel", "click_to_stop_max", max(stops), "s", **ctx)
                record("bench_cancel", "click_to_stop_median", statistics.median(stops), "s", **ctx)
            if not variant and stops:
                worst_prompt = max(worst_prompt, max(stops))
        print("\n".join(rows), flush=True)
    print(f"RESULT worst click-to-stop {worst_prompt:.2f} s (aim < 1 s)")
    record("bench_cancel", "worst_click_to_stop", worst_prompt, "s", delays=delays)


if __name__ == "__main__":
    main()
