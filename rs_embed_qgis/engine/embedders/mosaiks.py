"""MOSAIKS: random convolutional features (Rolf et al., Nature Communications 2021).

Follows the featurisation the paper's results come from (``Global-Policy-Lab/mosaiks-paper``,
``code/mosaiks/featurization.py`` with ``config.features["random"]``; checked at commit
7efb09ed, see docs/models.md): ``K/2`` filters are ``k x k x C`` patches drawn at random from
reference imagery, each patch mean-centred and scaled to unit norm, whitened by the patch
set's ZCA applied twice (``P (cov + eps I)^-1``); the image (reflectance / 10000) is convolved
with them and each response gives two features, ``ReLU(z - b)`` and ``ReLU(-z - b)`` (bias
``b`` = 0, as the paper), average-pooled over the image (pooled) or over grid cells of
``output.scale_m`` (grid). Unlike upstream, every pixel gets a response (the image is
reflect-padded by ``k // 2``), so a pooled vector is the mean of its finest grid. No training
and no download: it needs only numpy, so it is the default model and runs where torch is not
installed.

Options (``model_options``): ``num_features`` (default 1024; the paper uses 8192),
``kernel_size`` (3), ``bias`` (0.0), ``seed`` (0), ``zca_eps`` (1e-3) and ``filter_source``
(a GeoTIFF whose band descriptions name its bands; default: the bundled sample's 2022-07-15
scene, real Sentinel-2 pixels).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..device import check_device_name
from ..embedding import Embedding
from ..errors import ModelError
from ..progress import check_cancelled
from ..providers.bands import canonical_band
from ..providers.base import Patch
from ..specs import OutputSpec
from .base import Embedder

DEFAULT_REFERENCE = "S2_L2A_20220715_sample.tif"
# Upstream's sampler (grab_patches): 1e5 positions drawn per axis, of which each of its 16
# threads keeps int(1e5 / 16) = 6250 per image; the filters are picked from that pool.
UPSTREAM_DRAWS = 100_000
UPSTREAM_POOL = UPSTREAM_DRAWS // 16
# Upstream convolves 1024 filters at a time and writes [ReLU(z - b), ReLU(-z - b)] per
# block, so features run pos 0-1023, neg 0-1023, pos 1024-2047, ... (coatesng_featurize).
FILTER_BLOCK = 1024
MAX_FEATURES = 2 * UPSTREAM_DRAWS


def _reference_path() -> Path:
    from ..providers.local import bundled_sample_dir

    return bundled_sample_dir() / DEFAULT_REFERENCE


def _read_reference(path: Path, bands: Sequence[str]) -> np.ndarray:
    from ..errors import ProviderError
    from ..geoio import open_raster

    try:
        with open_raster(path) as src:
            names = [canonical_band(d) for d in src.info.descriptions]
            idx = []
            for b in bands:
                cb = canonical_band(b)
                if cb not in names:
                    raise ModelError(
                        f"MOSAIKS filter source {str(path)!r} has no band {b!r} "
                        f"(it has {names}); pass model_options={{'filter_source': <GeoTIFF with that band>}}")
                idx.append(names.index(cb) + 1)
            arr = src.read(idx, dtype="float32")
    except ProviderError as exc:
        raise ModelError(f"cannot read MOSAIKS filter source {str(path)!r}: {exc}") from exc
    return arr / 10000.0


def draw_filters(ref: np.ndarray, num_filters: int, kernel_size: int = 3, seed: int = 0,
                 zca_eps: float = 1e-3, source: str = "reference image") -> np.ndarray:
    """``(num_filters, C*k*k)`` float32 filters drawn from ``ref`` ``(C, H, W)`` as the paper's code does.

    The draws follow upstream's ``grab_patches`` call for call on one image, with numpy's
    legacy Mersenne Twister seeded as upstream seeds ``np.random``, so a seed gives upstream's
    filters for the same image: patch corners uniform in ``[0, H-k-2] x [0, W-k-2]``
    (upstream's index arithmetic never reaches the last row and column), a pool of 6250
    patches shuffled, each centred and scaled to unit norm, whitened with
    ``(cov + eps I)^-1`` (``normalize_patches``: ZCA times ZCA transposed, covariance over the
    pool, ``1/n``), then ``num_filters`` of them picked without replacement. More filters than
    the pool holds grow the pool to ``num_filters`` patches.
    """
    c, h, w = ref.shape
    k = kernel_size
    if h < k + 2 or w < k + 2:
        raise ModelError(f"MOSAIKS {source} is {h} x {w} px; drawing {k} x {k} filters needs at "
                         f"least {k + 2} x {k + 2}")
    if not 1 <= num_filters <= UPSTREAM_DRAWS:
        raise ModelError(f"MOSAIKS draws 1 to {UPSTREAM_DRAWS} filters, got {num_filters}")
    pool = max(UPSTREAM_POOL, num_filters)
    rng = np.random.RandomState(seed)  # the legacy stream np.random.seed(seed) starts
    rng.permutation(UPSTREAM_DRAWS)  # upstream's per-thread seeds: drawn (and unused) there too
    rows = rng.randint(0, h - k - 1, size=UPSTREAM_DRAWS)[:pool]
    cols = rng.randint(0, w - k - 1, size=UPSTREAM_DRAWS)[:pool]
    win = np.lib.stride_tricks.sliding_window_view(ref, (k, k), axis=(1, 2))  # C, H', W', k, k
    patches = win[:, rows, cols].transpose(1, 0, 2, 3).reshape(pool, c * k * k).astype(np.float64)
    if not np.isfinite(patches).all():
        raise ModelError(f"MOSAIKS {source} has no-data (NaN/inf) pixels where filters are drawn; "
                         "use a filter source without gaps")
    patches = patches[rng.permutation(pool)]
    patches -= patches.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(patches, axis=1, keepdims=True)
    patches /= np.where(norms < 1e-8, 1.0, norms)
    evals, evecs = np.linalg.eigh(patches.T @ patches / pool)
    zca = (evecs / np.sqrt(evals + zca_eps)) @ evecs.T
    whitened = patches @ zca @ zca.T
    return whitened[rng.permutation(pool)[:num_filters]].astype(np.float32)


class MosaiksEmbedder(Embedder):
    """Random convolutional features; one filter bank per band set (cached)."""

    #: the input cleaned, clipped, scaled, cast and padded (measured: bench_memory.py)
    input_copies = 5.0

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        check_device_name(device)  # an invalid device is still an error; torch is not needed
        super().__init__(spec, device="cpu", **options)  # numpy: always CPU
        self.num_features = int(options.get("num_features", 1024))
        self.kernel_size = int(options.get("kernel_size", 3))
        self.bias = float(options.get("bias", 0.0))
        self.seed = int(options.get("seed", 0))
        self.zca_eps = float(options.get("zca_eps", 1e-3))
        if self.num_features < 2 or self.num_features % 2 or self.num_features > MAX_FEATURES:
            raise ModelError(f"num_features must be an even number from 2 to {MAX_FEATURES}, "
                             f"got {self.num_features}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ModelError(f"kernel_size must be an odd number >= 1, got {self.kernel_size}")
        if not self.zca_eps > 0:
            raise ModelError(f"zca_eps must be > 0, got {self.zca_eps}")
        src = options.get("filter_source")
        self.filter_source = Path(src).expanduser() if src else _reference_path()
        if not self.filter_source.exists():
            raise ModelError(f"MOSAIKS filter source not found: {str(self.filter_source)!r}")
        # bands (as given, and canonical) -> the filter bank and its sha256
        self._banks: dict[tuple[str, ...], tuple[np.ndarray, str]] = {}
        self.weights_meta = {"status": "not needed", "filter_source": str(self.filter_source),
                             "seed": self.seed}

    def embedding_dim(self) -> int:
        return self.num_features

    def output_shape(self, hw, scale_m, output, input_prep):
        if output.mode == "pooled":
            return (self.num_features,)
        cell = max(1, int(round(output.scale_m / scale_m)))
        return (self.num_features, max(1, int(hw[0] / cell + 0.5)), max(1, int(hw[1] / cell + 0.5)))

    def working_bytes(self, hw, scale_m, output, input_prep):
        """A block of rows: its patches (C k k per pixel), the responses and the features. A
        patch smaller than a block is one block of its own rows (a 40 x 40 px ROI does not
        hold a 65536-pixel block: counting one made an export's chunks 3x smaller than they
        need be, and with it the lanes' work)."""
        h, w = hw
        if output.mode == "pooled":
            rows = max(1, 65536 // max(1, w))
        else:
            rows = max(1, int(round(output.scale_m / scale_m)))
        return int(min(h, rows) * w * self.num_features * 4 * 3)

    def filters(self, bands: Sequence[str]) -> np.ndarray:
        """``(K/2, C*k*k)`` whitened filters for these bands (drawn once, then cached)."""
        return self._bank(bands)[0]

    def _bank(self, bands: Sequence[str]) -> tuple[np.ndarray, str]:
        """The filter bank for these bands and its short sha256, drawn once; looked up by the
        bands as given before their canonical names are worked out (an ROI's lookup is one get)."""
        got = self._banks.get(tuple(bands))
        if got is None:
            key = tuple(canonical_band(b) for b in bands)
            got = self._banks.get(key)
            if got is None:
                ref = _read_reference(self.filter_source, bands)
                bank = draw_filters(ref, self.num_features // 2, self.kernel_size, self.seed,
                                    self.zca_eps, source=f"filter source {str(self.filter_source)!r}")
                got = self._banks[key] = (bank, hashlib.sha256(bank.tobytes()).hexdigest()[:16])
            self._banks[tuple(bands)] = got
        return got

    def _features(self, z: np.ndarray) -> np.ndarray:
        """``(pixels, K/2)`` responses -> ``(pixels, K)`` features in upstream's order."""
        parts = []
        for s in range(0, z.shape[1], FILTER_BLOCK):
            blk = z[:, s:s + FILTER_BLOCK]
            parts += [np.maximum(blk - self.bias, 0), np.maximum(-blk - self.bias, 0)]
        return np.concatenate(parts, axis=1)

    def _padded(self, img: np.ndarray) -> np.ndarray:
        """``(C, H, W)`` reflect-padded by ``k // 2`` on both image axes, as ``np.pad(mode="reflect")``
        (edge-padded when the image is too small to reflect), written out for a small pad:
        ``np.pad``'s general path costs more than the copy itself on a 40 x 40 px ROI."""
        p = self.kernel_size // 2
        c, h, w = img.shape
        if min(h, w) <= p:
            return np.pad(img, ((0, 0), (p, p), (p, p)), mode="edge")
        x = np.empty((c, h + 2 * p, w + 2 * p), img.dtype)
        x[:, p:p + h, p:p + w] = img
        for i in range(1, p + 1):  # rows first, then whole columns (corners: as np.pad)
            x[:, p - i, p:p + w] = img[:, i]
            x[:, p + h - 1 + i, p:p + w] = img[:, h - 1 - i]
        for i in range(1, p + 1):
            x[:, :, p - i] = x[:, :, p + i]
            x[:, :, p + w - 1 + i] = x[:, :, p + w - 1 - i]
        return x

    def _blocks(self, img: np.ndarray, bank: np.ndarray, rows: int):
        """Yield ``(r0, features (rows, W, D))`` for blocks of image rows.

        The image is reflect-padded by ``k // 2`` so every pixel has its own response (upstream
        convolves unpadded, see docs/models.md); the convolution reads the whole padded image,
        so blocks have no seams.
        """
        c, h, w = img.shape
        k = self.kernel_size
        win = np.lib.stride_tricks.sliding_window_view(self._padded(img), (k, k), axis=(1, 2))  # C,H,W,k,k
        for r0 in range(0, h, rows):
            check_cancelled()  # a cancel stops between blocks of rows (MOSAIKS' forward)
            r1 = min(h, r0 + rows)
            cols = win[:, r0:r1].transpose(1, 2, 0, 3, 4).reshape((r1 - r0) * w, c * k * k)
            # The filters sum to zero (centred patches; the whitening keeps the constant
            # direction), so taking each window's first value off first is the same convolution
            # without its DC level: filter weights of ~100 no longer cancel a reflectance level
            # in float32 rounding, and a flat image gets exactly no response.
            yield r0, self._features((cols - cols[:, :1]) @ bank.T).reshape(r1 - r0, w, -1)

    @staticmethod
    def _scaled(img: np.ndarray) -> np.ndarray:
        """Reflectance x 10000 -> reflectance (float32); no data (NaN) and negatives are 0, +inf
        the largest float32 (as ``np.clip(np.nan_to_num(img), 0, None)``, in three array passes)."""
        x = np.fmax(img, 0)  # fmax: NaN -> 0
        if np.issubdtype(x.dtype, np.floating):
            np.minimum(x, np.finfo(x.dtype).max, out=x)
        x = x.astype(np.float32, copy=False)
        x /= np.float32(10000.0)
        return x

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        self.check_input_prep(input_prep)
        base = self.base_meta(output, input_prep)  # once per call: the same for every patch
        results = []
        for patch in patches:
            t0 = time.perf_counter()
            # a multi-frame patch is averaged to one composite: MOSAIKS is single-image
            img = self._scaled(patch.data.mean(axis=0) if patch.n_frames > 1 else patch.chw)
            bank, sha = self._bank(patch.bands)
            res = patch.grid.res if patch.grid is not None else 10.0
            h, w = img.shape[1:]
            extra: dict[str, Any] = {}
            if output.mode == "grid":
                cell = max(1, int(round(output.scale_m / res)))
                # whole cells from the ROI's top-left; a last partial cell is kept only when it
                # holds at least half a cell of pixels, so no cell stands on a sliver of data
                ncy, ncx = max(1, int(h / cell + 0.5)), max(1, int(w / cell + 0.5))
                data = np.empty((self.num_features, ncy, ncx), np.float32)
                for r0, f in self._blocks(img[:, :ncy * cell], bank, cell):
                    for j in range(ncx):
                        data[:, r0 // cell, j] = f[:, j * cell:(j + 1) * cell].mean(axis=(0, 1))
                extra = dict(grid_hw=list(data.shape[1:]), cell_px=[cell, cell], grid_cell_m=cell * res)
            else:
                rows = max(1, 65536 // max(1, w))
                mean = output.pooling == "mean"  # the other pooling is max: only one is taken
                acc = np.zeros(self.num_features, np.float64) if mean else np.full(self.num_features, -np.inf,
                                                                                     np.float32)
                for _, f in self._blocks(img, bank, rows):
                    flat = f.reshape(-1, f.shape[-1])
                    if mean:
                        acc += flat.sum(axis=0, dtype=np.float64)
                    else:
                        acc = np.maximum(acc, flat.max(axis=0))
                data = (acc / (h * w)).astype(np.float32) if mean else acc
            # the run's meta, its nested records copied: each embedding owns its meta
            meta = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
            meta.update(extra, num_features=self.num_features, kernel_size=self.kernel_size,
                        bias=self.bias, seed=self.seed, filter_bank_sha256=sha, bands=list(patch.bands),
                        frames_averaged=patch.n_frames, infer_seconds=time.perf_counter() - t0)
            results.append(Embedding(data, meta))
        return results
