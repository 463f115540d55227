"""The model catalog: every entry complete and consistent, one lookup for every kind of model."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rs_embed_qgis.engine import catalog
from rs_embed_qgis.engine.catalog import KINDS, ModelEntry, Variant, describe_model, get_entry, list_models
from rs_embed_qgis.engine.errors import ModelError

ALL = catalog.entries()
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.mark.parametrize("entry", ALL, ids=[e.id for e in ALL])
def test_every_entry_is_complete(entry: ModelEntry):
    assert entry.kind in KINDS and entry.id == entry.id.lower()
    assert entry.family and len(entry.description) > 40 and entry.temporal_mode and entry.outputs
    assert entry.module and entry.cls and entry.requires
    assert entry.default_sensor is not None and entry.default_sensor.validate()
    assert entry.variants and entry.default_variant is entry.variants[0]
    names = [n for v in entry.variants for n in v.names()]
    assert len(names) == len(set(names)), f"{entry.id}: a variant name or alias repeats: {names}"
    for v in entry.variants:
        w = v.weights
        if entry.kind == "embedder":
            assert v.embedding_dim and v.embedding_dim > 0
        if w.needs_weights:
            assert w.note, f"{entry.id}/{v.name}: say what the weights file is"
        if w.hf_repo:
            assert w.hf_filename and (w.revision is None or HEX40.match(w.revision)), (entry.id, v.name)
        if w.url:
            assert w.url.startswith("https://"), w.url
        assert w.sha256 is None or HEX64.match(w.sha256), (entry.id, v.name)


def test_ids_and_aliases_name_one_model_each():
    seen: dict[str, str] = {}
    for e in ALL:
        for name in (e.id, *e.aliases):
            assert name.lower() not in seen, f"{name!r} names {seen.get(name.lower())!r} and {e.id!r}"
            seen[name.lower()] = e.id
    for name, model_id in seen.items():
        assert get_entry(name).id == model_id and get_entry(name.upper()).id == model_id


@pytest.mark.parametrize("entry", ALL, ids=[e.id for e in ALL])
def test_every_variant_resolves_to_code_that_knows_it(entry: ModelEntry):
    """The module the entry names defines the object, and knows each variant's architecture."""
    obj = catalog.import_model(entry.id)
    assert callable(obj)
    configs = getattr(obj, "CONFIGS", None)
    for v in entry.variants:
        assert entry.variant(v.name) is v
        for alias in v.aliases:
            assert entry.variant(alias) is v
        if configs is not None:
            assert v.config in configs, f"{entry.id}/{v.name}: {v.config!r} not in {sorted(configs)}"
        if entry.id == "anysat":
            from rs_embed_qgis.engine.nn.anysat import SIZES

            assert SIZES[v.config][0] == v.embedding_dim
    with pytest.raises(ModelError, match="unknown variant 'nope'"):
        entry.variant("nope")


def test_list_models_offers_embedding_models_by_default_and_filters_by_kind():
    default = list_models()
    assert default == sorted(e.id for e in ALL if e.kind in ("embedder", "precomputed"))
    assert {"mosaiks", "remoteclip", "anysat", "gse"} <= set(default)
    assert "s2x10" not in default and "forecaster" not in default
    assert list_models(kind="superres") == ["s2x10"]
    assert list_models(kind="forecast") == ["forecaster"]
    assert list_models(kind="precomputed") == ["copernicus", "gse", "tessera"]
    assert list_models(kind=["superres", "forecast"]) == ["forecaster", "s2x10"]
    assert list_models(kind="all") == sorted(e.id for e in ALL)
    assert "remoteclip_s2rgb" in list_models(include_aliases=True)
    with pytest.raises(ModelError, match="'video'"):
        list_models(kind="video")


def test_superres_and_forecast_models_are_described_like_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path))
    monkeypatch.delenv("RS_EMBED_S2X10_WEIGHTS", raising=False)
    sr = describe_model("s2x10nets")
    assert sr["id"] == "s2x10" and sr["kind"] == "superres" and sr["type"] == "superres"
    assert sr["bands"] == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    assert sr["weights"]["env_var"] == "RS_EMBED_S2X10_WEIGHTS" and sr["weights"]["status"] == "missing"
    assert sr["details"]["scale"] == 10 and sr["details"]["baselines"] == ["bicubic", "lanczos"]
    assert sr["module"].endswith("superres.models") and sr["import_error"] is None
    fc = describe_model("forecast")
    assert fc["id"] == "forecaster" and fc["kind"] == "forecast" and fc["bands"] == ["B2", "B3", "B4", "B8A"]
    assert fc["default_variant"] == "reference" and "random weights" in fc["weights"]["note"]
    assert fc["embedding_dim"] is None and len(fc["outputs"]) == 2


def test_describe_shows_variants_with_their_weights_and_normalisation():
    d = describe_model("satmae")
    assert [v["name"] for v in d["variants"]] == ["rgb", "multispectral"]
    ms = d["variants"][1]
    assert ms["bands"] == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    assert ms["normalisation"]["method"].startswith("SentinelNormalize") and len(ms["normalisation"]["mean"]) == 10
    assert ms["weights"]["url"].startswith("https://zenodo.org/")
    rc = describe_model("remoteclip")
    assert rc["weights"]["revision"] == "bf1d8a3ccf2ddbf7c875705e46373bfe542bce38"
    assert rc["normalisation"]["mean"] == [0.48145466, 0.4578275, 0.40821073]


def test_superres_and_forecast_entries_are_not_embedders():
    from rs_embed_qgis.engine.api import get_embedder

    with pytest.raises(ModelError, match="not an embedding model"):
        get_embedder("s2x10", device="cpu")


def test_register_refuses_a_name_of_another_model():
    base = get_entry("mosaiks")
    with pytest.raises(ModelError, match="already name model 'remoteclip'"):
        catalog.register(ModelEntry(**{**base.__dict__, "id": "mosaiks_copy", "aliases": ("remoteclip_s2rgb",)}))
    with pytest.raises(ModelError, match="kind must be one of"):
        ModelEntry(**{**base.__dict__, "kind": "video"})
    with pytest.raises(ModelError, match="no variant"):
        ModelEntry(**{**base.__dict__, "variants": ()})
    assert isinstance(base.default_variant, Variant)


def test_listing_and_describing_everything_imports_no_torch_and_no_model_code():
    code = ("import sys\n"
            "from rs_embed_qgis.engine import catalog\n"
            "[catalog.describe_model(m) for m in catalog.list_models(kind='all')]\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('rs_embed_qgis.engine.nn',"
            " 'rs_embed_qgis.engine.superres', 'rs_embed_qgis.engine.forecast'))"
            " or m.startswith('rs_embed_qgis.engine.embedders.') and not m.endswith('.base')]\n"
            "print(bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.fixture
def broken_model(tmp_path, monkeypatch):
    """A test-only entry whose module imports a helper of our package, then fails halfway."""
    import importlib

    from rs_embed_qgis import engine
    from rs_embed_qgis.engine import embedders

    pkg = tmp_path / "extra_embedders"
    pkg.mkdir()
    (pkg / "_broken_helper.py").write_text("VALUE = 1\n")
    (pkg / "_broken_model.py").write_text(
        "from . import _broken_helper\n"
        "from ..nn import vit  # a real module of ours, imported for the first time here\n"
        "import fancy_dependency_not_installed\n"
        "class BrokenEmbedder:\n    pass\n")
    monkeypatch.setattr(embedders, "__path__", [*embedders.__path__, str(pkg)])
    # the real nn.vit must be imported by the broken module itself, as a first import
    for name in [m for m in sys.modules if m.startswith("rs_embed_qgis.engine.nn")]:
        monkeypatch.delitem(sys.modules, name)
    if hasattr(engine, "nn"):   # the cleanup detaches the re-imported package; put the original back after
        monkeypatch.setattr(engine, "nn", engine.nn)
    base = get_entry("mosaiks")
    entry = catalog.register(ModelEntry(**{**base.__dict__, "id": "broken_test", "aliases": (),
                                           "module": "embedders._broken_model", "cls": "BrokenEmbedder",
                                           "requires": ("numpy",)}))
    importlib.invalidate_caches()
    yield entry, pkg
    catalog.ENTRIES.pop("broken_test", None)
    catalog._IMPORT_ERRORS.pop("broken_test", None)
    for name in [m for m in sys.modules if m.startswith("rs_embed_qgis.engine.embedders._broken_")]:
        del sys.modules[name]


def test_a_failed_import_removes_every_module_it_created_and_is_recorded(broken_model):
    import importlib

    from rs_embed_qgis.engine import embedders
    from rs_embed_qgis.engine.api import get_embedder

    entry, pkg = broken_model
    assert describe_model("broken_test")["import_error"] is None
    for attempt in range(2):   # the next use re-raises, naming the error again
        with pytest.raises(ModelError, match="could not be imported.*fancy_dependency_not_installed"):
            get_embedder("broken_test", device="cpu")
        left = [m for m in sys.modules if m.startswith(("rs_embed_qgis.engine.embedders._broken_",
                                                         "rs_embed_qgis.engine.nn"))]
        assert left == [], f"attempt {attempt}: modules left behind: {left}"
        assert not hasattr(embedders, "_broken_helper") and not hasattr(embedders, "_broken_model")
        assert "fancy_dependency_not_installed" in describe_model("broken_test")["import_error"]
        assert "fancy_dependency_not_installed" in catalog.import_error("broken_test")
    # once what was missing is there, the same entry imports cleanly and the record is cleared
    (pkg / "_broken_model.py").write_text("from . import _broken_helper\n\n\nclass BrokenEmbedder:\n"
                                          "    VALUE = _broken_helper.VALUE\n")
    importlib.invalidate_caches()
    assert catalog.import_model("broken_test").VALUE == 1
    assert describe_model("broken_test")["import_error"] is None
    assert list_models().count("broken_test") == 1
