"""Size estimates before any fetch, a documented limit, runs that stream (issue 17)."""
from __future__ import annotations

import numpy as np
import pytest

from rs_embed_qgis.engine import BBox, OutputSpec, PointBuffer, SpecError, TemporalSpec, budget
from rs_embed_qgis.engine import pipeline as P
from rs_embed_qgis.engine.api import get_embedding, get_embeddings_batch
from rs_embed_qgis.engine.providers.local import LocalProvider

SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
SMALL = {"num_features": 16}


@pytest.fixture
def no_fetch(monkeypatch):
    """Any fetch fails the test: the size is known before."""
    monkeypatch.setattr(LocalProvider, "fetch", lambda *a, **k: pytest.fail("fetched before refusing"))


def test_a_whole_world_extent_is_refused_before_any_fetch(no_fetch):
    with pytest.raises(SpecError) as e:  # numpy's "Unable to allocate 4.76 TiB" before
        get_embedding("mosaiks", spatial=BBox(-180, -85, 180, 85), temporal=SUMMER, backend="local",
                      model_options=SMALL)
    msg = str(e.value)
    assert "too large to embed at once" in msg and "at 10 m" in msg
    assert "over the limit of 4.00 GB" in msg  # the documented default
    assert "sensor scale_m=" in msg and "export_batch" in msg and "tiles of at most" in msg


def test_the_limit_is_configurable(monkeypatch, no_fetch):
    one_km = PointBuffer(9.02, 47.84, 500)
    monkeypatch.setenv("RS_EMBED_MAX_MEMORY_GB", "0.05")
    with pytest.raises(SpecError, match=r"over the limit of 0\.05 GB"):
        P.plan(spatials=[one_km], models=["mosaiks"], temporal=SUMMER, backend="local", model_options=SMALL)
    monkeypatch.setenv("RS_EMBED_MAX_MEMORY_GB", "off")
    P.plan(spatials=[BBox(-180, -85, 180, 85)], models=["mosaiks"], temporal=SUMMER, backend="local",
           model_options=SMALL)  # no limit: planned (and would fail later, for want of memory)
    monkeypatch.setenv("RS_EMBED_MAX_MEMORY_GB", "lots")
    with pytest.raises(SpecError, match="RS_EMBED_MAX_MEMORY_GB must be a number of GB.*'lots'"):
        budget.Limits.from_env()


def test_the_estimate_is_exact_for_the_input_and_the_embedding():
    """Input bytes (T x C x H x W float32) and output bytes are what the run then holds."""
    roi = BBox(9.005, 47.83, 9.03, 47.848)
    for output in (OutputSpec.grid(scale_m=40), OutputSpec.pooled()):
        plan = P.plan(spatials=[roi], models=["mosaiks"], temporal=SUMMER, backend="local", output=output,
                      model_options=SMALL)
        est = plan.estimate
        fetched = P.fetch(plan, [0])
        patch = fetched.patches[(0, 0)]
        assert est.input_bytes[0] == patch.data.nbytes and est.pixels[0] == patch.data.shape[-2] * patch.data.shape[-1]
        emb = P.embed(plan, [0], fetched).outcomes["mosaiks"][0].embedding
        assert est.output_bytes[0] == emb.array.astype(np.float32).nbytes
        assert est.peak_bytes[0] > est.input_bytes[0] + est.output_bytes[0]
        assert "Mpx" in est.describe() and est.to_dict()["rois"] == 1


def test_many_rois_stream_in_batches_that_fit(monkeypatch):
    """Under a limit that holds two ROIs' work, twelve ROIs go through two at a time, with
    the same embeddings as one big batch."""
    rois = [PointBuffer(9.006 + 0.0025 * i, 47.835 + 0.001 * (i % 3), 150) for i in range(12)]
    ref = get_embeddings_batch("mosaiks", spatials=rois, temporal=SUMMER, backend="local", model_options=SMALL)
    plan = P.plan(spatials=rois, models=["mosaiks"], temporal=SUMMER, backend="local", model_options=SMALL)
    est = plan.estimate
    limit = (est.batch_peak([0, 1]) + est.batch_peak([0, 1, 2])) / 2 / budget.GiB  # two fit, three do not
    monkeypatch.setenv("RS_EMBED_MAX_MEMORY_GB", str(limit))
    assert [len(b) for b in P.batches(plan, 8)] == [2] * 6
    seen = []
    real = P.fetch
    monkeypatch.setattr(P, "fetch", lambda plan, idx: seen.append(list(idx)) or real(plan, idx))
    got = get_embeddings_batch("mosaiks", spatials=rois, temporal=SUMMER, backend="local", model_options=SMALL)
    assert seen == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-6)


def test_embeddings_kept_in_memory_must_fit_and_export_batch_streams_them(monkeypatch, tmp_path):
    from rs_embed_qgis.engine.export import export_batch

    rois = [PointBuffer(9.006 + 0.0025 * i, 47.835, 200) for i in range(6)]
    opts = {"num_features": 2048}
    plan = P.plan(spatials=rois, models=["mosaiks"], temporal=SUMMER, backend="local", model_options=opts,
                  output=OutputSpec.grid(scale_m=10))
    est = plan.estimate
    limit = (max(est.peak_bytes) + est.total("output_bytes") / 2) / budget.GiB  # one ROI fits, all outputs do not
    monkeypatch.setenv("RS_EMBED_MAX_MEMORY_GB", str(limit))
    with pytest.raises(SpecError, match="all kept in memory by this call.*use export_batch"):
        get_embeddings_batch("mosaiks", spatials=rois, temporal=SUMMER, backend="local", model_options=opts,
                             output=OutputSpec.grid(scale_m=10))
    res = export_batch(spatials=rois, temporal=SUMMER, models=["mosaiks"], out_dir=str(tmp_path / "e"),
                       backend="local", output=OutputSpec.grid(scale_m=10), model_options={"mosaiks": opts},
                       save_inputs=False, show_progress=False)
    assert [m["status"] for m in res] == ["ok"] * 6


def test_an_export_that_does_not_fit_on_the_disk_fails_before_any_work(monkeypatch, tmp_path, no_fetch):
    import collections
    import shutil

    from rs_embed_qgis.engine.export import export_batch

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(SpecError, match=r"needs about .* on disk .* has 0\.00 GB free"):
        export_batch(spatials=[PointBuffer(9.02, 47.84, 300)], temporal=SUMMER, models=["mosaiks"],
                     out_dir=str(tmp_path / "e"), backend="local", model_options={"mosaiks": SMALL},
                     show_progress=False)


@pytest.mark.parametrize("composite", ["median", "mosaic"])
def test_a_large_roi_is_read_in_blocks_of_rows_with_the_same_patch(composite):
    """The provider reads and composites a large ROI block by block (its scenes never pile up
    whole): the patch, its valid fractions and its radiometry records are the same."""
    import dataclasses

    from rs_embed_qgis.engine import SensorSpec
    from rs_embed_qgis.engine.providers import get_provider

    roi = BBox(9.003, 47.829, 9.037, 47.85)
    sensor = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B2", "B4", "B8", "B11"), scale_m=10,
                        composite=composite)
    whole = LocalProvider().fetch(roi, SUMMER, sensor)
    blocked_provider = LocalProvider()
    blocked_provider.read_buffer_bytes = 3 * len(sensor.bands) * whole.data.shape[-1] * 4 * 9 * 7  # 7 rows a block
    assert blocked_provider.block_rows(3, sensor, whole.grid) == 7 < whole.data.shape[-2]
    blocked = blocked_provider.fetch(roi, SUMMER, sensor)
    np.testing.assert_array_equal(blocked.data, whole.data)
    assert blocked.frames[0]["valid_fraction"] == pytest.approx(whole.frames[0]["valid_fraction"], abs=1e-12)
    assert blocked.meta["radiometry"] == whole.meta["radiometry"]
    assert dataclasses.asdict(blocked.grid) == dataclasses.asdict(whole.grid)
    assert get_provider("local") is not None
