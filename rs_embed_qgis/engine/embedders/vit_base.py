"""What the ViT-family adapters (RemoteCLIP, Prithvi, SatMAE, SatMAE++, ScaleMAE) share.

Options (``model_options``), the same for each model:

- ``variant``: which published model (e.g. ``"ViT-B-32"``/``"ViT-L-14"``, ``"300M"``/``"100M"``,
  ``"rgb"``/``"multispectral"``); the default is the one rs-embed uses.
- ``weights``: path of the checkpoint file (else ``RS_EMBED_<MODEL>_CKPT``, the cache
  folder, then a download of the official file from Hugging Face when online).
- ``allow_random_weights`` (default False): without a checkpoint, run randomly
  initialised instead of raising; the embeddings are then meaningless and
  ``meta["random_weights"]`` is True.
- ``download`` (default True): may fetch the official file when it is not found locally
  (pinned to the catalog's revision, checked against its sha256).
- ``allow_unverified`` (default False): download a file whose sha256 is not published
  (trust on first use: the sha256 seen is locked), or accept one that differs.
- ``batch_size``: images per forward (default 8 on CPU - 16 for RemoteCLIP's short
  token sequences - and 32 on GPU).
- ``arch``: architecture overrides (a dict, e.g. ``{"depth": 12}``) for checkpoints of
  the same family at another size.
- ``precision``: ``"fp32"`` (default, exact), or the opt-in fast path ``"bf16"``, ``"int8"``
  (CPU), ``"fp16"`` (GPU) or ``"fast"`` (the best this device has); see ``engine/precision.py``.

Weights are loaded strictly: every encoder key of the file must match the
model's name and shape; keys of parts the embeddings do not use (the MAE
decoder, CLIP's text tower) are set aside by name, any other key is an error.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.entry import Normalisation, Variant
from ..embedding import Embedding
from ..errors import ModelError
from ..progress import check_cancelled, forward_batch
from ..providers.base import Patch
from ..specs import OutputSpec
from ..weights import ResolvedWeights, WeightsSpec, cache_path, load_into, load_state_dict, resolve_weights
from .base import TokenEmbedder, pool_grid

KNOWN_OPTIONS = ("variant", "weights", "allow_random_weights", "download", "allow_unverified", "batch_size",
                 "arch", "precision")


def rgb_unit8(chw: np.ndarray) -> np.ndarray:
    """Surface reflectance x 10000 -> [0, 1] in 1/255 steps (rs-embed's uint8 RGB path)."""
    x = np.clip(np.nan_to_num(chw, nan=0.0) / 10000.0, 0.0, 1.0)
    return (np.floor(x * 255.0) / 255.0).astype(np.float32)


def normalise(chw: np.ndarray, norm: Normalisation) -> np.ndarray:
    """``(x - mean) / std`` per band, with the constants of the variant's catalog entry."""
    m = np.asarray(norm.mean, np.float32)[:, None, None]
    s = np.asarray(norm.std, np.float32)[:, None, None]
    return ((chw - m) / s).astype(np.float32)


def sentinel_normalize(chw: np.ndarray, norm: Normalisation) -> np.ndarray:
    """SatMAE's ``SentinelNormalize``: ``(x - (mean - 2 std)) / (4 std)`` to uint8, then ``/255``."""
    m = np.asarray(norm.mean, np.float32)[:, None, None]
    s = np.asarray(norm.std, np.float32)[:, None, None]
    lo, hi = m - 2 * s, m + 2 * s
    x = np.clip((np.nan_to_num(chw, nan=0.0) - lo) / (hi - lo) * 255.0, 0.0, 255.0)
    return (x.astype(np.uint8).astype(np.float32) / 255.0)


def fill_with_frame_mean(x: np.ndarray) -> np.ndarray:
    """``(T, C, H, W)``: NaN/inf -> the frame's band mean over the image (0 where a band
    has no valid pixel), as Galileo's ``_fillna`` does."""
    x = np.where(np.isfinite(x), x, np.nan).astype(np.float32)
    if not np.isnan(x).any():
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands: mean 0 below
        mean = np.nan_to_num(np.nanmean(x, axis=(-2, -1), keepdims=True), nan=0.0)
    return np.where(np.isnan(x), mean, x).astype(np.float32)


def model_input_gsd(patch: Patch, input_prep: str, image_size: int) -> float | None:
    """Metres per pixel of the image a model sees: the fetch resolution, times the resize
    factor (short side / ``image_size``) for ``input_prep="resize"``; None if unknown."""
    if patch.grid is not None:
        src = float(abs(patch.grid.res))
    elif patch.sensor is not None:
        src = float(patch.sensor.scale_m)
    else:
        return None
    if input_prep == "resize":
        return src * min(patch.data.shape[-2:]) / float(image_size)
    return src


def roi_center_lonlat(patch: Patch) -> tuple[float, float] | None:
    if patch.grid is None:
        return None
    x0, y0, x1, y1 = patch.grid.bounds_in("EPSG:4326")
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


class ViTEmbedder(TokenEmbedder):
    """A TokenEmbedder whose network is one of ``engine.nn`` with an official checkpoint.

    The variants (weights, normalisation, bands) are the catalog entry's; each
    variant names its architecture in ``CONFIGS`` (config name -> config of the
    family's ``engine.nn`` module). Subclasses set ``CONFIGS`` and write
    ``build(config)``, ``checkpoint_layout()`` (prefix, ignored prefixes),
    ``preprocess`` and ``forward_batch``.
    """

    CONFIGS: dict[str, Any] = {}
    extra_options: tuple[str, ...] = ()
    #: default images per forward on CPU (enough rows for the matrix products to run near peak)
    cpu_batch_size: int = 8

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, device=device, **options)
        known = KNOWN_OPTIONS + self.extra_options
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ModelError(f"unknown model_options {unknown} for {spec.id!r}; known: {list(known)}")
        self.variant_spec: Variant = spec.variant(options.get("variant"))
        self.variant = self.variant_spec.name
        self.norm = self.variant_spec.normalisation
        cfg = self._config(self.variant_spec)
        arch = options.get("arch") or {}
        if not isinstance(arch, dict):
            raise ModelError(f"arch must be a dict of architecture settings, got {arch!r}")
        try:
            cfg = dataclasses.replace(cfg, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in arch.items()})
        except TypeError as exc:
            fields = [f.name for f in dataclasses.fields(cfg)]
            raise ModelError(f"arch has a setting {spec.id!r} does not know ({exc}); known: {fields}") from None
        self.config = cfg
        bs = options.get("batch_size")
        if bs is None:
            bs = 32 if self.device.startswith("cuda") else self.cpu_batch_size
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ModelError(f"batch_size must be a positive int, got {bs!r}")
        self.batch_size = bs
        import torch

        # find the file first: a missing checkpoint fails before a (possibly 3 B parameter) model is built
        resolved = self._resolve_checkpoint()
        self.model = self.build(cfg).eval()
        self.weights_meta = self._load_weights(resolved)
        self.model.to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model = self.with_precision(self.model)
        self._torch = torch

    def embedding_dim(self) -> int:
        return int(self.variant_spec.embedding_dim or self.spec.embedding_dim or 1024)

    # -- variants and weights ---------------------------------------------------------------
    def _config(self, variant: Variant) -> Any:
        if not isinstance(variant.config, str) or variant.config not in self.CONFIGS:
            raise ModelError(f"variant {variant.name!r} of {self.spec.id!r} names architecture "
                             f"{variant.config!r}; {type(self).__name__} knows {sorted(self.CONFIGS)}")
        return self.CONFIGS[variant.config]

    def default_sensor(self):
        return self.spec.sensor_of(self.variant_spec)

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the variant reads, in model order (its catalog sensor's)."""
        return self.default_sensor().bands

    def weights_spec(self) -> WeightsSpec:
        return self.variant_spec.weights

    def build(self, config: Any):  # pragma: no cover - each family writes it
        raise NotImplementedError

    def checkpoint_layout(self) -> tuple[str, tuple[str, ...]]:
        """(prefix of the encoder keys in the official file, prefixes of keys not used)."""
        return "", ()

    def _missing_weights_error(self, ws: WeightsSpec) -> ModelError:
        where = cache_path(self.spec.id, ws)
        name = where.name if where else "file"
        return ModelError(
            f"no weights for {self.spec.id!r} (variant {self.variant!r}): pass model_options="
            f"{{'weights': '/path/to/{name}'}}, set {ws.env_var}, or put the file at {str(where)!r}. "
            f"Official file: {ws.official_address() or 'none published'}"
            + (" (a link only a person can follow: download it by hand; it is never fetched "
               "at run time). " if ws.manual_url else ". ")
            + "To run with random weights (meaningless embeddings, for testing only) pass "
              "model_options={'allow_random_weights': True}.")

    def _resolve_checkpoint(self) -> ResolvedWeights:
        """The checkpoint file (downloaded when allowed); its absence is an error unless random
        weights were asked for."""
        ws = self.weights_spec()
        allow_random = bool(self.options.get("allow_random_weights", False))
        resolved = resolve_weights(self.spec.id, ws, self.options.get("weights"),
                                   download=bool(self.options.get("download", True)) and not allow_random,
                                   allow_unverified=bool(self.options.get("allow_unverified", False)))
        if resolved.path is None and not allow_random:
            raise self._missing_weights_error(ws)
        return resolved

    def _load_weights(self, resolved: ResolvedWeights) -> dict[str, Any]:
        ws = self.weights_spec()
        official = {"hf_repo": ws.hf_repo, "hf_filename": ws.hf_filename, "revision": ws.revision, "url": ws.url}
        if resolved.path is None:
            return {"status": "random", "variant": self.variant,
                    "note": "randomly initialised (allow_random_weights=True): embeddings carry no meaning",
                    "official": official}
        path = resolved.path
        sd = self.read_checkpoint(path)
        from torch import nn

        prefix, ignore = self.checkpoint_layout()
        ignored = [k for k in sd if any(k.startswith(p) for p in ignore)]
        enc = {k: v for k, v in sd.items() if not any(k.startswith(p) for p in ignore)}
        target = self.model
        if prefix:  # hold the encoder under its name in the file, so errors show the file's keys
            target = holder = nn.Module()
            *outer, name = prefix.rstrip(".").split(".")  # e.g. Lightning's "model.encoder."
            for part in outer:
                holder.add_module(part, nn.Module())
                holder = getattr(holder, part)
            holder.add_module(name, self.model)
        load_into(target, enc, path)
        return {"status": "pretrained", "variant": self.variant, **resolved.describe(),
                "file": path.name, "encoder_keys": len(enc), "ignored_keys": len(ignored),
                "ignored_key_groups": sorted({k.split(".")[0] for k in ignored}),
                "official": official}

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        """State dict of an official file: safetensors, a state dict, ``{"model": sd}``.

        Training checkpoints of the MAE family also hold their ``argparse.Namespace``
        of arguments; that one class is allowed in the weights-only unpickler.
        """
        import argparse

        import torch

        with torch.serialization.safe_globals([argparse.Namespace]):
            return load_state_dict(path)

    # -- embedding ------------------------------------------------------------------------------
    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        """Per-tile side inputs (arrays with a leading ``n_tiles`` axis); none by default."""
        return {}

    def forward_batch(self, x, side: dict[str, Any]):  # pragma: no cover - each family writes it
        """``(B, C, S, S)`` -> (patch tokens ``(B, h*w, D)``, model pooled vector ``(B, E)`` or None)."""
        raise NotImplementedError

    def group_key(self, chw: np.ndarray) -> Any:
        """Tiles with the same key are batched together (Prithvi: same frame count)."""
        return chw.shape

    def extra_meta(self, patch: Patch, side: dict[str, np.ndarray]) -> dict[str, Any]:
        return {}

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        torch = self._torch
        self.check_input_prep(input_prep)
        t0 = time.perf_counter()
        per_patch, flat, flat_side = [], [], []
        for p in patches:
            tiles, layout, valid = self._tiles(self.preprocess(p), input_prep)
            side = self.side_inputs(p, len(tiles), input_prep)
            per_patch.append((tiles, layout, valid, side))
            for i, t in enumerate(tiles):
                flat.append(np.ascontiguousarray(t, dtype=np.float32))
                flat_side.append({k: v[i] for k, v in side.items()})
        t_prep = time.perf_counter() - t0
        groups: dict[Any, list[int]] = {}
        for i, t in enumerate(flat):
            groups.setdefault((self.group_key(t), tuple(sorted(flat_side[i]))), []).append(i)
        tokens_out: list[np.ndarray | None] = [None] * len(flat)
        pooled_out: list[np.ndarray | None] = [None] * len(flat)
        n_forwards = 0
        t1 = time.perf_counter()
        pin = self.device.startswith("cuda")
        bs = forward_batch(self.batch_size)  # 1 when the caller asked for prompt cancel
        with torch.inference_mode():
            for idx in groups.values():
                for s in range(0, len(idx), bs):
                    check_cancelled()  # a cancel stops between forward batches
                    chunk = idx[s:s + bs]
                    xb = torch.from_numpy(np.stack([flat[i] for i in chunk]))
                    if pin:
                        xb = xb.pin_memory()
                    xb = xb.to(self.device, non_blocking=pin)
                    side_b = {k: torch.from_numpy(np.stack([np.asarray(flat_side[i][k]) for i in chunk]))
                              .to(self.device) for k in (flat_side[chunk[0]] if chunk else {})}
                    with self.precision_scope():
                        tok, pooled = self.forward_batch(xb, side_b)
                    n_forwards += 1
                    tok_np = tok.float().cpu().numpy()
                    pooled_np = pooled.float().cpu().numpy() if pooled is not None else None
                    for j, i in enumerate(chunk):
                        tokens_out[i] = tok_np[j]
                        pooled_out[i] = pooled_np[j] if pooled_np is not None else None
        t_fwd = time.perf_counter() - t1
        g = self.image_size // self.patch_size
        results, k = [], 0
        for patch, (tiles, (ny, nx), valid, side) in zip(patches, per_patch, strict=True):
            toks = tokens_out[k:k + len(tiles)]
            pools = pooled_out[k:k + len(tiles)]
            k += len(tiles)
            grids = [t.reshape(g, g, -1).transpose(2, 0, 1) for t in toks]
            grid = grids[0] if input_prep == "resize" else self._stitch(grids, (ny, nx), patch.data.shape[-2:], valid)
            grid = np.ascontiguousarray(grid, dtype=np.float32)
            meta = self.base_meta(output, input_prep)
            meta.update(
                variant=self.variant, architecture=_plain(self.config.to_dict()),
                grid_hw=list(grid.shape[1:]), tiles=len(tiles),
                image_size=self.image_size, patch_size=self.patch_size,
                grid_semantics="vit_patch_tokens", token_dim=int(grid.shape[0]),
                batch_size=self.batch_size, forwards_in_call=n_forwards,
                infer_seconds_per_item=(t_prep + t_fwd) / max(1, len(patches)))
            meta.update(self.extra_meta(patch, side))
            if output.mode == "pooled":
                if pools[0] is not None and len(pools) == 1:
                    vec, meta["pooled_from"] = pools[0], "model image embedding"
                elif pools[0] is not None:
                    stacked = np.stack(pools)
                    vec = stacked.mean(axis=0) if output.pooling == "mean" else stacked.max(axis=0)
                    meta["pooled_from"] = f"model image embedding of each tile ({output.pooling})"
                else:
                    vec = pool_grid(grid, output.pooling)
                    meta["pooled_from"] = f"patch tokens ({output.pooling}), class token excluded"
                results.append(Embedding(np.asarray(vec, np.float32), meta))
            else:
                results.append(Embedding(grid, meta))
        return results


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
