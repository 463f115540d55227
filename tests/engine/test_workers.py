"""Batches that scale with workers: chunk lanes of the threads executor, scene-major reads
(each file read once per group of neighbouring ROIs), thread budgets per worker, and a run
whose memory does not grow with its ROIs (slim records, manifests read back on access)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rs_embed_qgis.engine import geoio, threads
from rs_embed_qgis.engine.catalog import get_entry
from rs_embed_qgis.engine.errors import SpecError
from rs_embed_qgis.engine.export import load_export
from rs_embed_qgis.engine.export.manifest import ItemManifests, slim
from rs_embed_qgis.engine.providers import get_provider
from rs_embed_qgis.engine.providers.local import LocalProvider, RasterReader, nanmedian_layers

sys.path.insert(0, str(Path(__file__).parent))
import export_job  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _second_model():
    export_job.register_second_model()


def _run(out, n=8, **kw):
    kw.setdefault("resume", False)
    return export_job.run(str(out), "per_item", n, **kw)


def test_lanes_write_what_one_chunk_after_the_other_writes(tmp_path):
    serial = _run(tmp_path / "s", executor="serial")
    lanes = _run(tmp_path / "t", executor="threads", chunk_workers=3)
    run = json.loads((tmp_path / "t" / "export_run.json").read_text())
    assert run["chunk_workers"] == 3 and run["knobs"]["chunk_workers"] == 3 and run["status"] == "complete"
    assert [m["name"] for m in lanes] == [m["name"] for m in serial]
    a, b = load_export(tmp_path / "s"), load_export(tmp_path / "t")
    for m in ("mosaiks", "mosaiks_nir"):  # the BLAS may sum in another order with fewer threads
        np.testing.assert_allclose(a["embeddings"][m], b["embeddings"][m], rtol=1e-5, atol=1e-6)
        for x, y in zip(a["inputs"][m], b["inputs"][m], strict=True):
            np.testing.assert_array_equal(x, y)
    assert run["timings"]["items_processed"] == 8 and run["timings"]["fetch_s"] > 0


def test_a_failing_lane_stops_the_run_and_its_error_is_raised(tmp_path, monkeypatch):
    from rs_embed_qgis.engine.export import executors

    real, calls = executors.process_chunk, []

    def fail_on_the_third_chunk(plan, idx, *a, **kw):
        calls.append(idx)
        if len(calls) == 3:
            raise RuntimeError("a model broke on chunk 3")
        return real(plan, idx, *a, **kw)

    monkeypatch.setattr(executors, "process_chunk", fail_on_the_third_chunk)
    with pytest.raises(RuntimeError, match="chunk 3"):
        _run(tmp_path / "t", n=12, executor="threads", chunk_workers=2)
    run = json.loads((tmp_path / "t" / "export_run.json").read_text())
    assert run["status"] == "failed" and "chunk 3" in run["error"]
    assert len(calls) < 6  # the other lane stopped instead of running every chunk
    written = {m["name"] for m in ItemManifests(tmp_path / "t", [{"name": n} for n in run["names"]], True)
               if m.get("status") == "ok"}
    assert all((tmp_path / "t" / f"{n}.npz").exists() for n in written)


def test_the_result_reads_manifests_back_and_the_run_keeps_slim_records(tmp_path):
    res = _run(tmp_path / "o", n=4)
    assert isinstance(res, ItemManifests) and len(res) == 4 and not isinstance(res, list)
    on_disk = json.loads((tmp_path / "o" / "roi_002.json").read_text())
    assert res[2] == on_disk and res[-1]["name"] == "roi_003" and [m["index"] for m in res[1:3]] == [1, 2]
    assert res[2]["models"][0]["meta"]["weights"]["status"] == "not needed"  # the full manifest
    rec = res.records[2]                       # what the run held in memory meanwhile
    assert set(rec) <= {"index", "name", "stem", "status", "files", "timings"} | {"models"}
    assert rec["models"][0].keys() == {"model", "status", "weights"}
    assert len(json.dumps(rec)) < len(json.dumps(on_disk)) / 5
    quiet = _run(tmp_path / "q", n=2, save_manifest=False)
    assert [m["status"] for m in quiet] == ["ok", "ok"] and "meta" not in quiet[0]["models"][0]


def test_manifests_of_names_in_any_script_are_read_from_their_safe_file_names(tmp_path):
    names = ["Zürich", "Köln: Mitte?"]   # files are named by the names' safe forms (stems)
    res = _run(tmp_path / "u", n=2, names=names)
    stems = [r["stem"] for r in res.records]
    assert stems[1] != names[1] and all((tmp_path / "u" / f"{s}.json").exists() for s in stems)
    assert [m["name"] for m in res] == names
    assert res[1] == json.loads((tmp_path / "u" / f"{stems[1]}.json").read_text())  # the full manifest


def test_slim_keeps_failures_and_shares_one_weights_record():
    man = {"index": 3, "name": "p3", "status": "partial", "files": [], "timings": {"fetch_s": 0.1},
           "models": [{"model": "a", "status": "failed", "stage": "embed", "error": "boom", "error_type": "X",
                       "meta": None, "input": {"big": list(range(100))}},
                      {"model": "b", "status": "ok", "meta": {"weights": {"status": "random"}, "grid": [1]}}]}
    s = slim(man)
    assert s["models"][0] == {"model": "a", "status": "failed", "stage": "embed", "error": "boom",
                              "error_type": "X", "weights": None}
    other = slim({**man, "index": 4})
    assert s["models"][1]["weights"] is other["models"][1]["weights"]


def test_bad_worker_knobs_are_named(tmp_path):
    with pytest.raises(SpecError, match="chunk_workers"):
        _run(tmp_path / "a", chunk_workers=0)
    with pytest.raises(SpecError, match="threads_per_task"):
        _run(tmp_path / "b", threads_per_task=0)


# -- scene-major reads -------------------------------------------------------------------------------
def test_a_group_of_neighbours_reads_each_file_once(monkeypatch):
    """fetch_many reads each scene file once per group and cuts every ROI from it; the patches
    equal ROI-by-ROI fetches."""
    prov = LocalProvider()
    sensor = get_entry("mosaiks").default_sensor
    rois = export_job.rois(12)
    single = [prov.fetch(r, export_job.TEMPORAL, sensor) for r in rois]
    reads, real_open = [], geoio.open_raster

    def counting_open(path):
        r = real_open(path)
        real_read = r.read
        r.read = lambda *a, **kw: reads.append(path) or real_read(*a, **kw)
        return r

    monkeypatch.setattr(geoio, "open_raster", counting_open)
    batch = prov.fetch_many(rois, export_job.TEMPORAL, sensor, num_workers=1)
    for a, b in zip(single, batch, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    scenes = {sid for p in single for f in p.frames for sid in f["scenes"]}
    # one group here (the ROIs span ~3 km): one read per (scene file, band set: bands, SCL)
    assert len(reads) == 2 * len(scenes) < len(rois)


def test_a_group_too_wide_to_read_at_once_reads_roi_by_roi(monkeypatch):
    monkeypatch.setattr(RasterReader, "max_group_px", 16)  # smaller than one ROI
    prov = LocalProvider()
    sensor = get_entry("mosaiks").default_sensor
    rois = export_job.rois(3)
    got = prov.fetch_many(rois, export_job.TEMPORAL, sensor, num_workers=1)
    for r, p in zip(rois, got, strict=True):
        np.testing.assert_array_equal(prov.fetch(r, export_job.TEMPORAL, sensor).data, p.data)


def test_median_of_a_few_layers_is_numpys_nanmedian():
    rng = np.random.default_rng(1)
    for n in (2, 3, 4, 7):
        x = rng.uniform(0, 1e4, (n, 3, 9, 11)).astype(np.float32)
        x[rng.random(x.shape) < 0.4] = np.nan
        x[:, :, 0, 0] = np.nan  # no valid value at all: stays NaN
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            ref = np.nanmedian(x, axis=0).astype(np.float32)
        np.testing.assert_array_equal(nanmedian_layers(x), ref)


# -- thread budgets --------------------------------------------------------------------------------
def test_thread_limits_hold_during_the_block_and_are_restored():
    import torch

    before = torch.get_num_threads()
    with threads.limit_threads(1):
        assert torch.get_num_threads() == 1
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            pass
        else:
            assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert torch.get_num_threads() == before
    assert threads.per_worker(threads.cpu_count() * 4) == 1
    assert threads.per_worker(1) == threads.cpu_count()


def test_gdal_threads_hold_during_the_block():
    from osgeo import gdal

    before = gdal.GetConfigOption("GDAL_NUM_THREADS")
    with threads.gdal_threads(1):
        assert gdal.GetConfigOption("GDAL_NUM_THREADS") == "1"
    assert gdal.GetConfigOption("GDAL_NUM_THREADS") == before


def test_readers_of_local_files_stay_within_the_budget(monkeypatch):
    from rs_embed_qgis.engine import pipeline

    asked = []
    prov = get_provider("local", None)
    real = type(prov).fetch_many

    def spy(self, sps, *a, num_workers=None, **kw):
        asked.append(num_workers)
        return real(self, sps, *a, num_workers=num_workers, **kw)

    monkeypatch.setattr(type(prov), "fetch_many", spy)
    plan = pipeline.plan(spatials=export_job.rois(2), models=["mosaiks"], temporal=export_job.TEMPORAL,
                         backend="local", device="cpu", num_workers=8, model_options={"num_features": 8})
    pipeline.fetch(plan, [0, 1], reader_budget=1)
    pipeline.fetch(plan, [0, 1])
    assert asked == [1, min(8, threads.cpu_count())]


def test_small_rois_keep_whole_chunks_under_the_memory_limit_with_lanes():
    """The memory limit (4 GB by default) holds two chunks per lane; MOSAIKS on 400 m ROIs
    (41 x 41 px) works on the patch's own rows, a few MB, so two lanes' chunks of 16 ROIs fit
    whole: the export does not fall back to small chunks (counting a 65536-pixel block per
    ROI made them single ROIs)."""
    from rs_embed_qgis.engine import OutputSpec, PointBuffer
    from rs_embed_qgis.engine import pipeline as P

    rois = [PointBuffer(9.003 + (i % 8) * 0.0017, 47.830 + (i // 8) * 0.0021, 200) for i in range(64)]
    plan = P.plan(spatials=rois, models=["mosaiks"], temporal=export_job.TEMPORAL, backend="local",
                  output=OutputSpec.pooled(), model_options={"num_features": 1024})
    assert plan.estimate.grids[0][0] == (41, 41)
    assert plan.estimate.work_bytes[0] < 1.1 * 41 * 41 * 1024 * 4 * 3   # one block: the patch's own rows
    assert [len(c) for c in P.batches(plan, 16, in_flight=2 * 2)] == [16] * 4
