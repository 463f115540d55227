"""Embedder interface: a model adapter takes :class:`Patch` objects and returns
:class:`Embedding` objects, in true batches.

``TokenEmbedder`` does the common work of image models with a fixed input size
(ViT/MAE-like): band selection, ``input_prep`` ("resize" or "tile"), batching,
token grids to ``(D, H, W)``, pooling. A model family only writes
``preprocess`` (bands, normalisation) and ``forward_tokens`` (the network).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..catalog.entry import ModelEntry
from ..device import resolve_device
from ..embedding import Embedding
from ..errors import ModelError, ProviderError, SpecError
from ..precision import check_precision
from ..progress import check_cancelled, forward_batch
from ..providers.base import Patch
from ..specs import OutputSpec, SensorSpec, TemporalSpec

INPUT_PREPS = ("resize", "tile")


def pool_grid(grid: np.ndarray, pooling: str) -> np.ndarray:
    """``(D, H, W)`` -> ``(D,)`` by mean or max over space (NaN cells ignored)."""
    flat = grid.reshape(grid.shape[0], -1)
    if pooling == "max":
        return np.nanmax(flat, axis=1).astype(np.float32)
    return np.nanmean(flat, axis=1).astype(np.float32)


class Embedder:
    """Base class of model adapters; one instance is cached per (model, options, device)."""

    #: number of time frames the model wants from the provider (None: one composite)
    frames: int | None = None
    #: provider fetch workers for batch calls (None: RS_EMBED_FETCH_WORKERS, the provider's own, or 4)
    fetch_workers: int | None = None
    #: copies of an input patch the model holds while it embeds it (preprocessing, padding,
    #: tiles): the memory estimate of a run (``engine/budget.py``)
    input_copies: float = 3.0

    def __init__(self, spec: ModelEntry, device: str = "auto", **options: Any) -> None:
        self.spec = spec
        self.device = resolve_device(device)
        self.options = dict(options)
        self.weights_meta: dict[str, Any] = {"status": "not needed"}
        #: the arithmetic asked for (``model_options["precision"]``, see ``engine/precision.py``)
        #: and what runs: fp32 until a torch model applies it to its network (:meth:`with_precision`)
        self.precision_asked = check_precision(options.get("precision"))
        self.precision = "fp32"
        #: what int8 did to the network (``precision.int8_summary``), set by :meth:`with_precision`
        self.int8_summary: dict[str, Any] | None = None

    # -- what the api asks --------------------------------------------------------------
    def default_sensor(self) -> SensorSpec | None:
        return self.spec.default_sensor

    def check_input_prep(self, input_prep: str) -> None:
        if input_prep not in INPUT_PREPS:
            raise SpecError(f"input_prep must be one of {INPUT_PREPS}, got {input_prep!r}")

    def resolve_temporal(self, temporal: TemporalSpec | None) -> TemporalSpec | None:
        """The window the model runs on (a model may normalise ``year``/``None``)."""
        return temporal

    def check_backend(self, backend: str) -> None:
        """Raise ``ProviderError`` before any fetch if ``backend`` cannot serve this model's
        input as configured (e.g. a Sentinel-1 modality on the local backend)."""

    def frames_for(self, temporal: TemporalSpec | None) -> int | None:
        """How many time bins the provider splits ``temporal`` into (None: one composite).

        ``frames`` by default; window-adaptive models (``frames.FramePolicy``) derive it
        from the window.
        """
        return self.frames

    # -- what a run will take, before it runs (``engine/budget.py``) ---------------------------
    def embedding_dim(self) -> int:
        return int(self.spec.embedding_dim or 1024)

    def output_shape(self, hw: tuple[int, int], scale_m: float, output: OutputSpec,
                     input_prep: str) -> tuple[int, ...]:
        """The embedding's shape for an input of ``hw`` pixels at ``scale_m`` m (without running).
        By default a grid of ``output.scale_m`` cells (at least one pixel each)."""
        from ..budget import default_output_shape

        return default_output_shape(self.embedding_dim(), hw, scale_m, output)

    def working_bytes(self, hw: tuple[int, int], scale_m: float, output: OutputSpec, input_prep: str) -> int:
        """Memory the model needs besides copies of its input (row blocks, a forward's activations)."""
        return 0

    def input_provider(self, backend: str, provider_options: dict[str, Any] | None) -> Any | None:
        """The provider of this model's input when it is not the backend's own.

        ``None`` (the default): pixels come from the backend's provider (``local``,
        ``gee``). Precomputed products kept as files (Tessera tiles, the Copernicus-Embed
        map) return a reader of those files, configured from their model options.
        """
        return None

    def prepare_input_chw(self, arr: Any) -> np.ndarray:
        """Caller pixels (``input_chw``) -> the array a :class:`Patch` is built from.

        Models with an input contract for ``input_chw`` (e.g. AnySat: CHW repeated to
        T frames, TCHW padded/truncated, clipped) override this.
        """
        return np.asarray(arr, dtype=np.float32)

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------
    def with_precision(self, model: Any) -> Any:
        """``model`` (eval mode, on this device) prepared for the precision asked; sets :attr:`precision`."""
        from .. import precision

        self.precision = precision.resolve_precision(self.precision_asked, self.device)
        keep = self.spec.int8_keep_fp32
        model = precision.prepare(model, self.precision, keep_fp32=keep)
        if self.precision == "int8":
            self.int8_summary = precision.int8_summary(model, keep)
        return model

    def precision_scope(self) -> Any:
        """The context every forward runs in (autocast for bf16/fp16, nothing for fp32/int8)."""
        from .. import precision

        return precision.autocast(self.precision, self.device)

    def base_meta(self, output: OutputSpec, input_prep: str) -> dict[str, Any]:
        from ..precision import describe

        return {
            "model": self.spec.id,
            "family": self.spec.family,
            "type": self.spec.kind,
            "device": self.device,
            "output": output.to_dict(),
            "input_prep": input_prep,
            "weights": dict(self.weights_meta),
            "random_weights": self.weights_meta.get("status") == "random",
            "options": {k: v for k, v in self.options.items() if _jsonable(v)},
            "precision": describe(self.precision_asked, self.precision, self.int8_summary),
        }

    def require_bands(self, patch: Patch, bands: Sequence[str]) -> np.ndarray:
        """``(T, C, H, W)`` of ``bands`` in order; a missing band is a ModelError."""
        from ..providers.bands import band_index

        if tuple(patch.bands) == tuple(bands):  # already in order (products: hundreds of bands)
            return patch.data

        try:
            idx = [band_index(patch.bands, b) for b in bands]
        except ProviderError:
            raise ModelError(
                f"model {self.spec.id!r} needs bands {list(bands)}, "
                f"but the input has {list(patch.bands)}") from None
        return patch.data[:, idx]


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, type(None), list, tuple))


class TokenEmbedder(Embedder):
    """Fixed-input-size image models that output a grid of patch tokens."""

    image_size: int = 224
    patch_size: int = 16
    batch_size: int = 16
    #: the preprocessed image, its tiles (or the resized image), their stacked batch, the tokens
    input_copies = 4.0

    def output_shape(self, hw, scale_m, output, input_prep):
        """A token grid: ``image_size / patch_size`` a side (resize), or one token per
        ``patch_size`` pixels (tile)."""
        d = self.embedding_dim()
        if output.mode == "pooled":
            return (d,)
        if input_prep == "resize":
            g = self.image_size // self.patch_size
            return (d, g, g)
        return (d, math.ceil(hw[0] / self.patch_size), math.ceil(hw[1] / self.patch_size))

    def working_bytes(self, hw, scale_m, output, input_prep):
        """One forward batch's activations (tokens x width, about 16 live copies through a block)."""
        tokens = (self.image_size // self.patch_size) ** 2
        return int(self.batch_size * tokens * self.embedding_dim() * 4 * 16)

    # -- to write per model family -------------------------------------------------------
    def preprocess(self, patch: Patch) -> np.ndarray:
        """``(C, H, W)`` float32 model input at native resolution (bands, normalisation)."""
        raise NotImplementedError

    def forward_tokens(self, x: Any) -> Any:
        """``(B, C, S, S)`` tensor -> ``(B, h*w, D)`` patch tokens (no CLS) tensor."""
        raise NotImplementedError

    def pooled_from_forward(self, tokens: Any) -> Any | None:
        """Optional model-specific pooled vector (e.g. CLIP's image embedding)."""
        return None

    # -- shared machinery -----------------------------------------------------------------
    def _resize(self, chw: np.ndarray, size: int) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(chw))[None]
        if t.shape[-2:] == (size, size):
            return chw
        return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=True)[0].numpy()

    def _tiles(self, chw: np.ndarray, input_prep: str) -> tuple[list[np.ndarray], tuple[int, int], tuple[int, int]]:
        """Model-sized tiles of one image, the tile layout, and the valid token extent."""
        s = self.image_size
        if input_prep == "resize":
            return [self._resize(chw, s)], (1, 1), (s // self.patch_size, s // self.patch_size)
        c, h, w = chw.shape
        # pad (reflect) to whole tiles so every tile, and so every token, sits on the patch grid
        H, W = math.ceil(h / s) * s, math.ceil(w / s) * s
        if (H, W) != (h, w):
            ph, pw = H - h, W - w
            mode = "reflect" if (ph < h and pw < w) else "edge"
            chw = np.pad(chw, ((0, 0), (0, ph), (0, pw)), mode=mode)
        ys, xs = range(0, H, s), range(0, W, s)
        tiles = [chw[:, y:y + s, x:x + s] for y in ys for x in xs]
        return tiles, (len(ys), len(xs)), (h, w)

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        import time

        import torch

        self.check_input_prep(input_prep)
        t0 = time.perf_counter()
        per_patch = [self._tiles(self.preprocess(p), input_prep) for p in patches]
        flat = [t for tiles, _, _ in per_patch for t in tiles]
        tokens_out: list[np.ndarray] = []
        pooled_out: list[np.ndarray | None] = []
        bs = forward_batch(self.batch_size)  # 1 when the caller asked for prompt cancel
        with torch.inference_mode():
            for i in range(0, len(flat), bs):
                check_cancelled()  # a cancel stops between forward batches
                x = torch.from_numpy(np.stack(flat[i:i + bs])).to(self.device)
                tok = self.forward_tokens(x)
                pooled = self.pooled_from_forward(tok)
                tokens_out.extend(tok.float().cpu().numpy())
                if pooled is not None:
                    pooled_out.extend(pooled.float().cpu().numpy())
                else:
                    pooled_out.extend([None] * tok.shape[0])
        elapsed = time.perf_counter() - t0
        g = self.image_size // self.patch_size
        results, k = [], 0
        for patch, (tiles, (ny, nx), valid) in zip(patches, per_patch, strict=True):
            toks = tokens_out[k:k + len(tiles)]
            pools = pooled_out[k:k + len(tiles)]
            k += len(tiles)
            d = toks[0].shape[-1]
            grids = [t.reshape(g, g, d).transpose(2, 0, 1) for t in toks]
            if input_prep == "resize":
                grid = grids[0]
            else:
                grid = self._stitch(grids, (ny, nx), patch.data.shape[-2:], valid)
            meta = self.base_meta(output, input_prep)
            if input_prep == "tile":  # tokens keep native pixels: patch_size px per cell
                meta["cell_px"] = [self.patch_size, self.patch_size]
            meta.update(grid_hw=list(grid.shape[1:]), tiles=len(tiles),
                        image_size=self.image_size, patch_size=self.patch_size,
                        infer_seconds_per_item=elapsed / max(1, len(patches)))
            if output.mode == "pooled":
                if pools[0] is not None and len(pools) == 1:
                    vec, meta["pooled_from"] = pools[0], "model image embedding"
                else:
                    vec = pool_grid(grid, output.pooling)
                    meta["pooled_from"] = f"patch tokens ({output.pooling})"
                results.append(Embedding(vec, meta))
            else:
                results.append(Embedding(grid, meta))
        return results

    def _stitch(self, grids: list[np.ndarray], layout: tuple[int, int],
                hw: tuple[int, int], valid: tuple[int, int]) -> np.ndarray:
        """Place tile token grids side by side; crop to the cells that touch the image."""
        ny, nx = layout
        rows = [np.concatenate(grids[iy * nx:(iy + 1) * nx], axis=2) for iy in range(ny)]
        out = np.concatenate(rows, axis=1)
        vh = max(1, math.ceil(valid[0] / self.patch_size))
        vw = max(1, math.ceil(valid[1] / self.patch_size))
        return np.ascontiguousarray(out[:, :vh, :vw])
