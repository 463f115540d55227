"""The embedding pipeline: plan -> fetch -> check -> embed -> finish, its one error policy
(fail fast, or continue and record per item with the stage), and its one "which item of
the failed batch was it?" mechanism; on the bundled sample."""
import dataclasses
import traceback

import numpy as np
import pytest

from rs_embed_qgis.engine import (
    ModelError,
    OutputSpec,
    PointBuffer,
    ProviderError,
    SensorSpec,
    get_embedding,
    get_provider,
)
from rs_embed_qgis.engine import pipeline as P
from rs_embed_qgis.engine.errors import Cancelled
from rs_embed_qgis.engine.progress import Feedback, cancel_scope

SMALL = {"num_features": 16}
GOOD_A, GOOD_B = PointBuffer(9.02, 47.84, 200), PointBuffer(9.01, 47.835, 200)
OUTSIDE = PointBuffer(10.5, 48.0, 200)  # not on the sample: its fetch fails


def _plan(spatials, summer, **kw):
    kw.setdefault("model_options", SMALL)
    return P.plan(spatials=spatials, models=["mosaiks"], temporal=summer, backend="local", **kw)


def test_fail_fast_raises_the_first_error_as_it_is(summer):
    plan = _plan([GOOD_A, OUTSIDE, GOOD_B], summer)
    with pytest.raises(ProviderError, match="outside the local data"):
        P.run(plan)


def test_continue_records_the_bad_roi_at_its_stage_and_embeds_the_others(summer):
    plan = _plan([GOOD_A, OUTSIDE, GOOD_B], summer, policy=P.ErrorPolicy(continue_on_error=True))
    res = P.run(plan)
    a, bad, b = res.outcomes["mosaiks"]
    assert [o.status for o in (a, bad, b)] == ["ok", "failed", "ok"]
    assert (bad.stage, bad.error_type) == ("fetch", "ProviderError")
    assert bad.message.startswith("ProviderError: ") and "outside the local data" in bad.message
    assert bad.embedding is None and bad.patch is None
    for o, roi in ((a, GOOD_A), (b, GOOD_B)):  # the same as each ROI alone
        alone = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
        np.testing.assert_allclose(o.embedding.array, alone.array, rtol=1e-6)
        assert o.stage is None and set(o.timings) == {"fetch_s", "embed_s"}
    assert res.fetch_s > 0 and res.embed_s["mosaiks"] > 0


def test_a_forward_that_fails_on_one_patch_is_found_item_by_item(summer, monkeypatch):
    plan = _plan([GOOD_A, GOOD_B, PointBuffer(9.015, 47.845, 200)], summer,
                 policy=P.ErrorPolicy(continue_on_error=True))
    embedder = plan.embedder("mosaiks")
    bad_grid, batches = plan.grid(1), []
    real = embedder.embed_patches

    def fussy(patches, output, *, input_prep="resize"):
        batches.append(len(patches))
        if any(p.grid == bad_grid for p in patches):
            raise ModelError("this model cannot embed ROI 1")
        return real(patches, output, input_prep=input_prep)

    monkeypatch.setattr(embedder, "embed_patches", fussy)
    outs = P.run(plan).outcomes["mosaiks"]
    assert [o.status for o in outs] == ["ok", "failed", "ok"]
    assert (outs[1].stage, outs[1].error_type) == ("embed", "ModelError")
    assert outs[1].patch is not None  # fetched and checked: only the forward failed
    assert batches == [3, 1, 1, 1]    # the batch, then each item alone
    with pytest.raises(ModelError, match="ROI 1"):  # fail fast: the same error, raised
        P.run(dataclasses.replace(plan, policy=P.ErrorPolicy()))


def test_a_bad_input_fails_at_the_input_stage(summer):
    s = SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B4", "B3", "B2"), check_input=True)
    plan = _plan([GOOD_A, GOOD_B], summer, sensor=s, policy=P.ErrorPolicy(continue_on_error=True))
    real = get_provider("local").fetch(GOOD_A, summer, s).chw
    constant = np.full_like(real, 500.0)  # a blank input: the check flags near-constant bands
    outs = P.embed(plan, [0, 1], P.given_patches(plan, [real, constant])).outcomes["mosaiks"]
    assert outs[0].ok and outs[0].embedding.meta["input_check"]["ok"] is True
    assert (outs[1].status, outs[1].stage) == ("failed", "input") and "near-constant" in outs[1].message


def test_retries_recover_a_transient_failure_before_it_counts(summer, monkeypatch):
    prov = get_provider("local")
    orig, calls = type(prov).fetch, {"n": 0}

    def flaky(self, spatial, temporal, sensor, *, frames=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ProviderError("HTTP 503 (transient)")
        return orig(self, spatial, temporal, sensor, frames=frames)

    monkeypatch.setattr(type(prov), "fetch", flaky)
    plan = _plan([GOOD_A, GOOD_B], summer, policy=P.ErrorPolicy(max_retries=1), num_workers=1)
    assert all(o.ok for o in P.run(plan).outcomes["mosaiks"]) and calls["n"] == 3


def test_isolate_keeps_order_and_never_records_a_cancel():
    policy = P.ErrorPolicy(continue_on_error=True)

    def batch(items):
        if 2 in items:
            raise ValueError("a 2 in the batch")
        return [10 * i for i in items]

    def one(i):
        if i == 2:
            raise ValueError("2 is bad")
        return 10 * i

    got = P.isolate([1, 2, 3], batch, one, policy, "embed", workers=2)
    assert got[0] == 10 and got[2] == 30
    assert isinstance(got[1], P.Failed) and got[1].stage == "embed" and "2 is bad" in str(got[1].error)

    def cancelled(_):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        P.isolate([1, 2], cancelled, cancelled, policy, "fetch")


def test_the_plan_knows_each_input_shape_before_any_fetch(summer):
    nir = SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B8", "B4"))
    plan = P.plan(spatials=[GOOD_A, PointBuffer(9.01, 47.835, 350)], models=["mosaiks"], temporal=summer,
                  sensor=nir, backend="local", model_options=SMALL)
    assert [g.members for g in plan.groups] == [["mosaiks"]] and plan.groups[0].sensor.bands == ("B8", "B4")
    for i in range(2):
        patch = get_provider("local").fetch(plan.spatials[i], summer, nir)
        assert plan.input_shape(i) == patch.data.shape


def test_bands_of_one_fetch_group_feed_each_model_in_its_order(summer, monkeypatch):
    from rs_embed_qgis.engine import catalog

    base = catalog.get_entry("mosaiks")  # a second MOSAIKS on B8 B11 B4, for this test only
    nir = dataclasses.replace(base, id="mosaiks_nir_pipeline", aliases=(),
                              default_sensor=dataclasses.replace(base.default_sensor, bands=("B8", "B11", "B4")))
    monkeypatch.setitem(catalog.ENTRIES, nir.id, nir)
    plan = P.plan(spatials=[GOOD_A], models=["mosaiks", nir.id], temporal=summer, backend="local",
                  model_options={"mosaiks": SMALL, nir.id: {"num_features": 8}})
    assert len(plan.groups) == 1 and plan.groups[0].sensor.bands == ("B4", "B3", "B2", "B8", "B11")
    res = P.run(plan)
    assert [res.outcomes[m][0].patch.bands for m in plan.models] == [("B4", "B3", "B2"), ("B8", "B11", "B4")]


# -- cancel inside long calls -------------------------------------------------------------------------
def _raised_in(exc: BaseException, function: str) -> bool:
    return any(f.name == function for f in traceback.extract_tb(exc.__traceback__))


def test_cancel_stops_a_fetch_between_scenes(summer, monkeypatch):
    from rs_embed_qgis.engine.providers.local import LocalProvider

    read, stop = [], {"now": False}
    real = LocalProvider._read_scene

    def counting(self, scene, grid, sensor):
        read.append(scene.id)
        stop["now"] = True  # the user presses cancel while the first scene is read
        return real(self, scene, grid, sensor)

    monkeypatch.setattr(LocalProvider, "_read_scene", counting)
    req = P.EmbedRequest("mosaiks", [GOOD_A], summer, OutputSpec.pooled(), model_options=SMALL)
    with pytest.raises(Cancelled) as e:
        P.run_embed(req, is_cancelled=lambda: stop["now"])
    assert len(read) == 1 and _raised_in(e.value, "fetch")  # 1 of the 3 summer scenes was read


def test_cancel_stops_a_forward_between_blocks(summer):
    checks = {"n": 0}

    def is_cancelled():  # the model's first block runs, then the user cancels
        checks["n"] += 1
        return checks["n"] > 2

    plan = _plan([GOOD_A], summer, output=OutputSpec.grid(scale_m=20))
    fetched = P.fetch(plan, [0])
    with cancel_scope(Feedback(is_cancelled=is_cancelled)), pytest.raises(Cancelled) as e:
        P.embed(plan, [0], fetched)  # checks: before the model, before block 1, before block 2
    assert _raised_in(e.value, "_blocks") and checks["n"] == 3


def test_prompt_cancel_runs_one_item_per_forward(summer):
    """A cancel waits for the forward it arrives in: the dock asks for prompt cancel, and a ViT
    then runs its tiles one per forward (same embedding), so a click stops it within one tile."""
    from _vit_ckpt import SMALL as VIT

    from rs_embed_qgis.engine.progress import forward_batch

    assert forward_batch(8) == 8
    with cancel_scope(Feedback(prompt=True)):
        assert forward_batch(8) == 1
    opts = {"allow_random_weights": True, "arch": VIT["remoteclip"]}
    sensor = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=10)
    req = P.EmbedRequest("remoteclip", [PointBuffer(9.02, 47.84, 1200)], summer, OutputSpec.grid(),
                         sensor=sensor, input_prep="tile", model_options=opts)
    batched, = P.run_embed(req)
    prompt, = P.run_embed(req, prompt_cancel=True)
    assert batched.meta["tiles"] == prompt.meta["tiles"] == 4  # 240 x 240 px in 224 px tiles
    assert batched.meta["forwards_in_call"] == 1 and prompt.meta["forwards_in_call"] == 4
    np.testing.assert_allclose(prompt.array, batched.array, rtol=1e-4, atol=1e-5)


def test_progress_is_one_contract_and_monotonic(summer):
    seen = []
    req = P.EmbedRequest("mosaiks", [GOOD_A, GOOD_B, OUTSIDE], summer, OutputSpec.pooled(), model_options=SMALL)
    out = P.run_embed(req, progress=lambda f, m: seen.append((f, m)), chunk=1, on_error=lambda i, e: None)
    assert [o is None for o in out] == [False, False, True]
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[0] == 0 and fr[-1] == 1.0 and all(isinstance(m, str) for _, m in seen)
    assert Feedback(lambda f, m: seen.append((f, m))).part(0.5, 1.0).part(0.5, 1.0).lo == 0.75
