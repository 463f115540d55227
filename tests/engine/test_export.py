"""Dataset export: export_batch / export_npz / load_export on the bundled sample.

Two models: MOSAIKS (RGB) and a MOSAIKS variant registered as ``mosaiks_nir``
(B8, B11, B4), so both share one fetch of the band union.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rs_embed_qgis.engine import OutputSpec, PointBuffer, ProviderError, SensorSpec, SpecError
from rs_embed_qgis.engine.api import get_embeddings_batch, get_provider
from rs_embed_qgis.engine.export import export_batch, export_npz, load_export, writers

sys.path.insert(0, str(Path(__file__).parent))
import export_job  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
MODELS = ["mosaiks", "mosaiks_nir"]


@pytest.fixture(autouse=True, scope="module")
def _second_model():
    export_job.register_second_model()
    yield


def _run(out, layout="per_item", n=5, **kw):
    kw.setdefault("show_progress", False)
    kw.setdefault("resume", False)
    return export_job.run(str(out), layout, n, **kw)


def _temp_files(folder: Path):
    from rs_embed_qgis.engine.export.writers import is_temp_name

    return [p.name for p in Path(folder).rglob(".*") if is_temp_name(p.name)]


def _assert_same_export(a: Path, b: Path, names):
    """Item by item: same arrays (exactly) and consistent manifests."""
    for n in names:
        with np.load(a / f"{n}.npz") as za, np.load(b / f"{n}.npz") as zb:
            assert sorted(za.files) == sorted(zb.files), n
            for k in za.files:
                assert np.array_equal(za[k], zb[k]), (n, k)
        ma = json.loads((a / f"{n}.json").read_text())
        mb = json.loads((b / f"{n}.json").read_text())
        for key in ("index", "name", "status", "job_key", "spatial", "temporal", "output"):
            assert ma[key] == mb[key], (n, key)
        assert [m["model"] for m in ma["models"]] == [m["model"] for m in mb["models"]]
        for ea, eb in zip(ma["models"], mb["models"], strict=True):
            assert ea["status"] == eb["status"] == "ok"
            assert ea["embedding"] == eb["embedding"]
            assert ea["input"]["sha1"] == eb["input"]["sha1"]
        assert [f["path"] for f in ma["files"]] == [f["path"] for f in mb["files"]]
        assert [f["bytes"] for f in ma["files"]] == [f["bytes"] for f in mb["files"]]


# -- what gets written ------------------------------------------------------------------------
def test_per_item_npz_matches_the_embedding_api(tmp_path):
    res = _run(tmp_path / "out", n=4)
    assert [m["name"] for m in res] == [f"roi_{i:03d}" for i in range(4)]
    out = tmp_path / "out"
    run = json.loads((out / "export_run.json").read_text())
    assert run["status"] == "complete" and run["summary"]["ok"] == 4 and run["failures"] == []
    assert run["versions"]["numpy"] == np.__version__ and "gdal" in run["versions"]
    assert [m["model"] for m in run["models"]] == MODELS
    assert run["models"][0]["weights"]["status"] == "not needed"
    assert len(run["fetch_groups"]) == 1  # same collection/scale/composite: one fetch of B4 B3 B2 B8 B11
    assert run["fetch_groups"][0]["sensor"]["bands"] == ["B4", "B3", "B2", "B8", "B11"]
    spatials = export_job.rois(4)
    for m in MODELS:
        ref = get_embeddings_batch(m, spatials=spatials, temporal=export_job.TEMPORAL,
                                   backend="local", model_options=export_job.OPTIONS[m])
        for i, e in enumerate(ref):
            with np.load(out / f"roi_{i:03d}.npz") as z:
                np.testing.assert_allclose(z[f"embedding__{m}"], e.array, rtol=1e-5, atol=1e-6)
                sensor = get_spec_sensor(m)
                direct = get_provider("local").fetch(spatials[i], export_job.TEMPORAL, sensor)
                assert np.array_equal(z[f"input_chw__{m}"], direct.chw)  # union fetch == own fetch
    man = json.loads((out / "roi_000.json").read_text())
    e0 = man["models"][0]
    assert e0["meta"]["model"] == "mosaiks" and e0["meta"]["spatial"]["type"] == "PointBuffer"
    assert e0["input"]["bands"] == ["B4", "B3", "B2"] and e0["embedding"]["shape"] == [16]
    assert [f["path"] for f in man["files"]] == ["roi_000.npz"]
    loaded = load_export(str(out))
    assert loaded["embeddings"]["mosaiks"].shape == (4, 16)
    assert loaded["embeddings"]["mosaiks_nir"].shape == (4, 8)
    ins = loaded["inputs"]["mosaiks_nir"]  # ROI sizes differ (150-170 m): a list, not a stack
    assert isinstance(ins, list) and [a.shape[0] for a in ins] == [3] * 4
    assert _temp_files(out) == []


def get_spec_sensor(model):
    from rs_embed_qgis.engine.catalog import get_entry

    return get_entry(model).default_sensor


def test_each_roi_is_fetched_once_for_all_models(tmp_path, monkeypatch):
    prov = get_provider("local")
    calls = []
    orig = type(prov).fetch_many

    def counting(self, spatials, temporal, sensor, **kw):
        calls.extend((s, tuple(sensor.bands)) for s in spatials)
        return orig(self, spatials, temporal, sensor, **kw)

    monkeypatch.setattr(type(prov), "fetch_many", counting)
    _run(tmp_path / "o", n=3)
    assert len(calls) == 3 and len({c[0] for c in calls}) == 3
    assert {c[1] for c in calls} == {("B4", "B3", "B2", "B8", "B11")}


def test_per_model_sensors_split_fetch_groups(tmp_path):
    s20 = SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B8", "B11", "B4"), scale_m=20)
    res = _run(tmp_path / "o", n=2, per_model_sensors={"mosaiks_nir": s20})
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert len(run["fetch_groups"]) == 2
    e = res[0]["models"][1]
    assert e["sensor"]["scale_m"] == 20 and e["input"]["key"] == "input_chw__mosaiks_nir"
    assert e["input"]["shape"][1] < res[0]["models"][0]["input"]["shape"][1]  # coarser grid


def test_combined_npz_and_export_npz(tmp_path):
    man = _run(tmp_path / "all", layout="combined", n=3)
    assert man["status"] == "complete" and (tmp_path / "all.npz").exists()
    assert (tmp_path / "all.json").exists() and not (tmp_path / "all.npz.parts").exists()
    with np.load(tmp_path / "all.npz") as z:
        assert z["embeddings__mosaiks"].shape == (3, 16)
        assert z["input_chw__mosaiks_nir__00002"].shape[0] == 3  # sizes differ: kept per ROI
    assert [it["name"] for it in man["items"]] == ["roi_000", "roi_001", "roi_002"]
    back = load_export(str(tmp_path / "all.npz"))
    _run(tmp_path / "per", n=3)
    for i in range(3):
        with np.load(tmp_path / "per" / f"roi_{i:03d}.npz") as z:
            assert np.array_equal(back["embeddings"]["mosaiks"][i], z["embedding__mosaiks"])
    one = export_npz(spatial=export_job.rois(1)[0], temporal=export_job.TEMPORAL, models=["mosaiks"],
                     out_path=str(tmp_path / "single"), backend="local",
                     model_options={"num_features": 16})
    assert one["summary"]["ok"] == 1 and (tmp_path / "single.npz").exists()
    with np.load(tmp_path / "single.npz") as z:
        assert np.array_equal(z["embeddings__mosaiks"][0], back["embeddings"]["mosaiks"][0])


@pytest.mark.parametrize("fmt,layout,mode", [
    ("geotiff", "per_item", "grid"), ("netcdf", "per_item", "grid"), ("zarr", "combined", "grid"),
    ("netcdf", "combined", "pooled"), ("geoparquet", "combined", "pooled"),
    ("geoparquet", "per_item", "pooled"), ("gpkg", "combined", "pooled"),
])
def test_geo_formats_round_trip(tmp_path, fmt, layout, mode):
    out_spec = OutputSpec.grid(scale_m=60) if mode == "grid" else OutputSpec.pooled()
    ref = _run(tmp_path / "ref", n=3, output=out_spec)
    got = _run(tmp_path / "x", layout=layout, n=3, output=out_spec, format=fmt)
    target = tmp_path / "x" if layout == "per_item" else Path(got["target"])
    back = load_export(str(target))
    assert back["format"] == fmt
    for i in range(len(ref)):
        with np.load(tmp_path / "ref" / f"roi_{i:03d}.npz") as z:
            for m in MODELS:
                assert np.array_equal(np.asarray(back["embeddings"][m][i]), z[f"embedding__{m}"]), (m, i)
                k = f"input_chw__{m}"
                assert np.array_equal(np.asarray(back["inputs"][m][i]), z[k]), (m, i)
    if fmt == "geotiff":
        import rasterio

        with rasterio.open(target / "roi_000.mosaiks.tif") as src:
            meta = ref[0]["models"][0]["meta"]
            assert src.crs.to_string() == meta["crs"] and list(src.transform)[:6] == meta["transform"]
            assert src.count == 16
    if fmt == "geoparquet":
        import pyarrow.parquet as pq
        import shapely

        path = target if layout == "combined" else target / "roi_000.parquet"
        t = pq.read_table(path)
        geo = json.loads(t.schema.metadata[b"geo"])
        assert geo["primary_column"] == "geometry" and geo["version"].startswith("1.")
        col = geo["columns"]["geometry"]
        assert col["encoding"] == "WKB" and col["geometry_types"] == ["Polygon"]
        assert col["crs"]["id"]["code"] == "CRS84"
        poly = shapely.from_wkb(t.column("geometry")[0].as_py())
        sp = export_job.rois(3)[0]
        assert poly.contains(shapely.Point(sp.lon, sp.lat))
        minx, miny, maxx, maxy = poly.bounds  # the 2 x 150 m square, in degrees
        assert 0.0035 < maxx - minx < 0.0045 and 0.0025 < maxy - miny < 0.0030
        assert all(col["bbox"][k] <= poly.bounds[k] + 1e-9 for k in (0, 1))
        assert t.schema.field("embedding__mosaiks").type.list_size == 16
    if fmt == "gpkg":
        from osgeo import ogr

        ds = ogr.Open(str(target))
        lyr = ds.GetLayerByName("mosaiks_nir")
        assert lyr.GetFeatureCount() == 3 and lyr.GetLayerDefn().GetFieldCount() == 3 + 8
        assert lyr.GetSpatialRef().GetAuthorityCode(None) == "4326"
        f = lyr.GetNextFeature()
        sp = export_job.rois(3)[0]
        assert f.GetGeometryRef().Contains(ogr.CreateGeometryFromWkt(f"POINT ({sp.lon} {sp.lat})"))
        assert f.GetField("name") == "roi_000" and f.GetField("status") == "ok"
        ds = None
    assert _temp_files(tmp_path) == []


def test_bad_arguments_raise_spec_errors(tmp_path):
    sp = export_job.rois(2)
    base = dict(spatials=sp, temporal=export_job.TEMPORAL, models=["mosaiks"], backend="local",
                show_progress=False)
    with pytest.raises(SpecError, match="'xlsx'"):
        export_batch(out_dir=str(tmp_path / "a"), format="xlsx", **base)
    with pytest.raises(SpecError, match="geotiff"):
        export_batch(out_dir=str(tmp_path / "a"), format="geotiff", **base)
    with pytest.raises(SpecError, match="out_dir"):
        export_batch(out_dir=str(tmp_path / "a"), out_path=str(tmp_path / "b.npz"), **base)
    with pytest.raises(SpecError, match="names has 1"):
        export_batch(out_dir=str(tmp_path / "a"), names=["x"], **base)
    with pytest.raises(SpecError, match="duplicates"):
        export_batch(out_dir=str(tmp_path / "a"), names=["x", "x"], **base)
    with pytest.raises(SpecError, match="'../x'"):
        export_batch(out_dir=str(tmp_path / "a"), names=["../x", "y"], **base)
    with pytest.raises(SpecError, match="mosaiks_nir"):
        export_batch(out_dir=str(tmp_path / "a"), per_model_sensors={"mosaiks_nir": None}, **base)
    with pytest.raises(SpecError, match="'celery'"):
        export_batch(out_dir=str(tmp_path / "a"), executor="celery", **base)


@pytest.mark.parametrize("fmt", ["npz", "gpkg"])
def test_unicode_names_are_kept_and_their_files_named_safely(tmp_path, fmt):
    """"Zürich" and "Köln" (issue 17): the names as given in manifests and attributes, safe
    file names (letters of any script kept), a resume that finds them again."""
    names = ["Zürich", "Köln Süd #1", "köln süd #1"]
    kw = dict(spatials=export_job.rois(3), temporal=export_job.TEMPORAL, models=["mosaiks"], backend="local",
              out_dir=str(tmp_path / "o"), names=names, format=fmt, model_options={"mosaiks": {"num_features": 8}},
              show_progress=False)
    res = export_batch(**kw)
    assert [m["name"] for m in res] == names
    assert [m["stem"] for m in res] == ["Zürich", "Köln_Süd_1", "köln_süd_1_2"]  # apart on any file system
    ext = writers.EXT[fmt]
    stems = ("Zürich", "Köln_Süd_1", "köln_süd_1_2")
    side = [f"{s}.inputs.npz" for s in stems] if fmt == "gpkg" else []  # inputs of a vector format
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(
        [f"{s}{ext}" for s in stems] + [f"{s}.json" for s in stems] + side + ["export_run.json"])
    run = json.loads((tmp_path / "o" / "export_run.json").read_text(encoding="utf-8"))
    assert run["names"] == names and json.loads((tmp_path / "o" / "Köln_Süd_1.json").read_text())["name"] == names[1]
    back = load_export(str(tmp_path / "o"))
    assert back["names"] == names and np.isfinite(np.asarray(back["embeddings"]["mosaiks"])).all()
    if fmt == "gpkg":
        from osgeo import ogr

        ds = ogr.Open(str(tmp_path / "o" / f"Zürich{ext}"))
        assert ds.GetLayer(0).GetNextFeature().GetField("name") == "Zürich"  # the attribute, as given
        ds = None
    again = export_batch(**kw, resume=True)
    assert all(m["status"] == "ok" for m in again)
    assert json.loads((tmp_path / "o" / "export_run.json").read_text())["resumed_items"] == 3


def test_failures_are_recorded_and_redone_on_resume(tmp_path):
    sp = export_job.rois(3) + [PointBuffer(12.0, 45.0, 150)]  # outside the sample: fetch fails
    kw = dict(spatials=sp, temporal=export_job.TEMPORAL, models=MODELS, backend="local",
              out_dir=str(tmp_path / "o"), model_options=export_job.OPTIONS, show_progress=False)
    with pytest.raises(ProviderError, match="outside the local data"):
        export_batch(chunk_size=2, **kw)
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert run["status"] == "failed" and "outside the local data" in run["error"]
    assert run["summary"]["ok"] == 2 and run["summary"]["missing"] == 2  # the first chunk was written
    res = export_batch(continue_on_error=True, **kw)
    assert [m["status"] for m in res] == ["ok", "ok", "ok", "failed"]
    assert res[3]["models"][0]["stage"] == "fetch" and "outside" in res[3]["models"][0]["error"]
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert run["status"] == "complete_with_failures"
    assert {(f["name"], f["model"]) for f in run["failures"]} == {("p00003", "mosaiks"), ("p00003", "mosaiks_nir")}
    assert all("ProviderError" in f["error"] for f in run["failures"])
    res2 = export_batch(continue_on_error=True, resume=True, **kw)
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert run["summary"]["resumed"] == 3 and run["timings"]["items_processed"] == 1
    assert res2[3]["status"] == "failed"
    back = load_export(str(tmp_path / "o"))
    assert np.isnan(back["embeddings"]["mosaiks"][3]).all() and np.isfinite(back["embeddings"]["mosaiks"][:3]).all()


def test_resume_redoes_only_incomplete_items(tmp_path):
    out = tmp_path / "o"
    _run(out, n=5)
    (out / "roi_001.npz").write_bytes(b"truncated")      # damaged data file
    (out / "roi_003.json").unlink()                       # manifest missing: never finished
    (out / ".roi_004.npz.abc123.npz").write_bytes(b"x")   # a temp file left by a crash
    (out / "unrelated.txt").write_text("keep me")
    mtime = (out / "roi_000.npz").stat().st_mtime_ns
    _run(out, n=5, resume=True)
    run = json.loads((out / "export_run.json").read_text())
    assert run["summary"]["resumed"] == 3 and run["timings"]["items_processed"] == 2
    assert run["temp_files_removed"] == [".roi_004.npz.abc123.npz"]
    assert (out / "roi_000.npz").stat().st_mtime_ns == mtime
    assert (out / "unrelated.txt").exists() and _temp_files(out) == []
    ref = tmp_path / "ref"
    _run(ref, n=5)
    _assert_same_export(ref, out, [f"roi_{i:03d}" for i in range(5)])
    # a different job in the same folder is not "complete": options changed -> redone
    _run(out, n=5, resume=True, model_options={"mosaiks": {"num_features": 32},
                                                "mosaiks_nir": {"num_features": 8}})
    run = json.loads((out / "export_run.json").read_text())
    assert run["summary"]["resumed"] == 0


def test_max_retries_recovers_from_a_transient_fetch_error(tmp_path, monkeypatch):
    prov = get_provider("local")
    orig = type(prov).fetch
    state = {"calls": 0}

    def flaky(self, spatial, temporal, sensor, *, frames=None):
        state["calls"] += 1
        if state["calls"] == 2:
            raise ProviderError("HTTP 503 from the data server (transient)")
        return orig(self, spatial, temporal, sensor, frames=frames)

    monkeypatch.setattr(type(prov), "fetch", flaky)
    with pytest.raises(ProviderError, match="503"):
        _run(tmp_path / "a", n=2, max_retries=0)
    state["calls"] = 0
    res = _run(tmp_path / "b", n=2, max_retries=2, retry_backoff_s=0.01)
    assert [m["status"] for m in res] == ["ok", "ok"] and state["calls"] >= 3


def test_without_item_manifests_resume_trusts_the_atomic_files(tmp_path):
    out = tmp_path / "o"
    res = _run(out, n=3, save_manifest=False)
    assert sorted(p.name for p in out.iterdir()) == ["export_run.json", "roi_000.npz", "roi_001.npz",
                                                     "roi_002.npz"]
    assert res[0]["status"] == "ok"
    (out / "roi_001.npz").unlink()
    _run(out, n=3, save_manifest=False, resume=True)
    run = json.loads((out / "export_run.json").read_text())
    assert run["summary"]["resumed"] == 2 and run["timings"]["items_processed"] == 1
    assert load_export(str(out))["embeddings"]["mosaiks"].shape == (3, 16)


def test_progress_callback_and_cancel_leave_no_partial_files(tmp_path):
    seen = []
    state = {"n": 0}

    def progress(frac, msg):
        seen.append((frac, msg))

    def cancelled():
        state["n"] += 1
        return len([s for s in seen if s[1].startswith("written")]) >= 2

    res = _run(tmp_path / "o", n=8, progress=progress, is_cancelled=cancelled)
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert run["status"] == "cancelled" and 2 <= len(res) < 8
    assert any(m.startswith("infer[mosaiks_nir]") for _, m in seen)
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and 0 < fr[-1] < 1
    for m in res:  # what was written is complete
        assert (tmp_path / "o" / f"{m['name']}.npz").exists()
    assert _temp_files(tmp_path / "o") == []
    done = _run(tmp_path / "o", n=8, resume=True, progress=progress)
    assert len(done) == 8 and seen[-1][0] == pytest.approx(1.0)


@pytest.mark.parametrize("union", [False, True], ids=["roi_by_roi", "group_composite"])
def test_cancel_inside_a_fetch_keeps_only_complete_items(tmp_path, monkeypatch, union):
    from rs_embed_qgis.engine.providers.local import LocalProvider

    # a chunk's two neighbouring ROIs read each scene once together (group composite) or each
    monkeypatch.setattr(LocalProvider, "union_composites", union)
    per_chunk = 3 if union else 6
    reads = []
    real = LocalProvider._read_scene

    def counting(self, scene, grid, sensor):
        reads.append(scene.id)
        return real(self, scene, grid, sensor)

    monkeypatch.setattr(LocalProvider, "_read_scene", counting)
    # chunks of 2 ROIs, 3 summer scenes each: cancel after the second chunk's first scene read
    res = _run(tmp_path / "o", n=6, executor="serial", num_workers=1,
               is_cancelled=lambda: len(reads) > per_chunk + 1)
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert run["status"] == "cancelled" and [m["name"] for m in res] == ["roi_000", "roi_001"]
    assert len(reads) == per_chunk + 2  # stopped between scenes, not after the whole fetch
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "export_run.json", "roi_000.json", "roi_000.npz", "roi_001.json", "roi_001.npz"]
    assert _temp_files(tmp_path / "o") == []


# -- crash safety -------------------------------------------------------------------------------
def _kill_repeatedly(args, items_dir: Path, run_file: Path, n: int, kills_wanted: int, rng, env,
                     undo=None):
    """Start the export job and SIGKILL it at random points until ``kills_wanted`` kills landed.

    If an attempt finishes before its kill, ``undo()`` removes part of the result so the
    next attempt has work to be killed in.
    """
    job = [PY, str(ROOT / "tests" / "engine" / "export_job.py")] + args
    kills, done_at_kill, temps_seen = 0, [], 0
    while kills < kills_wanted:
        started = time.time()
        proc = subprocess.Popen(job, env=env)
        n_before = len(list(items_dir.glob("roi_*.json")))
        r = rng.random()
        if r < 0.2:  # during start-up (imports, plan, run manifest write)
            time.sleep(rng.uniform(0.3, 2.0))
        elif r < 0.5:  # once this attempt has started exporting (fetch / inference of a chunk)
            while proc.poll() is None and not (run_file.exists() and run_file.stat().st_mtime > started):
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # while items are being written
            while proc.poll() is None and len(list(items_dir.glob("roi_*.json"))) <= n_before:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            done_at_kill.append(len(list(items_dir.glob("roi_*.json"))))
            temps_seen += len(_temp_files(items_dir.parent))
        else:
            assert proc.returncode == 0
            if undo is not None:
                undo()
            else:
                for p in list(items_dir.glob("roi_00[0-7].*")):  # finished first: undo part, kill again
                    p.unlink()
    subprocess.run(job, env=env, check=True, timeout=120)
    return done_at_kill, temps_seen


@pytest.mark.timeout(170)
def test_sigkill_at_random_points_then_resume_equals_clean_run(tmp_path):
    n = 12
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    _run(clean, n=n, resume=True)  # the same job, in this process, never interrupted
    seed = random.randrange(1 << 30)
    t0 = time.time()
    done_at_kill, temps_seen = _kill_repeatedly([str(killed), "per_item", str(n)], killed,
                                                killed / "export_run.json", n, 10,
                                                random.Random(seed), env)
    print(f"seed={seed} items done at each kill={done_at_kill} temp files seen={temps_seen} "
          f"{time.time() - t0:.1f}s")
    assert any(0 < d < n for d in done_at_kill)  # some kills landed in the middle of the work
    names = [f"roi_{i:03d}" for i in range(n)]
    _assert_same_export(clean, killed, names)
    run = json.loads((killed / "export_run.json").read_text())
    assert run["status"] == "complete" and run["summary"]["ok"] == n
    assert _temp_files(killed) == []
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in clean.iterdir())


@pytest.mark.slow  # ~30 s: the same for a combined file (shards in <out>.npz.parts, then assembly)
@pytest.mark.timeout(170)
def test_sigkill_combined_layout_then_resume_equals_clean_run(tmp_path):
    n = 12
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    clean = _run(tmp_path / "clean", layout="combined", n=n, resume=True)
    seed = random.randrange(1 << 30)
    out = tmp_path / "killed"
    parts = tmp_path / "killed.npz.parts"
    def undo():  # the run completed: drop the combined file so the next attempt redoes it all
        for f in ("killed.npz", "killed.json"):
            (tmp_path / f).unlink()

    done_at_kill, _ = _kill_repeatedly([str(out), "combined", str(n)], parts, tmp_path / "killed.json",
                                       n, 6, random.Random(seed), env, undo=undo)
    print(f"seed={seed} shards done at each kill={done_at_kill}")
    with np.load(tmp_path / "clean.npz") as a, np.load(tmp_path / "killed.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k], equal_nan=True), k
    man = json.loads((tmp_path / "killed.json").read_text())
    assert man["status"] == "complete" and man["keys"] == clean["keys"]
    assert [(it["name"], it["status"]) for it in man["items"]] == [(it["name"], it["status"])
                                                                   for it in clean["items"]]
    assert not parts.exists() and _temp_files(tmp_path) == []


# -- Dask -------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_dask_local_cluster_writes_the_same_and_resumes(tmp_path):
    ref = _run(tmp_path / "ref", n=6)
    loopback = {"n_workers": 2, "processes": False, "threads_per_worker": 1,
                "protocol": "tcp://", "host": "127.0.0.1"}
    res = _run(tmp_path / "dk", n=6, executor="dask", dask_options=loopback)
    assert [m["status"] for m in res] == ["ok"] * 6
    run = json.loads((tmp_path / "dk" / "export_run.json").read_text())
    assert run["dask"]["n_workers"] == 2 and run["dask"]["local_cluster"] is True
    assert run["dask"]["scheduler"].startswith("tcp://127.0.0.1:")
    _assert_same_export(tmp_path / "ref", tmp_path / "dk", [m["name"] for m in ref])
    (tmp_path / "dk" / "roi_002.json").unlink()
    _run(tmp_path / "dk", n=6, executor="dask", resume=True, dask_options=loopback)
    run = json.loads((tmp_path / "dk" / "export_run.json").read_text())
    assert run["summary"]["resumed"] == 5 and run["timings"]["items_processed"] == 1
    _assert_same_export(tmp_path / "ref", tmp_path / "dk", [m["name"] for m in ref])


@pytest.mark.slow  # ~20 s: two worker processes start and import the engine
@pytest.mark.timeout(120)
def test_dask_scheduler_address_with_process_workers(tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://127.0.0.1")
        res = _run(tmp_path / "dk", layout="combined", n=4, executor="dask", scheduler_address=addr)
        with Client(addr) as c:  # the workers registered mosaiks_nir from the plan
            assert len(c.scheduler_info()["workers"]) == 2
    assert res["status"] == "complete" and res["dask"]["scheduler"] == addr
    ref = _run(tmp_path / "ref", layout="combined", n=4)
    a, b = load_export(res["target"]), load_export(ref["target"])
    for m in MODELS:
        assert np.array_equal(a["embeddings"][m], b["embeddings"][m])


def _blank_scene_folder(folder: Path) -> Path:
    """One Sentinel-2-like scene with no valid pixel (all 0 = nodata), as a cloud-covered tile."""
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir()
    bands = ["B2", "B3", "B4", "B8", "B11"]
    prof = dict(driver="GTiff", width=100, height=100, count=len(bands), dtype="uint16",
                crs="EPSG:32632", transform=from_origin(500000, 5300000, 10, 10), nodata=0)
    with rasterio.open(folder / "S2_L2A_20220701_blank.tif", "w", **prof) as dst:
        dst.write(np.zeros((len(bands), 100, 100), np.uint16))
        for i, b in enumerate(bands):
            dst.set_band_description(i + 1, b)
    return folder


def test_fail_on_bad_input(tmp_path):
    root = _blank_scene_folder(tmp_path / "data")
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(500500, 5299500)
    kw = dict(spatials=[PointBuffer(lon, lat, 100)], temporal=export_job.TEMPORAL, models=["mosaiks"],
              backend="local", provider_options={"root": str(root)}, show_progress=False,
              model_options={"num_features": 8}, out_dir=str(tmp_path / "o"))
    with pytest.raises(ProviderError, match="0.0% of the pixels have valid data"):
        export_batch(**kw)  # the provider's input sanity (on by default) refuses a blank composite
    kw["provider_options"]["min_valid_fraction"] = 0  # sanity off: the input check alone decides
    res = export_batch(**kw)  # without the check the blank input is embedded as it is
    assert res[0]["status"] == "ok"
    with pytest.raises(ProviderError, match="input check failed"):
        export_batch(fail_on_bad_input=True, **kw)
    res = export_batch(fail_on_bad_input=True, continue_on_error=True, **kw)
    e = res[0]["models"][0]
    assert res[0]["status"] == "failed" and e["stage"] == "input" and "input check failed" in e["error"]


def test_two_model_families_multi_frame_inputs(tmp_path):
    """MOSAIKS (one composite) + AnySat (T binned composites, torch, random tiny weights)."""
    anysat = {"model_size": "tiny", "pretrained": False, "img": 12, "frames": 2}
    opts = {"mosaiks": {"num_features": 16}, "anysat": anysat}
    sp = export_job.rois(3)
    res = export_batch(spatials=sp, temporal=export_job.TEMPORAL, models=["mosaiks", "anysat"],
                       out_dir=str(tmp_path / "o"), backend="local", device="cpu",
                       model_options=opts, show_progress=False)
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    assert len(run["fetch_groups"]) == 2  # one composite vs two time bins: two fetches per ROI
    a = run["models"][1]
    assert a["model"] == "anysat" and a["random_weights"] is True and a["frames"] == 2
    for m in ("mosaiks", "anysat"):
        ref = get_embeddings_batch(m, spatials=sp, temporal=export_job.TEMPORAL, backend="local",
                                   device="cpu", model_options=opts[m])
        for i, e in enumerate(ref):
            with np.load(tmp_path / "o" / f"p{i:05d}.npz") as z:
                np.testing.assert_allclose(z[f"embedding__{m}"], e.array, rtol=1e-4, atol=1e-5)
    e = res[0]["models"][1]
    assert e["input"]["key"] == "input_tchw__anysat" and e["input"]["shape"][:2] == [2, 10]
    assert e["meta"]["random_weights"] is True and len(e["input"]["frames"]) == 2


def test_manifests_never_hold_credentials():
    from rs_embed_qgis.engine.export.manifest import redact

    opts = {"project": "my-proj", "credentials": {"private_key": "-----BEGIN"}, "root": "/d",
            "http": {"api_key": "abc", "timeout": 5}}
    r = redact(opts)
    assert r == {"project": "my-proj", "credentials": "<redacted>", "root": "/d",
                 "http": {"api_key": "<redacted>", "timeout": 5}}
    assert "BEGIN" not in json.dumps(r)


def test_missing_format_library_fails_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(SpecError, match="pyarrow"):
        _run(tmp_path / "o", n=2, format="geoparquet")
    assert not (tmp_path / "o").exists()
