"""TokenEmbedder's input_prep: "resize" sees the whole ROI at model size, "tile" keeps
native pixels and stitches token grids; checked with a patch-mean network whose
tokens are known in closed form (mean of each 8x8 pixel patch)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rs_embed_qgis.engine import OutputSpec  # noqa: E402
from rs_embed_qgis.engine.catalog import ENTRIES  # noqa: E402
from rs_embed_qgis.engine.embedders.base import TokenEmbedder  # noqa: E402
from rs_embed_qgis.engine.geo import RoiGrid  # noqa: E402
from rs_embed_qgis.engine.providers.base import Patch  # noqa: E402


class PatchMean(TokenEmbedder):
    image_size = 32
    patch_size = 8
    batch_size = 3

    def __init__(self):
        super().__init__(ENTRIES["mosaiks"], device="cpu")
        self.calls = []

    def preprocess(self, patch):
        return patch.chw

    def forward_tokens(self, x):
        self.calls.append(x.shape[0])
        b, c, s, _ = x.shape
        g = s // self.patch_size
        t = torch.nn.functional.avg_pool2d(x, self.patch_size)  # B, C, g, g
        return t.permute(0, 2, 3, 1).reshape(b, g * g, c)


def _patch(h, w, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 1000, size=(1, 2, h, w)).astype(np.float32)
    return Patch(data, ("B4", "B8"), RoiGrid("EPSG:32632", 500000.0, 5300000.0, 10.0, w, h))


def test_tiled_grid_equals_native_patch_means():
    emb = PatchMean()
    p = _patch(64, 96)
    out = emb.embed_patches([p], OutputSpec.grid(), input_prep="tile")[0]
    want = p.chw.reshape(2, 8, 8, 12, 8).mean(axis=(2, 4))
    assert out.data.shape == (2, 8, 12)
    assert np.allclose(out.data, want, rtol=1e-5)
    assert out.meta["tiles"] == 6 and out.meta["cell_px"] == [8, 8]
    assert emb.calls == [3, 3]  # 6 tiles in batches of 3, not one forward per tile


def test_tiles_of_uneven_images_are_cropped_to_the_image():
    emb = PatchMean()
    p = _patch(70, 50, seed=1)
    out = emb.embed_patches([p], OutputSpec.grid(), input_prep="tile")[0]
    assert out.data.shape == (2, 9, 7)  # ceil(70/8) x ceil(50/8) token cells
    full = p.chw[:, :64, :48].reshape(2, 8, 8, 6, 8).mean(axis=(2, 4))
    assert np.allclose(out.data[:, :8, :6], full, rtol=1e-5)


def test_resize_sees_the_whole_roi_and_batches_patches_together():
    emb = PatchMean()
    patches = [_patch(64, 64, seed=s) for s in range(5)]
    outs = emb.embed_patches(patches, OutputSpec.pooled(), input_prep="resize")
    assert emb.calls == [3, 2]
    for p, o in zip(patches, outs, strict=True):
        assert o.data.shape == (2,)
        assert np.allclose(o.data, p.chw.mean(axis=(1, 2)), rtol=1e-3)
