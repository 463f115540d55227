"""The opt-in fast path (``model_options["precision"]``): what runs, what meta says, and how
close it stays to fp32 on the bundled sample (same checkpoint, same patches)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _vit_ckpt import SMALL, write_official

from rs_embed_qgis.engine import precision
from rs_embed_qgis.engine.api import clear_caches, get_embedder, get_embeddings_batch
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CENTRE = (9.0200, 47.8398)  # the bundled sample
ROIS = [PointBuffer(CENTRE[0] + dx, CENTRE[1] + dy, 400) for dx, dy in ((0, 0), (0.006, 0.004))]
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope="module")
def satmae_ckpt(tmp_path_factory):
    return write_official("satmae", tmp_path_factory.mktemp("ckpt") / "satmae", None, seed=3)[0]


def _embed(ckpt, prec: str, output: OutputSpec):
    opts = {"weights": str(ckpt), "download": False, "arch": SMALL["satmae"], "precision": prec}
    return get_embeddings_batch("satmae", spatials=ROIS, temporal=SUMMER, output=output, backend="local",
                                device="cpu", model_options=opts)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("prec", ["bf16", "int8"])
def test_fast_path_stays_close_to_fp32_and_says_what_ran(satmae_ckpt, prec):
    exact = _embed(satmae_ckpt, "fp32", OutputSpec.pooled())
    fast = _embed(satmae_ckpt, prec, OutputSpec.pooled())
    for e, f in zip(exact, fast, strict=True):
        assert _cos(e.array.astype(np.float64), f.array.astype(np.float64)) > 0.999
        assert not np.array_equal(e.array, f.array)        # it did run another arithmetic
        assert e.meta["precision"] == {"asked": "fp32", "used": "fp32", "how": precision.HOW["fp32"],
                                       "exact": True}
        assert f.meta["precision"]["used"] == prec and f.meta["precision"]["exact"] is False
        assert f.meta["options"]["precision"] == prec
    g_exact = _embed(satmae_ckpt, "fp32", OutputSpec.grid())[0].array
    g_fast = _embed(satmae_ckpt, prec, OutputSpec.grid())[0].array
    assert g_fast.dtype == np.float32 and g_fast.shape == g_exact.shape
    cells = _cos(g_exact.reshape(g_exact.shape[0], -1).T.astype(np.float64),
                 g_fast.reshape(g_fast.shape[0], -1).T.astype(np.float64))
    assert cells.min() > 0.999


def test_what_each_precision_does_to_the_network(satmae_ckpt):
    opts = {"weights": str(satmae_ckpt), "download": False, "arch": SMALL["satmae"]}
    int8 = get_embedder("satmae", device="cpu", model_options={**opts, "precision": "int8"}).model
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    assert not [m for m in int8.modules() if type(m) is torch.nn.Linear]          # every Linear is int8
    assert [m for m in int8.modules() if isinstance(m, DynamicInt8Linear)]
    bf16 = get_embedder("satmae", device="cpu", model_options={**opts, "precision": "bf16"}).model
    norms = [m for m in bf16.modules() if isinstance(m, torch.nn.LayerNorm)]
    linears = [m for m in bf16.modules() if isinstance(m, torch.nn.Linear)]
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)       # statistics in fp32
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)


def test_fast_resolves_to_what_this_cpu_does_best():
    expect = "bf16" if precision.cpu_has_native_bf16() else "int8"
    assert precision.resolve_precision("fast", "cpu") == expect
    assert precision.resolve_precision(None, "cpu") == "fp32"


def test_impossible_or_unknown_precisions_are_named():
    with pytest.raises(ModelError, match="'float8'"):
        precision.check_precision("float8")
    with pytest.raises(ModelError, match="CPU only"):
        precision.resolve_precision("int8", "cuda:0")
    with pytest.raises(ModelError, match="'fp16' is for GPUs"):
        precision.resolve_precision("fp16", "cpu")
    with pytest.raises(ModelError, match="precision must be one of"):
        get_embedder("satmae", device="cpu", model_options={"allow_random_weights": True, "download": False,
                                                            "arch": SMALL["satmae"], "precision": "half"})


def test_a_model_without_a_network_says_it_stayed_fp32():
    e = get_embeddings_batch("mosaiks", spatials=ROIS[:1], temporal=SUMMER, output=OutputSpec.pooled(),
                             backend="local", device="cpu", model_options={"num_features": 8, "precision": "fast"})[0]
    assert e.meta["precision"]["asked"] == "fast" and e.meta["precision"]["used"] == "fp32"
    assert "no neural network" in e.meta["precision"]["note"]


def test_int8_linear_takes_a_single_vector_like_nn_linear():
    """Hypernetworks (DOFA's and Clay's wavelength encoders) call a Linear on one vector."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
    v = torch.randn(16)
    with torch.no_grad():
        exact = net(v)
        fast = precision.prepare(net, "int8")(v)
    assert fast.shape == exact.shape == (8,)
    assert torch.nn.functional.cosine_similarity(fast, exact, dim=0) > 0.999
