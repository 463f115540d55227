"""rs-embed 0.3 compatibility: each public name of rs-embed 0.3.1's top level, called in 0.3's
shape, returns what 0.3 documents; the reference's (0.1) spellings keep working beside them;
an export in rs-embed's own layout loads; a 0.3-style script runs unchanged."""
from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import rs_embed_qgis.engine as rs_embed
from rs_embed_qgis.engine import (
    BBox,
    ExportConfig,
    ExportLayout,
    ExportModelRequest,
    ExportResult,
    ExportTarget,
    FetchSpec,
    InputPrepSpec,
    Model,
    ModelConfig,
    ModelError,
    ModelResult,
    OutputSpec,
    PointBuffer,
    RequestError,
    RSEmbedError,
    RsEmbedError,
    SensorSpec,
    SpecError,
    TemporalSpec,
    UserData,
    describe_model,
    export_batch,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
    get_embeddings_batch_from_data,
    inspect_model_input,
    list_models,
    list_models_for_data,
    load_export,
    reset_runtime,
)
from rs_embed_qgis.engine.call_shapes import resolve_input_prep
from rs_embed_qgis.engine.geo import roi_grid

S2 = "COPERNICUS/S2_SR_HARMONIZED"
SMALL = {"num_features": 32}
#: rs-embed 0.3.1's ``rs_embed.__all__``
RSEMBED_031_NAMES = [
    "BBox", "PointBuffer", "TemporalSpec", "SensorSpec", "FetchSpec", "OutputSpec", "InputPrepSpec",
    "ExportConfig", "ExportLayout", "ExportModelRequest", "ExportTarget", "ModelConfig", "Model", "BatchExporter",
    "get_embedding", "get_embeddings_batch", "list_models", "describe_model", "reset_runtime", "UserData",
    "get_embedding_from_data", "get_embeddings_batch_from_data", "list_models_for_data", "export_batch",
    "load_export", "ExportResult", "ModelResult", "inspect_model_input", "inspect_provider_patch",
    "inspect_gee_patch", "enable_pretty_warnings", "disable_pretty_warnings", "__version__",
]


# -- names and signatures --------------------------------------------------------------------------
def test_every_public_name_of_rsembed_031_is_here():
    missing = [n for n in RSEMBED_031_NAMES if not hasattr(rs_embed, n)]
    assert missing == []
    assert RSEmbedError is RsEmbedError and issubclass(SpecError, RSEmbedError)


@pytest.mark.parametrize("fn, params", [
    # 0.3's keyword parameters with its defaults (backend: the reference's "gee", see docs/rs-embed-compat.md)
    (get_embedding, [("spatial", inspect.Parameter.empty), ("temporal", None), ("sensor", None), ("fetch", None),
                     ("modality", None), ("output", OutputSpec.pooled()), ("backend", "gee"), ("device", "auto"),
                     ("input_prep", None)]),
    (get_embeddings_batch, [("spatials", inspect.Parameter.empty), ("temporal", None), ("sensor", None),
                            ("fetch", None), ("modality", None), ("output", OutputSpec.pooled()),
                            ("backend", "gee"), ("device", "auto"), ("input_prep", None)]),
    (get_embedding_from_data, [("modality", None), ("output", OutputSpec.pooled()), ("device", "auto"),
                               ("input_prep", None)]),
    (get_embeddings_batch_from_data, [("modality", None), ("output", OutputSpec.pooled()), ("device", "auto"),
                                      ("batch_size", None), ("input_prep", None)]),
    (inspect_model_input, [("spatial", inspect.Parameter.empty), ("temporal", None), ("sensor", None),
                           ("fetch", None), ("modality", None), ("backend", "gee"), ("value_range", None),
                           ("return_arrays", False)]),
    (export_batch, [("spatials", inspect.Parameter.empty), ("temporal", inspect.Parameter.empty),
                    ("models", inspect.Parameter.empty), ("target", None), ("config", None), ("backend", "gee"),
                    ("device", "auto"), ("output", OutputSpec.pooled()), ("sensor", None), ("fetch", None),
                    ("modality", None), ("input_prep", None)]),
    (Model.__init__, [("backend", "auto"), ("device", "auto"), ("sensor", None), ("fetch", None),
                      ("modality", None), ("output", OutputSpec.pooled()), ("input_prep", None)]),
])
def test_signatures_take_rsembed_03_keywords_with_its_defaults(fn, params):
    sig = inspect.signature(fn).parameters
    for name, default in params:
        p = sig[name]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert p.default == default, (name, p.default)
    if fn not in (export_batch,):
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values())  # **model_kwargs


# -- specs -------------------------------------------------------------------------------------
def test_specs_of_rsembed_03():
    assert dataclasses.astuple(FetchSpec()) == (None, None, None, None)
    s = InputPrepSpec()
    assert (s.mode, s.tile_size, s.tile_stride, s.max_tiles, s.max_tiles_hard, s.pad_edges, s.tile_snap_frac) == \
        ("tile", None, None, 64, 1024, True, 0.1)
    assert InputPrepSpec.resize().mode == "resize" and InputPrepSpec.auto(max_tiles=9).max_tiles == 9
    assert InputPrepSpec.tile(tile_size=224).tile_size == 224
    sensor = SensorSpec(S2, ("B4",))
    assert (sensor.modality, sensor.orbit, sensor.use_float_linear, sensor.s1_require_iw,
            sensor.s1_relax_iw_on_empty) == (None, None, True, True, True)
    s1 = SensorSpec("COPERNICUS/S1_GRD_FLOAT", ("VV", "VH"), orbit="descending").validate()
    assert s1.is_sentinel1 and SensorSpec.from_dict(s1.to_dict()) == s1
    # OutputSpec is validated when built, as in 0.3; pooled(scale_m=...) is 0.3's SpecError
    with pytest.raises(SpecError, match="'gird'"):
        OutputSpec(mode="gird")
    with pytest.raises(SpecError, match="scale_m=10"):
        OutputSpec.pooled(scale_m=10)
    with pytest.raises(SpecError, match="colour"):
        OutputSpec.grid(colour="red")
    assert OutputSpec.grid(scale_m=20).scale_m == 20  # the reference's spelling keeps its meaning


@pytest.mark.parametrize("make, bad", [
    (lambda: SensorSpec("COPERNICUS/S1_GRD", ("VV",), orbit="north").validate(), "'north'"),
    (lambda: SensorSpec(S2, ("B4",), use_float_linear="yes").validate(), "'yes'"),
    (lambda: SensorSpec(S2, ("B4",), modality="").validate(), "''"),
    (lambda: FetchSpec(scale_m=-5).validate(), "-5"),
    (lambda: FetchSpec(composite="mean").validate(), "'mean'"),
    (lambda: InputPrepSpec(mode="crop").validate(), "'crop'"),
    (lambda: InputPrepSpec.tile(tile_size=0).validate(), "0"),
])
def test_bad_03_specs_name_the_value(make, bad):
    with pytest.raises(SpecError) as e:
        make()
    assert bad in str(e.value)


def test_catalog_answers_in_03_words():
    names = list_models(include_aliases=True)
    assert "satmae++" in names and "satmae++" not in list_models()
    d = describe_model("satmae++")
    assert d["id"] == "satmaepp" and d["output"] == d["outputs"] == ["pooled", "grid"]
    assert d["type"] == "on_the_fly" and d["type"] == "on-the-fly"  # 0.3's and the reference's spelling
    assert json.loads(json.dumps(d))["type"] == "on-the-fly"
    assert d["inputs"] == {"collection": S2, "bands": ["B4", "B3", "B2"]} and d["defaults"]["scale_m"] == 10
    assert d["modalities"] == {"s2": {"collection": S2, "bands": ["B4", "B3", "B2"]}}
    assert d["model_config"]["variant"]["choices"] == ["rgb", "multispectral"]
    g = describe_model("gse")
    assert g["type"] == "precomputed" and g["modalities"] == {}


# -- get_embedding / get_embeddings_batch in 0.3's shape ---------------------------------------------
def test_fetch_changes_the_default_sensor_field_by_field(roi, summer):
    a = get_embedding("mosaiks", spatial=roi, temporal=summer, fetch=FetchSpec(scale_m=20, composite="mosaic"),
                      backend="local", **SMALL)
    b = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL,
                      sensor=SensorSpec(S2, ("B4", "B3", "B2"), scale_m=20, composite="mosaic"))
    assert a.meta["sensor"]["scale_m"] == 20 and a.meta["sensor"]["composite"] == "mosaic"
    assert a.meta["sensor"]["bands"] == ["B4", "B3", "B2"]  # the bands stay the model's
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ModelError, match="not both") as e:  # 0.3 raises ModelError; the reference SpecError
        get_embedding("mosaiks", spatial=roi, temporal=summer, sensor=SensorSpec(S2, ("B4",)),
                      fetch=FetchSpec(scale_m=20), backend="local")
    assert isinstance(e.value, SpecError) and isinstance(e.value, RequestError)


def test_modality_picks_an_input_branch_the_model_has(roi, summer):
    e = get_embedding("mosaiks", spatial=roi, temporal=summer, modality="sentinel-2", backend="local", **SMALL)
    assert e.meta["sensor"]["modality"] == "s2"
    with pytest.raises(ModelError, match=r"'s1'.*\['s2'\]"):
        get_embedding("mosaiks", spatial=roi, temporal=summer, modality="s1", backend="local")
    with pytest.raises(ModelError, match="must agree"):
        get_embedding("mosaiks", spatial=roi, temporal=summer, modality="s2", backend="local",
                      sensor=SensorSpec("COPERNICUS/S1_GRD", ("VV",), modality="s1"))


def test_modality_of_a_model_with_branches_becomes_its_option():
    """OlmoEarth declares an s2 and an s1 branch (its option ``modality``); 0.3's modality= picks one."""
    from rs_embed_qgis.engine.call_shapes import modality_options, resolve_sensor

    assert modality_options("olmoearth", "sentinel-1", None, {"variant": "nano"}) == {"variant": "nano",
                                                                                       "modality": "s1"}
    assert modality_options("mosaiks", "s2", None, None) is None  # one branch: no option to set
    s1 = resolve_sensor("olmoearth", modality="s1", fetch=FetchSpec(scale_m=20))
    assert (s1.collection, s1.bands, s1.modality, s1.scale_m) == ("COPERNICUS/S1_GRD", ("VV", "VH"), "s1", 20)
    assert describe_model("olmoearth")["modalities"]["s1"]["bands"] == ["VV", "VH"]
    assert modality_options("terrafm", "s1", None, None) == {"modality": "s1"}
    # TerraMind picks its inputs with its own option values (S2L2A, S1GRD); 0.3 calls its branch s2_l2a
    assert modality_options("terramind", "s2_l2a", None, None) is None
    assert resolve_sensor("terramind", modality="S2L2A").modality == "s2"
    assert resolve_sensor("terrafm", modality="s1").collection == "COPERNICUS/S1_GRD_FLOAT"  # linear, as it wants
    with pytest.raises(ModelError, match="different values"):
        modality_options("olmoearth", "s1", None, {"modality": "s2"})


def test_model_kwargs_backend_auto_and_empty_batches(roi, summer, monkeypatch):
    monkeypatch.setenv("RS_EMBED_DEFAULT_PROVIDER", "local")
    a = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="auto", num_features=32)
    b = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    assert a.meta["backend"] == "local" and a.meta["options"] == SMALL
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(RequestError, match="did you mean output="):  # a typo is not a model setting
        get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", ouput=OutputSpec.grid())
    with pytest.raises(RequestError, match="different values"):
        get_embedding("mosaiks", spatial=roi, backend="local", model_options=SMALL, num_features=64)
    for call in (lambda: get_embeddings_batch("mosaiks", spatials=[]),
                 lambda: get_embeddings_batch_from_data("mosaiks", []),
                 lambda: Model("mosaiks", backend="local", **SMALL).get_embeddings_batch([])):
        with pytest.raises(ModelError) as e:  # 0.3's class, and still the reference's SpecError
            call()
        assert isinstance(e.value, SpecError)


def test_input_prep_takes_03_specs(roi, summer):
    base = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    for prep in (None, "resize", InputPrepSpec.resize(), "auto", InputPrepSpec.auto()):
        e = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", input_prep=prep, **SMALL)
        assert e.meta["input_prep"] == "resize"  # None: the engine's default; auto of a pooled output: resize
        np.testing.assert_array_equal(e.data, base.data)
    with pytest.raises(SpecError, match="'crop'"):
        get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", input_prep="crop")
    with pytest.raises(SpecError, match="pad_edges"):
        get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local",
                      input_prep=InputPrepSpec.tile(pad_edges=False))


def test_input_prep_auto_and_tile_limits_at_the_models_input_size():
    torch = pytest.importorskip("torch")
    from rs_embed_qgis.engine.catalog import ENTRIES
    from rs_embed_qgis.engine.embedders.base import TokenEmbedder

    class Tiny(TokenEmbedder):  # a real TokenEmbedder: tiles of 32 px
        image_size, patch_size = 32, 8

        def __init__(self):
            super().__init__(ENTRIES["mosaiks"], device="cpu")

        def forward_tokens(self, x):
            return torch.zeros(x.shape[0], 16, 2)

    tiny = Tiny()

    def targets(*sizes):
        return lambda: [(tiny, list(sizes))]

    grid, pooled = OutputSpec.grid(), OutputSpec.pooled()
    assert resolve_input_prep("auto", output=grid, targets=targets((64, 96))) == "tile"       # 6 tiles
    assert resolve_input_prep("auto", output=grid, targets=targets((30, 30))) == "resize"     # one tile
    assert resolve_input_prep("auto", output=pooled, targets=targets((64, 96))) == "resize"
    assert resolve_input_prep(InputPrepSpec.auto(max_tiles=4), output=grid, targets=targets((64, 96))) == "resize"
    assert resolve_input_prep(InputPrepSpec.tile(tile_size=32), output=grid, targets=targets((64, 96))) == "tile"
    with pytest.raises(RequestError, match="tile_size=48"):
        resolve_input_prep(InputPrepSpec.tile(tile_size=48), output=grid, targets=targets((64, 96)))
    with pytest.raises(RequestError, match="6 tiles"):
        resolve_input_prep(InputPrepSpec.tile(max_tiles=2, max_tiles_hard=4), output=grid, targets=targets((64, 96)))
    with pytest.warns(UserWarning, match="6 tiles"):
        assert resolve_input_prep(InputPrepSpec.tile(max_tiles=4), output=grid, targets=targets((64, 96))) == "tile"


# -- Model ------------------------------------------------------------------------------------------
def test_model_is_a_configured_reusable_model(roi, summer):
    m = Model("mosaiks", backend="local", output=OutputSpec.grid(scale_m=100), num_features=32)
    ref = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", output=OutputSpec.grid(scale_m=100),
                        model_options=SMALL)
    one = m.get_embedding(roi, temporal=summer)
    np.testing.assert_array_equal(one.data, ref.data)
    np.testing.assert_array_equal(m.embed(roi, temporal=summer).data, ref.data)
    rois = [roi, PointBuffer(9.01, 47.835, 300)]
    batch = m.embed_batch(rois, temporal=summer)
    assert len(batch) == 2 and np.array_equal(batch[0].data, ref.data)
    assert m.get_embeddings_batch(rois, temporal=summer)[1].data.shape == batch[1].data.shape
    d = m.describe()
    assert d["output"] == ["pooled", "grid"] and d["options"] == SMALL and d["sensor_in_use"]["bands"] == ["B4", "B3",
                                                                                                        "B2"]
    assert Model.list_models(include_aliases=True) == list_models(include_aliases=True)
    with pytest.raises(ModelError, match="num_features"):  # bad settings fail when the model is built
        Model("mosaiks", backend="local", num_features=3)


# -- pixels the user has -------------------------------------------------------------------------------
@pytest.fixture
def sample_tif(sample_dir):
    return sample_dir / "S2_L2A_20220715_sample.tif"


def test_user_data_from_a_raster_through_the_reading_layer(sample_tif):
    d = UserData.from_raster(sample_tif, collection="s2", temporal=TemporalSpec.range("2022-07-15", "2022-07-16"))
    with rasterio.open(sample_tif) as src:
        assert d.bands == src.descriptions and d.crs == src.crs.to_string() and d.scale_m == 10
        np.testing.assert_array_equal(d.data, src.read().astype(np.float32))
    e = get_embedding_from_data("mosaiks", d, output=OutputSpec.grid(scale_m=100), **SMALL)
    with rasterio.open(sample_tif) as src:  # the reference's spelling on the same pixels
        rgb = src.read([3, 2, 1]).astype(np.float32)
        ref = get_embedding_from_data("mosaiks", rgb, bands=["B4", "B3", "B2"], crs=src.crs.to_string(),
                                      transform=tuple(src.transform)[:6], output=OutputSpec.grid(scale_m=100),
                                      model_options=SMALL)
    np.testing.assert_array_equal(e.data, ref.data)
    assert e.meta["crs"] == "EPSG:32632" and e.meta["transform"] == ref.meta["transform"]
    assert e.meta["user_input"]["channel_indices"] == [2, 1, 0] and e.meta["spatial"]["type"] == "BBox"
    assert e.meta["temporal"]["start"] == "2022-07-15"


def test_user_data_is_matched_against_the_models_sensor(sample_tif):
    with rasterio.open(sample_tif) as src:
        px = src.read().astype(np.float32)[:, :64, :64]
        names = src.descriptions
    twelve = UserData(np.stack([px[names.index(b)] for b in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A",
                                                             "B9", "B11", "B12")]), collection="s2")
    common = UserData(px[[2, 1, 0]], collection=S2, bands=("red", "green", "blue"))  # common names
    a, b = get_embeddings_batch_from_data("mosaiks", [twelve, common], batch_size=1, **SMALL)
    np.testing.assert_array_equal(a.data, b.data)  # both give the model B4, B3, B2
    assert a.meta["user_input"]["declared_bands"][0] == "B1" and a.meta["user_input"]["channel_indices"] == [3, 2, 1]
    with pytest.raises(ModelError, match=r"lacks \['B2'\]"):
        get_embedding_from_data("mosaiks", UserData(px[[2, 1]], collection="s2", bands=("B4", "B3")), **SMALL)
    with pytest.raises(ModelError, match="'s1'"):
        get_embedding_from_data("mosaiks", UserData(px[:2], collection="s1", bands=("VV", "VH")), **SMALL)
    with pytest.raises(ModelError, match="precomputed"):
        get_embedding_from_data("gse", twelve)
    with pytest.raises(SpecError, match="13 channels"):
        get_embedding_from_data("mosaiks", UserData(px, collection="s2"), **SMALL)
    with pytest.raises(SpecError, match="bands"):
        get_embedding_from_data("mosaiks", twelve, bands=["B4"], **SMALL)
    with pytest.warns(UserWarning, match="10000"):
        get_embedding_from_data("mosaiks", UserData(px[[2, 1, 0]] / 10000.0, collection="s2",
                                                    bands=("B4", "B3", "B2")), **SMALL)


def test_list_models_for_data_says_which_models_fit_and_why_not():
    rgb = UserData(np.zeros((3, 8, 8), np.float32), collection="s2", bands=("B4", "B3", "B2"))
    rows = {r["model"]: r for r in list_models_for_data(rgb)}
    assert set(rows) == set(list_models())
    assert rows["mosaiks"]["compatible"] and rows["mosaiks"]["bands_used"] == ["B4", "B3", "B2"]
    assert not rows["prithvi"]["compatible"] and "lacks" in rows["prithvi"]["reason"]
    assert not rows["gse"]["compatible"] and "precomputed" in rows["gse"]["reason"]
    with pytest.raises(SpecError, match="13 channels"):
        list_models_for_data(UserData(np.zeros((13, 4, 4)), collection="s2"))
    radar = {r["model"]: r for r in list_models_for_data(UserData(np.zeros((2, 8, 8)), collection="s1",
                                                                  bands=("VV", "VH")))}
    assert radar["olmoearth"]["compatible"] and radar["olmoearth"]["modality"] == "s1"  # its Sentinel-1 branch
    assert not radar["mosaiks"]["compatible"] and "'s1'" in radar["mosaiks"]["reason"]


def test_inspect_model_input_checks_what_the_model_would_get(roi, summer):
    rep = inspect_model_input("mosaiks", spatial=roi, temporal=summer, backend="local", fetch=FetchSpec(scale_m=20),
                              return_arrays=True, **SMALL)
    assert rep["ok"] and rep["model"] == "mosaiks" and rep["n_frames"] == 1 and rep["n_empty"] == 0
    f = rep["frames"][0]
    assert f["report"]["bands"] == ["B4", "B3", "B2"] and f["array_chw"].shape[0] == 3
    assert rep["sensor"]["scale_m"] == 20 and rep["fetch_meta"]["crs"] == "EPSG:32632"
    with pytest.raises(ModelError, match="precomputed"):
        inspect_model_input("gse", spatial=roi, temporal=TemporalSpec.year(2022), backend="local")


def test_reset_runtime_and_pretty_warnings(roi, summer):
    get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", **SMALL)
    counts = reset_runtime()
    assert counts["embedders_cleared"] >= 1 and counts["providers_cleared"] >= 1
    assert set(counts) >= {"import_errors_cleared", "runtime_caches_cleared", "embedder_module_caches_cleared"}
    before = warnings.showwarning
    rs_embed.enable_pretty_warnings()
    try:
        from rs_embed_qgis.engine.pretty_warnings import render
        from rs_embed_qgis.engine.specs import __file__ as ours

        block = render(UserWarning("tiles\nare many"), UserWarning, ours, 7)
        assert block.splitlines() == ["⚠ rs-embed-qgis · UserWarning", "│ tiles", "│ are many",
                                      "╰ rs_embed_qgis/engine/specs.py:7"]
    finally:
        rs_embed.disable_pretty_warnings()
    assert warnings.showwarning is before


# -- export in 0.3's shape -------------------------------------------------------------------------------
def _rois(n):
    return [PointBuffer(9.004 + 0.0045 * i, 47.831, 150) for i in range(n)]


def test_export_batch_with_target_config_and_model_requests(tmp_path, summer):
    cfg = ExportConfig(chunk_size=2, num_workers=2, show_progress=False)
    req = ExportModelRequest.configure("mosaiks", fetch=FetchSpec(scale_m=20), num_features=16)
    res = export_batch(spatials=_rois(3), temporal=summer, models=[req], target=ExportTarget.per_item(str(tmp_path / "d")),
                       config=cfg, backend="local")
    assert [m["point_index"] for m in res] == [0, 1, 2] and res[0]["status"] == "ok"
    assert res[0]["summary"] == {"total_models": 1, "ok_models": 1, "failed_models": 0, "partial_models": 0}
    assert res[0]["npz_path"] == str(tmp_path / "d" / "p00000.npz") and res[0]["models"][0]["sensor"]["scale_m"] == 20
    flat = export_batch(spatials=_rois(3), temporal=summer, models=["mosaiks"], out_dir=str(tmp_path / "f"),
                        backend="local", chunk_size=2, num_workers=2, show_progress=False,
                        sensor=SensorSpec(S2, ("B4", "B3", "B2"), scale_m=20), model_options={"num_features": 16})
    assert "point_index" not in flat[0]  # the flat spelling keeps its own result
    back, ref = load_export(tmp_path / "d"), load_export(tmp_path / "f")
    assert isinstance(back, ExportResult) and isinstance(back, dict)
    np.testing.assert_array_equal(back.embedding("mosaiks"), ref["embeddings"]["mosaiks"])

    comb = export_batch(spatials=_rois(3), temporal=summer, backend="local", config=cfg,
                        models=[ExportModelRequest.configure("mosaiks", num_features=16)],
                        target=ExportTarget.combined(str(tmp_path / "all")))
    assert comb["status"] == "ok" and comb["run_status"] == "complete" and comb["n_items"] == 3
    assert comb["npz_path"] == str(tmp_path / "all.npz") and comb["summary"]["ok_models"] == 1
    m = comb["models"][0]
    assert m["status"] == "ok" and m["embeddings"]["npz_key"] == "embeddings__mosaiks" and len(m["metas"]) == 3
    with np.load(tmp_path / "all.npz") as z:
        assert z[m["embeddings"]["npz_key"]].shape == (3, 16)


def test_export_batch_refuses_a_knob_given_twice(tmp_path, summer):
    base = dict(spatials=_rois(1), temporal=summer, models=["mosaiks"], backend="local")
    with pytest.raises(ModelError, match="chunk_size"):
        export_batch(target=ExportTarget.per_item(str(tmp_path)), config=ExportConfig(chunk_size=4), chunk_size=8,
                     **base)
    with pytest.raises(SpecError, match="target= or out_dir="):
        export_batch(target=ExportTarget.per_item(str(tmp_path)), out_dir=str(tmp_path), **base)
    with pytest.raises(ModelError, match="input_prep given both"):
        export_batch(target=ExportTarget.per_item(str(tmp_path)), config=ExportConfig(input_prep="tile"),
                     input_prep="resize", **base)
    with pytest.raises(RequestError, match="more than once"):
        export_batch(target=ExportTarget.per_item(str(tmp_path)), **{**base, "models": ["mosaiks", "MOSAIKS"]})
    with pytest.raises(ModelError, match="spatials"):
        export_batch(target=ExportTarget.per_item(str(tmp_path)), **{**base, "spatials": []})
    assert ExportTarget.combined("x").layout is ExportLayout.COMBINED
    assert ModelConfig("gse", "gee", model_type="precomputed").is_precomputed


def test_batch_exporter_runs_resolved_model_configs(tmp_path, summer):
    from rs_embed_qgis.engine import BatchExporter

    mc = ModelConfig("mosaiks", "local", SensorSpec(S2, ("B4", "B3", "B2"), scale_m=20), {"num_features": 16})
    ex = BatchExporter(spatials=_rois(2), temporal=summer, models=[mc], target=ExportTarget.combined(str(tmp_path / "c")),
                       output=OutputSpec.pooled(), config=ExportConfig(show_progress=False), backend="local")
    out = ex.run()
    assert out["status"] == "ok" and load_export(out["npz_path"]).embedding("mosaiks").shape == (2, 16)
    with pytest.raises(ModelError, match="fetch_fn"):
        BatchExporter(spatials=_rois(1), temporal=summer, models=[mc], target=ExportTarget.combined("x"),
                      output=OutputSpec.pooled(), config=ExportConfig(), backend="local", fetch_fn=print)


def test_load_export_is_the_old_dict_and_the_03_object(tmp_path, summer):
    export_batch(spatials=_rois(2) + [PointBuffer(12.0, 45.0, 150)], temporal=summer, models=["mosaiks"],
                 out_dir=str(tmp_path / "o"), backend="local", continue_on_error=True, show_progress=False,
                 model_options={"num_features": 16})
    r = load_export(str(tmp_path / "o"))
    assert set(r) == {"manifest", "layout", "format", "names", "items", "embeddings", "inputs"}
    assert r.layout == r["layout"] == "per_item" and r.n_items == 3 and r.manifest is r["manifest"]
    mr = r.models["mosaiks"]
    assert isinstance(mr, ModelResult) and mr.status == "partial" and r.status == "partial"
    assert r.ok_models == [] and r.failed_models == []
    assert np.isnan(mr.embeddings[2]).all() and mr.meta[0]["model"] == "mosaiks" and mr.meta[2] == {}
    assert r.embedding("mosaiks") is r["embeddings"]["mosaiks"] and r.spatials[0]["type"] == "PointBuffer"
    with pytest.raises(KeyError, match="not in this export"):
        r.embedding("prithvi")


# -- rs-embed's own export layout, written as its documentation describes ---------------------------------
def _rsembed_point(folder, name, index, arrays, models, fmt="npz"):
    """One point of an rs-embed per-item export: ``<name>.npz|.nc`` + ``<name>.json`` (``point_index``)."""
    if fmt == "npz":
        np.savez_compressed(folder / f"{name}.npz", **arrays)
    else:
        import xarray as xr

        xr.Dataset({k: xr.DataArray(v, dims=[f"{k}_{i}" for i in range(v.ndim)]) for k, v in arrays.items()}) \
            .to_netcdf(folder / f"{name}.nc")
    man = {"created_at": "2026-10-01T00:00:00Z", "point_index": index, "backend": "gee", "device": "cpu",
           "spatial": {"lon": 9.0 + index, "lat": 47.0, "buffer_m": 100.0, "crs": "EPSG:4326"},
           "temporal": {"mode": "year", "year": 2022, "start": None, "end": None},
           "output": {"mode": "pooled", "pooling": "mean", "grid_orientation": "north_up"}, "models": models}
    (folder / f"{name}.json").write_text(json.dumps(man))


@pytest.mark.parametrize("fmt", ["npz", "netcdf"])
def test_load_export_reads_rsembed_per_item_exports(tmp_path, fmt):
    pytest.importorskip("xarray")
    rng = np.random.default_rng(3)
    e0, e2, x0 = rng.normal(size=8).astype(np.float32), rng.normal(size=8).astype(np.float32), \
        rng.normal(size=(3, 4, 4)).astype(np.float32)
    ok = {"model": "remoteclip", "status": "ok", "meta": {"model": "remoteclip"},
          "embedding": {"npz_key": "embedding__remoteclip", "shape": [8], "dtype": "float32"},
          "input": {"npz_key": "input_chw__remoteclip", "shape": [3, 4, 4], "dtype": "float32"}}
    _rsembed_point(tmp_path, "p00000", 0, {"embedding__remoteclip": e0, "input_chw__remoteclip": x0}, [ok], fmt)
    _rsembed_point(tmp_path, "p00001", 1, {}, [{"model": "remoteclip", "status": "failed", "embedding": None,
                                                "meta": None, "error": "ProviderError('no image')"}], fmt)
    _rsembed_point(tmp_path, "field_c", 2, {"embedding__remoteclip": e2}, [dict(ok, input=None)], fmt)
    (tmp_path / "notes.txt").write_text("not a point")
    r = load_export(tmp_path)
    assert r.layout == "per_item" and r.n_items == 3 and r.status == "partial" and r["format"] == fmt
    assert r["names"] == ["p00000", "p00001", "field_c"] and r.spatials[2]["lon"] == 11.0
    mr = r.models["remoteclip"]
    assert mr.status == "partial" and mr.meta[1] == {} and mr.meta[0] == {"model": "remoteclip"}
    np.testing.assert_array_equal(mr.embeddings[0], e0)
    np.testing.assert_array_equal(mr.embeddings[2], e2)
    assert np.isnan(mr.embeddings[1]).all() and np.isnan(mr.inputs[2]).all()
    np.testing.assert_array_equal(r["inputs"]["remoteclip"][0], x0)


@pytest.mark.parametrize("fmt", ["npz", "netcdf"])
def test_load_export_reads_rsembed_combined_exports(tmp_path, fmt):
    pytest.importorskip("xarray")
    rng = np.random.default_rng(4)
    dense = rng.normal(size=(3, 8)).astype(np.float32)
    inputs = rng.normal(size=(3, 2, 4, 4)).astype(np.float32)
    p0, p2 = rng.normal(size=6).astype(np.float32), rng.normal(size=6).astype(np.float32)
    arrays = {"embeddings__remoteclip": dense, "inputs_bchw__remoteclip": inputs,
              "embedding__prithvi__00000": p0, "embedding__prithvi__00002": p2}
    man = {"created_at": "2026-10-01T00:00:00Z", "status": "partial", "backend": "gee", "device": "cpu",
           "n_items": 3, "temporal": None, "output": {"mode": "pooled"},
           "spatials": [{"minlon": 9, "minlat": 47, "maxlon": 9.1, "maxlat": 47.1, "crs": "EPSG:4326"}] * 3,
           "models": [
               {"model": "remoteclip", "status": "ok", "metas": [{"i": 0}, {"i": 1}, {"i": 2}],
                "embeddings": {"npz_key": "embeddings__remoteclip", "shape": [3, 8], "dtype": "float32"},
                "inputs": {"npz_key": "inputs_bchw__remoteclip", "shape": [3, 2, 4, 4], "dtype": "float32"}},
               {"model": "prithvi", "status": "partial", "metas": [{"i": 0}, None, {"i": 2}], "inputs": None,
                "embeddings": {"npz_keys": ["embedding__prithvi__00000", "embedding__prithvi__00002"],
                               "indices": [0, 2]}, "failed_indices": [1]},
               {"model": "gse", "status": "failed", "embeddings": None, "inputs": None, "metas": None,
                "error": "ModelError('no year')"}]}
    if fmt == "npz":
        np.savez_compressed(tmp_path / "run.npz", **arrays)
    else:
        import xarray as xr

        xr.Dataset({k: xr.DataArray(v, dims=[f"{k}_{i}" for i in range(v.ndim)]) for k, v in arrays.items()}) \
            .to_netcdf(tmp_path / "run.nc")
    (tmp_path / "run.json").write_text(json.dumps(man))
    for path in (tmp_path / f"run.{'npz' if fmt == 'npz' else 'nc'}", tmp_path / "run.json"):
        r = load_export(path)
        assert r.layout == "combined" and r.n_items == 3 and r.status == "partial"
        assert r.ok_models == ["remoteclip"] and r.failed_models == ["gse"]
        np.testing.assert_array_equal(r.embedding("remoteclip"), dense)
        np.testing.assert_array_equal(r.models["remoteclip"].inputs, inputs)
        pr = r.embedding("prithvi")
        np.testing.assert_array_equal(pr[0], p0)
        np.testing.assert_array_equal(pr[2], p2)
        assert np.isnan(pr[1]).all() and r.models["prithvi"].meta[1] == {}
        with pytest.raises(ValueError, match="no year"):
            r.embedding("gse")
        assert r["embeddings"]["remoteclip"] is r.models["remoteclip"].embeddings


# -- a script written for rs-embed 0.3 runs unchanged ----------------------------------------------------------
SCRIPT = '''
import numpy as np
import rs_embed_qgis.engine as rs_embed
from rs_embed_qgis.engine import (
    BBox, ExportConfig, ExportModelRequest, ExportTarget, FetchSpec, Model, OutputSpec, PointBuffer,
    TemporalSpec, UserData, describe_model, export_batch, get_embedding, get_embeddings_batch,
    list_models, list_models_for_data, load_export,
)

# What models are there, and what does one take?
print("models:", len(list_models()), "with aliases:", len(list_models(include_aliases=True)))
info = describe_model("gse")
print("gse:", info["type"], info["output"])

spatial = BBox(minlon=9.0005, minlat=47.8495, maxlon=9.006, maxlat=47.8525)
temporal = TemporalSpec.year(2022)

# One ROI, pooled and as a grid at 20 m
emb = get_embedding("gse", spatial=spatial, temporal=temporal, output=OutputSpec.pooled(), backend="auto")
grid = get_embedding("gse", spatial=spatial, temporal=temporal, output=OutputSpec.grid(),
                     fetch=FetchSpec(scale_m=20), backend="auto")
print("pooled:", emb.data.shape)
print("grid:", grid.data.shape)

# Many ROIs with one configured model
model = Model("gse")
points = [PointBuffer(lon=9.002, lat=47.851, buffer_m=100), PointBuffer(lon=9.004, lat=47.851, buffer_m=100)]
embs = model.get_embeddings_batch(points, temporal=temporal)
print("batch:", [e.data.shape for e in embs])
same = get_embeddings_batch("gse", spatials=points, temporal=temporal, backend="auto")
assert all(np.allclose(a.data, b.data) for a, b in zip(embs, same))

# Export, then load it back
out = OUT
export_batch(spatials=points, temporal=temporal, models=[ExportModelRequest.configure("gse")],
             target=ExportTarget.combined(out), config=ExportConfig(show_progress=False), backend="auto")
result = load_export(out + ".npz")
print("export:", result.layout, result.n_items, result.ok_models, result.embedding("gse").shape)
assert np.allclose(result.embedding("gse"), np.stack([e.data for e in embs]))

# Which models could embed my own 12-band Sentinel-2 pixels?
mine = UserData(data=np.zeros((12, 32, 32), dtype=np.float32), collection="s2")
print("for my data:", [r["model"] for r in list_models_for_data(mine) if r["compatible"]])
print("version:", rs_embed.__version__)
'''


def _write_gse(folder):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(64, 60, 60)).astype(np.float32)
    v /= np.linalg.norm(v, axis=0, keepdims=True)
    profile = dict(driver="GTiff", width=60, height=60, count=64, dtype="float32", crs="EPSG:32632",
                   transform=from_origin(500000, 5300000, 10, 10), nodata=0)
    with rasterio.open(folder / "GSE_20220101.tif", "w", **profile) as dst:
        dst.write(v)
        for i in range(64):
            dst.set_band_description(i + 1, f"A{i:02d}")


def test_a_03_script_runs_unchanged(tmp_path):
    """A script in the style of rs-embed's README examples, for 0.3; only the import line names
    this engine. Its data come from local files: RS_EMBED_DEFAULT_PROVIDER makes backend="auto"
    (0.3's default, named here because the reference's default stays "gee") pick them."""
    data = tmp_path / "data"
    data.mkdir()
    _write_gse(data)
    code = textwrap.dedent(SCRIPT).replace("OUT", repr(str(tmp_path / "gse_export")))
    env = {**__import__("os").environ, "RS_EMBED_DEFAULT_PROVIDER": "local", "RS_EMBED_LOCAL_DATA": str(data)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    assert out["gse"] == "precomputed ['pooled', 'grid']"
    g = roi_grid(BBox(9.0005, 47.8495, 9.006, 47.8525), 20)
    assert out["pooled"] == "(64,)" and out["grid"] == str((64, g.height, g.width))
    assert out["batch"] == "[(64,), (64,)]"
    assert out["export"] == "combined 2 ['gse'] (2, 64)"
    assert "mosaiks" in out["for my data"] and "prithvi" in out["for my data"] and "gse" not in out["for my data"]
