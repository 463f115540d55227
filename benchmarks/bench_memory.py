"""Memory of large runs: the plan's estimate against the measured peak, and streaming against
all-at-once, printed (no assertions). Each case runs in a fresh process; its peak is the
process's high-water mark (VmHWM) minus what it held after importing the engine and building
the model.

1. One large ROI (the bundled sample at 1-2 m, MOSAIKS grid and pooled): estimated peak
   (``Plan.estimate``), measured peak (the provider reads and composites in blocks of rows),
   and the same fetch in one block (the scenes of the whole ROI at once: the naive way).
2. Many ROIs (1.2 km squares at 1 m, MOSAIKS grids) through ``get_embeddings_batch``: under a
   1 GB limit (streamed in batches that fit) against no limit (one batch), and
   ``export_batch`` (writes as it goes). The streamed peak should stay flat as the ROI count
   grows.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_memory.py [--rois 8,24]

Each figure also goes, as one JSON line, to ``out/bench/bench_memory.jsonl`` (benchlib).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import record  # noqa: E402

SAMPLE_BBOX = (9.001, 47.827, 9.039, 47.852)


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no /proc/self/status VmHWM (Linux only)")


def _reset_hwm() -> None:
    """Start the high-water mark again from the current size (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(case: str, arg: str) -> dict:
    from rs_embed_qgis.engine import BBox, OutputSpec, PointBuffer, SensorSpec, TemporalSpec
    from rs_embed_qgis.engine import pipeline as P
    from rs_embed_qgis.engine.api import get_embeddings_batch

    summer = TemporalSpec.range("2022-06-01", "2022-09-01")
    opts = {"num_features": 256}
    if case == "large":
        scale, mode, blocks = arg.split(":")
        if blocks == "one":  # the naive way: every scene of the whole ROI in memory at once
            from rs_embed_qgis.engine.providers.local import SceneProvider

            SceneProvider.read_buffer_bytes = 2 ** 40
        sensor = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=float(scale))
        output = OutputSpec.grid(scale_m=40) if mode == "grid" else OutputSpec.pooled()
        plan = P.plan(spatials=[BBox(*SAMPLE_BBOX)], models=["mosaiks"], temporal=summer, sensor=sensor,
                      backend="local", output=output, model_options=opts)
        est = plan.estimate
        _reset_hwm()
        base = _hwm_mb()
        P.run(plan)
        return {"estimate_mb": est.peak_bytes[0] / 2**20, "input_mb": est.input_bytes[0] / 2**20,
                "measured_mb": _hwm_mb() - base, "grid": est.grids[0][0]}
    n, how = arg.split(":")
    rois = [PointBuffer(9.008 + 0.004 * (i % 7), 47.833 + 0.004 * (i // 7 % 4), 600) for i in range(int(n))]
    one_m = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=1)
    kw = dict(temporal=summer, backend="local", output=OutputSpec.grid(scale_m=20), model_options=opts,
              sensor=one_m)
    get_embeddings_batch("mosaiks", spatials=rois[:1], **kw)  # the model built, the index read
    if how == "limit":
        os.environ["RS_EMBED_MAX_MEMORY_GB"] = "1"
    elif how == "off":
        os.environ["RS_EMBED_MAX_MEMORY_GB"] = "off"
    _reset_hwm()
    base = _hwm_mb()
    if how == "export":
        from rs_embed_qgis.engine.export import export_batch

        export_batch(spatials=rois, models=["mosaiks"], out_dir=tempfile.mkdtemp(), save_inputs=False,
                     show_progress=False, **{k: v for k, v in kw.items() if k != "model_options"},
                     model_options={"mosaiks": opts})
    else:
        get_embeddings_batch("mosaiks", spatials=rois, **kw)
    return {"measured_mb": _hwm_mb() - base}


def run_child(case: str, arg: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, __file__, "--child", case, arg], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{case} {arg} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rois", default="8,24")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print("1. one large ROI (the sample, 3 scenes), MOSAIKS 256 features: plan estimate vs measured peak")
    for arg in ("2:grid", "1:grid", "1:pooled"):
        r = run_child("large", arg + ":blocks")
        naive = run_child("large", arg + ":one")["measured_mb"]
        h, w = r["grid"]
        scale, mode = arg.split(":")
        print(f"   {scale} m ({w} x {h} px, input {r['input_mb']:.0f} MB), {mode}: estimate {r['estimate_mb']:.0f} MB, "
              f"measured {r['measured_mb']:.0f} MB; read in one block {naive:.0f} MB "
              f"({naive / max(r['measured_mb'], 1):.1f}x)", flush=True)
        ctx = {"scale_m": float(scale), "output": mode, "width": w, "height": h, "input_mb": r["input_mb"]}
        record("bench_memory", "large_roi_estimate", r["estimate_mb"], "MB", **ctx)
        record("bench_memory", "large_roi_measured", r["measured_mb"], "MB", **ctx)
        record("bench_memory", "large_roi_one_block", naive, "MB", **ctx)
    print("2. many ROIs (1.2 km squares at 1 m, grids at 20 m): peak over what the process held before")
    for n in [int(x) for x in args.rois.split(",")]:
        row = {how: run_child("many", f"{n}:{how}")["measured_mb"] for how in ("off", "limit", "export")}
        print(f"   {n:4d} ROIs: all at once {row['off']:6.0f} MB | streamed under a 1 GB limit "
              f"{row['limit']:6.0f} MB | export_batch {row['export']:6.0f} MB", flush=True)
        for how, figure in (("off", "many_rois_all_at_once"), ("limit", "many_rois_streamed_1gb"),
                            ("export", "many_rois_export")):
            record("bench_memory", figure, row[how], "MB", rois=n)


if __name__ == "__main__":
    main()
