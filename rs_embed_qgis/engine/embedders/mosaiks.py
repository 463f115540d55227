"""MOSAIKS: random convolutional features (Rolf et al., Nature Communications 2021).

As in the paper: ``K/2`` filters are ``k x k x C`` patches drawn at random (fixed
seed) from reference imagery, each patch mean-centred and scaled to unit norm,
then ZCA-whitened; an image (reflectance / 10000) is convolved with them and
each response gives two features, ``ReLU(z - b)`` and ``ReLU(-z - b)`` (bias
``b`` = 1 by default), average-pooled over the image (pooled) or over grid cells
of ``output.scale_m`` (grid). No training and no download: it needs only numpy,
so it is the default model and runs where torch is not installed.

Options (``model_options``): ``num_features`` (default 1024; the paper uses 8192),
``kernel_size`` (3), ``bias`` (1.0), ``seed`` (0), ``zca_eps`` (1e-3) and
``filter_source`` (a GeoTIFF whose band descriptions name its bands; default: the
bundled sample's 2022-07-15 scene, real Sentinel-2 pixels).
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


class MosaiksEmbedder(Embedder):
    """Random convolutional features; one filter bank per band set (cached)."""

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        check_device_name(device)  # an invalid device is still an error; torch is not needed
        super().__init__(spec, device="cpu", **options)  # numpy: always CPU
        self.num_features = int(options.get("num_features", 1024))
        self.kernel_size = int(options.get("kernel_size", 3))
        self.bias = float(options.get("bias", 1.0))
        self.seed = int(options.get("seed", 0))
        self.zca_eps = float(options.get("zca_eps", 1e-3))
        if self.num_features < 2 or self.num_features % 2:
            raise ModelError(f"num_features must be an even number >= 2, got {self.num_features}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ModelError(f"kernel_size must be an odd number >= 1, got {self.kernel_size}")
        src = options.get("filter_source")
        self.filter_source = Path(src).expanduser() if src else _reference_path()
        if not self.filter_source.exists():
            raise ModelError(f"MOSAIKS filter source not found: {str(self.filter_source)!r}")
        self._banks: dict[tuple[str, ...], np.ndarray] = {}
        self.weights_meta = {"status": "not needed", "filter_source": str(self.filter_source),
                             "seed": self.seed}

    def filters(self, bands: Sequence[str]) -> np.ndarray:
        """``(K/2, C*k*k)`` whitened filters for these bands (drawn once, then cached)."""
        key = tuple(canonical_band(b) for b in bands)
        bank = self._banks.get(key)
        if bank is None:
            ref = _read_reference(self.filter_source, bands)
            bank = self._draw(ref)
            self._banks[key] = bank
        return bank

    def _draw(self, ref: np.ndarray) -> np.ndarray:
        """Whitened random patches, folded into one linear kernel per filter.

        Image patches get the same treatment as the drawn ones (centre, scale by the
        reference patches' typical norm, ZCA-whiten) and are then dotted with the
        whitened filter; all of it is linear, so it folds into ``(K/2, C*k*k)``
        kernels applied to raw patches: ``z = p . g``.
        """
        c, h, w = ref.shape
        k = self.kernel_size
        n = self.num_features // 2
        rng = np.random.default_rng(self.seed)
        ys = rng.integers(0, h - k + 1, size=n)
        xs = rng.integers(0, w - k + 1, size=n)
        patches = np.stack([ref[:, y:y + k, x:x + k].reshape(-1)
                            for y, x in zip(ys, xs, strict=True)]).astype(np.float64)
        patches -= patches.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(patches, axis=1, keepdims=True)
        scale = float(np.median(norms)) or 1.0
        patches /= np.maximum(norms, 1e-8)
        # ZCA whitening of the patch set, as in the MOSAIKS featurisation
        cov = patches.T @ patches / max(1, n - 1)
        evals, evecs = np.linalg.eigh(cov)
        zca = evecs @ np.diag(1.0 / np.sqrt(np.maximum(evals, 0) + self.zca_eps)) @ evecs.T
        filt = patches @ zca                               # whitened filters
        filt /= np.maximum(np.linalg.norm(filt, axis=1, keepdims=True), 1e-8)
        kern = (filt @ zca) / scale                        # whiten + scale the image side too
        kern -= kern.mean(axis=1, keepdims=True)           # centring the image patch
        return kern.astype(np.float32)

    def _blocks(self, img: np.ndarray, bank: np.ndarray, rows: int):
        """Yield ``(r0, features (rows, W, D))`` for blocks of image rows.

        The convolution reads the whole reflect-padded image, so blocks have no seams.
        """
        c, h, w = img.shape
        k = self.kernel_size
        pad = k // 2
        mode = "reflect" if min(h, w) > pad else "edge"
        x = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), mode=mode)
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # C,H,W,k,k
        for r0 in range(0, h, rows):
            check_cancelled()  # a cancel stops between blocks of rows (MOSAIKS' forward)
            r1 = min(h, r0 + rows)
            cols = win[:, r0:r1].transpose(1, 2, 0, 3, 4).reshape((r1 - r0) * w, c * k * k)
            z = cols @ bank.T  # (pixels, K/2)
            feats = np.concatenate([np.maximum(z - self.bias, 0), np.maximum(-z - self.bias, 0)],
                                   axis=1)
            yield r0, feats.reshape(r1 - r0, w, -1)

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        self.check_input_prep(input_prep)
        results = []
        for patch in patches:
            t0 = time.perf_counter()
            # a multi-frame patch is averaged to one composite: MOSAIKS is single-image
            img = patch.data.mean(axis=0) if patch.n_frames > 1 else patch.chw
            img = np.clip(np.nan_to_num(img), 0, None).astype(np.float32) / 10000.0
            bank = self.filters(patch.bands)
            res = patch.grid.res if patch.grid is not None else 10.0
            h, w = img.shape[1:]
            meta = self.base_meta(output, input_prep)
            if output.mode == "grid":
                cell = max(1, int(round(output.scale_m / res)))
                # whole cells from the ROI's top-left; a last partial cell is kept only when it
                # holds at least half a cell of pixels, so no cell stands on a sliver of data
                ncy, ncx = max(1, int(h / cell + 0.5)), max(1, int(w / cell + 0.5))
                data = np.empty((self.num_features, ncy, ncx), np.float32)
                for r0, f in self._blocks(img[:, :ncy * cell], bank, cell):
                    for j in range(ncx):
                        data[:, r0 // cell, j] = f[:, j * cell:(j + 1) * cell].mean(axis=(0, 1))
                meta.update(grid_hw=list(data.shape[1:]), cell_px=[cell, cell], grid_cell_m=cell * res)
            else:
                rows = max(1, 65536 // max(1, w))
                acc = np.zeros(self.num_features, np.float64)
                mx = np.full(self.num_features, -np.inf, np.float32)
                for _, f in self._blocks(img, bank, rows):
                    flat = f.reshape(-1, f.shape[-1])
                    acc += flat.sum(axis=0, dtype=np.float64)
                    mx = np.maximum(mx, flat.max(axis=0))
                data = (acc / (h * w)).astype(np.float32) if output.pooling == "mean" else mx
            meta.update(num_features=self.num_features, kernel_size=self.kernel_size,
                        bias=self.bias, seed=self.seed,
                        filter_bank_sha256=hashlib.sha256(bank.tobytes()).hexdigest()[:16],
                        bands=list(patch.bands), frames_averaged=patch.n_frames,
                        infer_seconds=time.perf_counter() - t0)
            results.append(Embedding(data, meta))
        return results
