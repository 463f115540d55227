"""The opt-in fast path (``model_options["precision"]``): what runs, what meta says, and how
close it stays to fp32 on the bundled sample (same checkpoint, same patches)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

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


# -- int8 accuracy: 8-bit activations where the kernel is exact, layers a catalog entry keeps fp32 --
def _saturating_linear() -> tuple[torch.nn.Linear, torch.Tensor]:
    """A Linear whose int8 products saturate a pre-VNNI x86 kernel at 8-bit activations: large
    same-sign weights times large positive inputs."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 64).eval()
    with torch.no_grad():
        lin.weight.copy_(torch.rand(64, 256) * 0.5 + 0.5)
    return lin, torch.rand(32, 256) + 2.0


def test_int8_layers_use_8_bit_activations_only_where_the_kernel_computes_them_exactly():
    assert precision.int8_activation_bits() in (7, 8)
    lin, x = _saturating_linear()
    with torch.no_grad():
        exact = lin(x)
        fast = precision.prepare(torch.nn.Sequential(lin), "int8")(x)
    assert float((fast - exact).norm() / exact.norm()) < 2e-3  # a saturated sum is off by percents


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="FBGEMM's x86 kernels")
def test_a_kernel_whose_int16_pair_sums_saturate_gets_7_bit_activations():
    """FBGEMM_ENABLE_INSTRUCTIONS=AVX2 makes FBGEMM run its pre-VNNI kernels on any x86 CPU."""
    code = textwrap.dedent("""
        import torch
        from rs_embed_qgis.engine import precision
        from test_precision import _saturating_linear
        lin, x = _saturating_linear()
        with torch.no_grad():
            exact = lin(x)
            fast = precision.prepare(torch.nn.Sequential(lin), "int8")(x)
        print(precision.int8_activation_bits(), float((fast - exact).norm() / exact.norm()))
    """)
    env = {**os.environ, "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    bits, err = out.stdout.split()
    assert bits == "7" and float(err) < 2e-3


def _swin_v2(seed: int = 0):
    from rs_embed_qgis.engine.nn.satvision import SatVisionEncoder, SwinV2Config

    torch.manual_seed(seed)
    return SatVisionEncoder(SwinV2Config(embed_dim=16, depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8))).eval()


def test_the_layers_satvision_keeps_in_fp32_bring_int8_closer_to_fp32():
    """A small random-weight Swin V2 on smooth 128 px input (as a resized MODIS chip is): the
    attention projections and patch-merging reductions its catalog entry keeps in fp32 carry
    much of the int8 error."""
    from rs_embed_qgis.engine.catalog import get_entry

    keep = get_entry("satvision").int8_keep_fp32
    x = torch.nn.functional.interpolate(torch.rand(4, 14, 8, 8), size=128, mode="bilinear")
    net = _swin_v2()
    with torch.no_grad():
        exact = net(x)
        cells = {k: torch.nn.functional.cosine_similarity(exact, precision.prepare(_swin_v2(), "int8", k)(x), dim=-1)
                 for k in ((), keep)}
    assert 1 - cells[keep].mean() < 0.8 * (1 - cells[()].mean())
    assert cells[keep].min() > 0.999
    kept = precision.kept_fp32(_swin_v2(), keep)
    assert len(kept) == 12 + 3 and all(n.endswith(("attn.proj", "downsample.reduction")) for n in kept)


def test_satvision_int8_says_what_it_kept_in_fp32(tmp_path):
    from modis_util import write_mod021km
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    write_mod021km(tmp_path / "modis")
    opts = {"allow_random_weights": True, "download": False,
            "arch": {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 1, 2, 2]}}
    kw = dict(spatials=[PointBuffer(8.75, 48.10, 6000)], temporal=TemporalSpec.range("2022-06-01", "2022-06-02"),
              output=OutputSpec.grid(), backend="local", device="cpu", provider_options={"root": str(tmp_path / "modis")})
    torch.manual_seed(0)
    exact = get_embeddings_batch("satvision", model_options={**opts, "precision": "fp32"}, **kw)[0]
    torch.manual_seed(0)
    fast = get_embeddings_batch("satvision", model_options={**opts, "precision": "int8"}, **kw)[0]
    # per block qkv, fc1, fc2 and the two of the position-bias MLP in int8, proj in fp32; 3 reductions
    assert fast.meta["precision"]["int8"] == {"int8_layers": 8 * 5, "fp32_layers": 8 + 3,
                                              "kept_fp32": ["*.attn.proj", "*.downsample.reduction"],
                                              "activation_bits": precision.int8_activation_bits()}
    assert "int8" not in exact.meta["precision"]
    g, h = exact.array.reshape(exact.array.shape[0], -1).T, fast.array.reshape(fast.array.shape[0], -1).T
    assert _cos(g.astype(np.float64), h.astype(np.float64)).min() > 0.999
    net = get_embedder("satvision", device="cpu", model_options={**opts, "precision": "int8"}).model
    proj = net.layers[0].blocks[0].attn
    assert type(proj.proj) is torch.nn.Linear and isinstance(proj.qkv, DynamicInt8Linear)
    assert type(net.layers[0].downsample.reduction) is torch.nn.Linear


def test_a_catalog_entry_names_its_fp32_layers_as_patterns():
    from rs_embed_qgis.engine.catalog import describe_model, get_entry
    from rs_embed_qgis.engine.catalog.entry import ModelEntry

    assert describe_model("satvision")["int8_keep_fp32"] == ["*.attn.proj", "*.downsample.reduction"]
    assert describe_model("satmae")["int8_keep_fp32"] == []
    with pytest.raises(ModelError, match="int8_keep_fp32 must be a tuple of module-name patterns"):
        ModelEntry(**{**get_entry("satvision").__dict__, "int8_keep_fp32": "*.attn.proj"})
