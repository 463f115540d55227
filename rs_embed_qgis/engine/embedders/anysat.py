"""AnySat adapter: a Sentinel-2 time series (``s2`` + ``s2_dates``) -> patch features.

Contract (reference ``rs-embed-anysat-adapter.md``):

* input: 10 S2 bands, ``T`` frames (``RS_EMBED_ANYSAT_FRAMES``, default 8). The
  provider splits the window into ``T`` bins, one composite per bin; ``input_chw``
  may be CHW (repeated to ``T``) or TCHW (padded with its last frame / truncated
  to ``T``). Values are clipped to raw surface reflectance ``0..10000``.
* each series is resized to ``RS_EMBED_ANYSAT_IMG`` (default 24) square and
  normalised (``per_tile_zscore`` | ``unit_scale`` | ``raw``).
* ``s2_dates``: zero-based day of year (01/01 -> 0, 31/12 -> 364) of each bin midpoint.
* forward with ``output="patch"`` and ``patch_size = output.scale_m`` (a positive
  multiple of 10 m); patch output ``(B, H, W, D)`` -> grid ``(D, H, W)``; pooled is
  the mean or max over the grid.

Every knob of the reference's environment table is honoured as a default; an
explicit ``model_options`` entry overrides it. Inference runs in true batches: all
series of a call are stacked and run ``batch_size`` at a time.
"""
from __future__ import annotations

import datetime as _dt
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.entry import S2_10, ModelEntry
from ..embedding import Embedding
from ..errors import ModelError
from ..precision import check_precision
from ..progress import check_cancelled, forward_batch
from ..providers.base import Patch
from ..specs import OutputSpec, TemporalSpec, normalize_temporal
from ..weights import WeightsSpec, cache_path, load_state_dict_safely, resolve_weights
from .base import INPUT_PREPS, Embedder, pool_grid
from .frames import FramePolicy, resolve_window

N_CHANNELS = 10
SIZES = ("tiny", "small", "base")
NORM_MODES = {
    "per_tile_zscore": "per_tile_zscore", "zscore": "per_tile_zscore", "tile_zscore": "per_tile_zscore",
    "unit_scale": "unit_scale", "unit": "unit_scale", "reflectance": "unit_scale",
    "raw": "raw", "none": "raw", "off": "raw",
}
UPSTREAM_REPO_URL = "https://github.com/gastruc/AnySat"
#: removed: it named a checkout whose hubconf.py was imported (code from a path); now an error
REPO_PATH_ENV = "RS_EMBED_ANYSAT_REPO_PATH"
DEFAULT_DOY0 = 182  # mid-year, used only when no date is known at all (as rs-embed)
#: series per forward when not set. On a CPU the forward is compute-bound and the network
#: runs a batch in cache-sized chunks (nn.anysat), so a series costs the same in a batch as
#: alone, and a batch of 8 makes 8x fewer calls (fewer thread fork/joins, which are what a
#: busy CPU makes slow); accelerators gain from large batches
DEFAULT_BATCH = {"cpu": 8, "mps": 16, "cuda": 32}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# -- settings: option > environment variable > default -------------------------------------
def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ModelError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def _parse_int(name: str, value: Any, *, minimum: int) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        iv = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise ModelError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if iv < minimum:
        raise ModelError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return iv


def _parse_norm(name: str, value: Any) -> str:
    key = str(value).strip().lower()
    if key not in NORM_MODES:
        raise ModelError(f"{name} must be one of per_tile_zscore, unit_scale (reflectance), "
                         f"raw (none), got {value!r}")
    return NORM_MODES[key]


def _parse_size(name: str, value: Any) -> str:
    key = str(value).strip().lower()
    key = {"t": "tiny", "s": "small", "b": "base"}.get(key, key)
    if key not in SIZES:
        raise ModelError(f"{name} must be one of {list(SIZES)}, got {value!r}")
    return key


def _parse_str(name: str, value: Any) -> str:
    return str(value)


#: knob -> (option names, environment variable, default, parser)
KNOBS: dict[str, tuple[tuple[str, ...], str | None, Any, Callable[..., Any]]] = {
    "frames": (("frames", "n_frames"), "RS_EMBED_ANYSAT_FRAMES", 8,
               lambda n, v: _parse_int(n, v, minimum=1)),
    "img": (("img", "image_size"), "RS_EMBED_ANYSAT_IMG", 24,
            lambda n, v: _parse_int(n, v, minimum=0)),
    "norm": (("norm", "normalization"), "RS_EMBED_ANYSAT_NORM", "per_tile_zscore", _parse_norm),
    "model_size": (("model_size", "variant"), "RS_EMBED_ANYSAT_MODEL_SIZE", "base", _parse_size),
    "flash_attn": (("flash_attn",), "RS_EMBED_ANYSAT_FLASH_ATTN", False, _parse_bool),
    "pretrained": (("pretrained",), "RS_EMBED_ANYSAT_PRETRAINED", True, _parse_bool),
    "repo_url": (("repo_url",), "RS_EMBED_ANYSAT_REPO_URL", UPSTREAM_REPO_URL, _parse_str),
    "repo_cache": (("repo_cache",), "RS_EMBED_ANYSAT_REPO_CACHE",
                   str(Path("~") / ".cache" / "rs_embed" / "anysat"), _parse_str),
    "auto_download_repo": (("auto_download_repo",), "RS_EMBED_ANYSAT_AUTO_DOWNLOAD_REPO", True,
                           _parse_bool),
    "fetch_workers": (("fetch_workers",), "RS_EMBED_ANYSAT_FETCH_WORKERS", 8,
                      lambda n, v: _parse_int(n, v, minimum=1)),
    # None: per device (DEFAULT_BATCH), resolved when the device is known
    "batch_size": (("batch_size",), "RS_EMBED_ANYSAT_BATCH_SIZE", None,
                   lambda n, v: _parse_int(n, v, minimum=1)),
    # the checkpoint path's environment variable (RS_EMBED_ANYSAT_CKPT) is read by the
    # shared weights resolver, so its precedence (explicit > env > cache > download) is one rule
    "ckpt": (("ckpt", "weights", "weights_path"), None, None, _parse_str),
    "allow_random_weights": (("allow_random_weights",), None, False, _parse_bool),
    "download": (("download",), None, True, _parse_bool),
    "allow_unverified": (("allow_unverified",), None, False, _parse_bool),
    # the opt-in fast path (engine/precision.py); the base Embedder applies it
    "precision": (("precision",), None, "fp32", lambda n, v: check_precision(v)),
}
_OPTION_NAMES = {o: k for k, (opts, _, _, _) in KNOBS.items() for o in opts}


def resolve_settings(options: dict[str, Any], environ: dict[str, str] | None = None
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """Effective settings and where each came from (``option`` | ``env:VAR`` | ``default``)."""
    env = os.environ if environ is None else environ
    if options.get("repo_path") is not None or env.get(REPO_PATH_ENV, "").strip():
        given = (f"model_options['repo_path']={options['repo_path']!r}" if options.get("repo_path") is not None
                 else f"{REPO_PATH_ENV}={env[REPO_PATH_ENV]!r}")
        raise ModelError(
            f"{given}: this setting was removed. It imported and ran <dir>/hubconf.py, i.e. code named by "
            f"a path in an option or a variable, which a shared model file or batch JSON could carry. "
            f"The built-in AnySat network (the official parameter names, checked against upstream "
            f"outputs) always runs; AnySat has no pip package that could be imported instead. Unset "
            f"it (see docs/anysat.md)")
    unknown = sorted(k for k in options if k not in _OPTION_NAMES)
    if unknown:
        raise ModelError(f"unknown AnySat model_options {unknown}; known: {sorted(_OPTION_NAMES)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for knob, (opts, var, default, parse) in KNOBS.items():
        given = [o for o in opts if o in options and options[o] is not None]
        if len(given) > 1:
            raise ModelError(f"AnySat options {given} name the same setting {knob!r}; pass one")
        if given:
            values[knob], sources[knob] = parse(f"model_options[{given[0]!r}]", options[given[0]]), "option"
        elif var and env.get(var, "").strip() != "":
            values[knob], sources[knob] = parse(var, env[var]), f"env:{var}"
        else:
            values[knob], sources[knob] = default, "default"
    return values, sources


# -- the input contract ----------------------------------------------------------------------
def coerce_tchw(arr: Any, frames: int) -> np.ndarray:
    """CHW -> repeated to ``frames``; TCHW -> padded with its last frame or truncated.

    NaN/inf become 0 and values are clipped to raw reflectance ``0..10000``.
    """
    raw = np.asarray(arr, dtype=np.float32)
    if raw.ndim == 3:
        if raw.shape[0] != N_CHANNELS:
            raise ModelError(f"anysat input_chw must be CHW with C={N_CHANNELS} "
                             f"(bands {list(S2_10)}), got shape {tuple(raw.shape)}")
        tchw = np.repeat(raw[None], frames, axis=0)
    elif raw.ndim == 4:
        if raw.shape[1] != N_CHANNELS:
            raise ModelError(f"anysat input_chw must be TCHW with C={N_CHANNELS} "
                             f"(bands {list(S2_10)}), got shape {tuple(raw.shape)}")
        if raw.shape[0] == 0:
            raise ModelError(f"anysat input has no frames, got shape {tuple(raw.shape)}")
        if raw.shape[0] < frames:
            tchw = np.concatenate([raw, np.repeat(raw[-1:], frames - raw.shape[0], axis=0)])
        else:
            tchw = raw[:frames]
    else:
        raise ModelError(f"anysat input_chw must be CHW (C,H,W) or TCHW (T,C,H,W), "
                         f"got shape {tuple(raw.shape)}")
    tchw = np.nan_to_num(tchw, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(tchw, 0.0, 10000.0).astype(np.float32)


def normalize_series(x: np.ndarray, mode: str) -> np.ndarray:
    """``per_tile_zscore``: per band over (T,H,W); ``unit_scale``: /10000 in [0,1]; ``raw``."""
    mode = _parse_norm("norm", mode)
    x = x.astype(np.float32, copy=False)
    if mode == "unit_scale":
        x = np.clip(x / 10000.0, 0.0, 1.0)
    elif mode == "per_tile_zscore":
        with np.errstate(invalid="ignore"):
            mu = np.nanmean(x, axis=(0, 2, 3), keepdims=True)
            sd = np.nanstd(x, axis=(0, 2, 3), keepdims=True)
        sd = np.maximum(np.where(np.isfinite(sd), sd, 0.0), 1e-6)
        x = (x - mu) / sd
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def doy0(day: _dt.date) -> int:
    """AnySat's day of year: 01/01 -> 0, 31/12 -> 364 (31/12 of a leap year -> 364 too)."""
    return max(0, min(364, day.timetuple().tm_yday - 1))


def frame_dates(patch: Patch, frames: int) -> tuple[list[_dt.date], str]:
    """Midpoint date of each of the ``frames`` bins, and where they came from."""
    mids = patch.frame_dates()
    source = "patch frame midpoints"
    if not mids and patch.temporal is not None:
        t = normalize_temporal(patch.temporal)
        mids = [b.mid for b in t.split(frames)]
        source = "temporal window split into frames"
    if not mids:
        return [], "none"
    if len(mids) < frames:
        mids = mids + [mids[-1]] * (frames - len(mids))
    return mids[:frames], source


def doy0_values(patch: Patch, frames: int) -> tuple[list[int], list[str], str]:
    mids, source = frame_dates(patch, frames)
    if not mids:
        return [DEFAULT_DOY0] * frames, [], f"default {DEFAULT_DOY0} (no temporal window or frame dates)"
    return [doy0(d) for d in mids], [d.isoformat() for d in mids], source


def check_patch_size(scale_m: Any) -> int:
    """``output.scale_m`` as AnySat's patch size: a positive multiple of 10 metres."""
    try:
        v = float(scale_m)
    except (TypeError, ValueError):
        v = float("nan")
    if not (v > 0 and v == int(v) and int(v) % 10 == 0):
        raise ModelError(f"anysat patch size = output.scale_m must be a positive multiple of 10 m "
                         f"(10, 20, 30, ...), got {scale_m!r}")
    return int(v)


def resize_tchw(x: np.ndarray, size: int) -> np.ndarray:
    """Every frame to ``size x size`` (bilinear with antialiasing)."""
    if size <= 0 or x.shape[-2:] == (size, size):
        return x
    import torch
    import torch.nn.functional as F

    t, c, h, w = x.shape
    out = F.interpolate(torch.from_numpy(np.ascontiguousarray(x)).reshape(t * c, 1, h, w),
                        size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.reshape(t, c, size, size).numpy()


def to_official_layout(sd: dict[str, Any]) -> dict[str, Any]:
    """Keys as in the official file (``AnyModule``), from a few common wrappings.

    A state dict saved from the hub wrapper holds ``model.*`` (the AnyModule) and a
    duplicate ``spatial_encoder.*``; ``module.`` comes from DataParallel.
    """
    if "model.cls_token" in sd:
        return {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


class AnySatEmbedder(Embedder):
    """AnySat on S2 time series; one instance per (options, device), thread-safe."""

    def __init__(self, spec: ModelEntry, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, device=device, **options)
        self.settings, self.sources = resolve_settings(self.options)
        s = self.settings
        self.frames = s["frames"]
        # the contract: T bins, every one fed (an empty bin is the provider's fill-value
        # composite); the shared policy records which were empty
        self.frame_policy = FramePolicy("fixed", self.frames, None, "keep")
        self.fetch_workers = s["fetch_workers"]
        self.image_size = s["img"]
        dev = self.device.split(":")[0]
        self.batch_size = s["batch_size"] or DEFAULT_BATCH.get(dev, 4)
        self._lock = threading.RLock()
        self._model: Any = None
        self._model_meta: dict[str, Any] = {}
        self.weights_meta = {"status": "not loaded yet"}

    # -- input --------------------------------------------------------------------------
    def resolve_temporal(self, temporal: TemporalSpec | None) -> TemporalSpec:
        """``year`` -> its range; ``None`` -> rs-embed's default window, with a warning."""
        return resolve_window(temporal, "anysat")

    def prepare_input_chw(self, arr: Any) -> np.ndarray:
        return coerce_tchw(arr, self.frames)

    def check_input_prep(self, input_prep: str) -> None:
        if input_prep not in INPUT_PREPS:
            raise ModelError(
                f"anysat input_prep must be 'resize' (the series resized to img="
                f"{self.image_size} px, the reference path) or 'tile' (native pixels cut into "
                f"img x img tiles, patch grids stitched), got {input_prep!r}")

    def series(self, patch: Patch, input_prep: str = "resize", scale: int = 1
               ) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Model inputs of one patch (``(T, 10, S, S)`` normalised tiles) and their metadata.

        ``resize``: one tile, the series resized to ``img``. ``tile``: the series is
        normalised as a whole (no seams between tiles), padded to whole tiles and cut into
        non-overlapping ``img x img`` tiles (so every patch sits on one grid).
        """
        raw = self.require_bands(patch, S2_10)
        tchw = coerce_tchw(raw, self.frames)
        h, w = (int(v) for v in tchw.shape[-2:])
        doys, mids, source = doy0_values(patch, self.frames)
        info: dict[str, Any] = {"input_hw": [h, w], "doy0_values": doys, "frame_mids": mids,
                                "doy_source": source, "n_frames_in": int(raw.shape[0]),
                                "frame_selection": self.frame_policy.select(patch).meta}
        size = self.image_size
        if input_prep == "resize":
            if size <= 0 and h != w:
                raise ModelError(f"anysat needs square frames; with img=0 (no resize) the input is "
                                 f"{h}x{w} px. Set img (RS_EMBED_ANYSAT_IMG) > 0 or use a square ROI")
            x = normalize_series(resize_tchw(tchw, size), self.settings["norm"])
            if x.shape[-1] // scale < 1:
                raise ModelError(
                    f"output.scale_m={scale * 10} m makes patches of {scale} px, larger than the "
                    f"{x.shape[-1]} px model input (img={size}); use a smaller scale_m or a larger img")
            info.update(layout=None, tiles=1)
            return [x], info
        if size <= 0 or size % scale:
            raise ModelError(f"input_prep='tile' needs img (RS_EMBED_ANYSAT_IMG) > 0 and a multiple of "
                             f"the patch of {scale} px (output.scale_m={scale * 10}), got img={size}")
        x = normalize_series(tchw, self.settings["norm"])
        # pad (reflect) to whole tiles: tiles do not overlap and every patch sits on the grid
        hp, wp = -(-h // size) * size, -(-w // size) * size
        if (hp, wp) != (h, w):
            mode = "reflect" if (hp - h < h and wp - w < w) else "edge"
            x = np.pad(x, ((0, 0), (0, 0), (0, hp - h), (0, wp - w)), mode=mode)
        ys, xs = list(range(0, hp, size)), list(range(0, wp, size))
        tiles = [x[:, :, y:y + size, x0:x0 + size] for y in ys for x0 in xs]
        info.update(layout=(ys, xs), padded_hw=[hp, wp], tiles=len(tiles),
                    valid_cells=[-(-h // scale), -(-w // scale)])
        return tiles, info

    @staticmethod
    def stitch(feats: Sequence[np.ndarray], info: dict[str, Any], scale: int) -> np.ndarray:
        """Tile patch grids ``(g, g, D)`` -> one ``(Hc, Wc, D)`` grid of the whole input."""
        ys, xs = info["layout"]
        hp, wp = info["padded_hw"]
        g, d = feats[0].shape[0], feats[0].shape[-1]
        out = np.zeros((hp // scale, wp // scale, d), np.float32)
        k = 0
        for y in ys:
            for x0 in xs:
                out[y // scale:y // scale + g, x0 // scale:x0 // scale + g] = feats[k]
                k += 1
        vh, vw = info["valid_cells"]
        return out[:vh, :vw]

    # -- model --------------------------------------------------------------------------
    def _weights_spec(self) -> WeightsSpec:
        """The catalog's source for this size (tiny/small: no published file, only yours)."""
        return self.spec.variant(self.settings["model_size"]).weights

    def _missing_weights_message(self, wspec: WeightsSpec) -> str:
        size = self.settings["model_size"]
        cache = cache_path(self.spec.id, wspec)
        where = (f"pass model_options={{'ckpt': '/path/to/AnySat.pth'}}, or set RS_EMBED_ANYSAT_CKPT, "
                 f"or put the file at {str(cache)!r}")
        if size == "base":
            official = f"The official file is {wspec.url} (Hugging Face {wspec.hf_repo}, {wspec.hf_filename})"
            dl = ("" if self.settings["download"] and not _offline() else
                  " Downloading is off (model_options download=False or HF_HUB_OFFLINE=1).")
            return f"no AnySat base checkpoint found: {where}. {official}.{dl}"
        return (f"no AnySat {size} checkpoint found and none is published (only 'base' is): {where}, "
                f"or use model_size='base'")

    def _build(self) -> Any:
        import torch

        from ..nn.anysat import AnySat

        s = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # random weights, when asked for, are reproducible
            runner = AnySat(s["model_size"], flash_attn=s["flash_attn"])
        self._model_meta = {"model_source": "rs_embed_qgis.engine.nn.anysat (built-in, official parameter names)"}
        wmeta: dict[str, Any]
        if s["pretrained"]:
            wspec = self._weights_spec()
            allow_dl = s["download"] and not _offline() and bool(wspec.hf_repo)
            user_path = bool(s["ckpt"]) or bool(os.environ.get(wspec.env_var or "", "").strip())
            note = None
            try:
                r = resolve_weights(self.spec.id, wspec, s["ckpt"], download=allow_dl,
                                    allow_unverified=s["allow_unverified"])
            except ModelError as exc:
                # a path the user named must exist; only a failed download may fall back
                if user_path or not s["allow_random_weights"]:
                    raise
                r, note = None, str(exc)
            if r is not None and r.path is not None:
                from ..weights import load_into

                sd = to_official_layout(load_state_dict_safely(r.path))
                load_into(runner, sd, r.path)
                wmeta = {"status": "pretrained", **r.describe(), "n_tensors": len(sd),
                         "hf_repo": self.spec.weights.hf_repo, "hf_filename": self.spec.weights.hf_filename}
            elif s["allow_random_weights"]:
                wmeta = {"status": "random", "seed": 0, "reason":
                         "allow_random_weights=True and " + (note or self._missing_weights_message(wspec))}
            else:
                raise ModelError(self._missing_weights_message(wspec))
        else:
            wmeta = {"status": "random", "seed": 0,
                     "reason": f"pretrained=False ({self.sources['pretrained']})"}
        runner = self.with_precision(runner.to(self.device).eval())
        self.weights_meta = wmeta
        return runner

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    # -- inference ------------------------------------------------------------------------
    def forward_batch(self, x: np.ndarray, dates: np.ndarray, patch_size_m: int) -> np.ndarray:
        """``(B,T,10,S,S)``, ``(B,T)`` -> ``(B, g, g, D)`` in chunks of ``batch_size``."""
        import torch

        model = self.model()
        outs = []
        cuda = self.device.startswith("cuda")
        bs = forward_batch(self.batch_size)  # 1 when the caller asked for prompt cancel
        with self._lock, torch.inference_mode():
            for i in range(0, x.shape[0], bs):
                check_cancelled()  # a cancel stops between forward batches
                xb = torch.from_numpy(np.ascontiguousarray(x[i:i + bs]))
                db = torch.from_numpy(np.ascontiguousarray(dates[i:i + bs]))
                if cuda:
                    xb, db = xb.pin_memory(), db.pin_memory()
                xb = xb.to(self.device, non_blocking=cuda)
                db = db.to(self.device, non_blocking=cuda)
                try:
                    with self.precision_scope():
                        out = model({"s2": xb, "s2_dates": db}, patch_size=patch_size_m, output="patch")
                except (ValueError, AssertionError, RuntimeError) as exc:
                    raise ModelError(f"AnySat forward failed on input {tuple(xb.shape)} with "
                                     f"patch_size={patch_size_m}: {exc}") from exc
                outs.append(out.float().cpu().numpy())
        return np.concatenate(outs, axis=0)

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        self.check_input_prep(input_prep)
        patch_size_m = check_patch_size(output.scale_m)
        scale = patch_size_m // 10
        t0 = time.perf_counter()
        prepared = [self.series(p, input_prep, scale) for p in patches]
        # every tile of every patch, grouped by shape (all equal unless img=0), run in true batches
        flat = [(i, k) for i, (tiles, _) in enumerate(prepared) for k in range(len(tiles))]
        groups: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for i, k in flat:
            groups.setdefault(tuple(prepared[i][0][k].shape), []).append((i, k))
        feats: dict[tuple[int, int], np.ndarray] = {}
        for members in groups.values():
            check_cancelled()  # a cancel stops between forward batches
            xs = np.stack([prepared[i][0][k] for i, k in members])
            ds = np.asarray([prepared[i][1]["doy0_values"] for i, _ in members], dtype=np.int64)
            out = self.forward_batch(xs, ds, patch_size_m)
            for j, key in enumerate(members):
                feats[key] = out[j]
        elapsed = time.perf_counter() - t0
        results = []
        for i, (patch, (tiles, info)) in enumerate(zip(patches, prepared, strict=True)):
            parts = [feats[(i, k)] for k in range(len(tiles))]
            feat = parts[0] if info["layout"] is None else self.stitch(parts, info, scale)
            results.append(self._embedding(patch, feat, info, output, input_prep, patch_size_m,
                                           elapsed / len(patches)))
        return results

    def _embedding(self, patch: Patch, feat: np.ndarray, info: dict[str, Any], output: OutputSpec,
                   input_prep: str, patch_size_m: int, seconds: float) -> Embedding:
        grid = np.ascontiguousarray(np.transpose(feat, (2, 0, 1))).astype(np.float32)   # D,H,W
        d, gh, gw = grid.shape
        s = self.settings
        meta = self.base_meta(output, input_prep)
        meta.update(self._model_meta)
        t = normalize_temporal(patch.temporal) if patch.temporal is not None else None
        meta.update({
            "model_size": s["model_size"], "flash_attn": s["flash_attn"], "pretrained": s["pretrained"],
            "normalization": s["norm"], "image_size": self.image_size, "input_hw": info["input_hw"],
            "n_frames": self.frames, "n_frames_in": info["n_frames_in"],
            "doy0_values": info["doy0_values"], "frame_mids": info["frame_mids"],
            "doy_source": info["doy_source"], "s2_dates_shape": [1, self.frames],
            "frame_selection": info["frame_selection"],
            "start": t.start if t else None, "end": t.end if t else None,
            "patch_size_m": patch_size_m, "patch_px": patch_size_m // 10,
            "patch_output": "patch", "patch_output_hw": [gh, gw], "feature_dim": d,
            "grid_hw": [gh, gw], "grid_shape": [d, gh, gw], "grid_kind": "patch_tokens",
            "pixels_used": ([gh * (patch_size_m // 10), gw * (patch_size_m // 10)]
                            if info["layout"] is None else info["input_hw"]),
            "tiles": info["tiles"], "grid_cell_px": patch_size_m // 10,
            "batch_size": self.batch_size, "settings_source": dict(self.sources),
            "repo": {"url": s["repo_url"], "cache": s["repo_cache"], "auto_download_repo": False,
                     "auto_download_repo_requested": s["auto_download_repo"],
                     "note": "upstream code is never fetched, imported or run: the built-in network runs"},
            "hf_repo": self.spec.weights.hf_repo, "hf_filename": self.spec.weights.hf_filename,
            "infer_seconds_per_item": seconds,
        })
        if output.mode == "pooled":
            vec = pool_grid(grid, output.pooling)
            meta.update(pooling=f"patch_{output.pooling}", pooled_from=f"patch grid ({output.pooling})",
                        pooled_shape=[int(vec.shape[0])])
            return Embedding(vec, meta)
        return Embedding(self._grid_array(grid, patch, meta), meta)

    @staticmethod
    def _grid_array(grid: np.ndarray, patch: Patch, meta: dict[str, Any]) -> Any:
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - xarray is a core dependency
            return grid
        d, h, w = grid.shape
        coords: dict[str, Any] = {"band": np.arange(d)}
        if patch.grid is not None:
            a, _, c, _, e, f = patch.grid.coarsen(h, w)[:6]
            coords["x"] = c + a * (np.arange(w) + 0.5)
            coords["y"] = f + e * (np.arange(h) + 0.5)
        attrs = {"model": "anysat", "grid_kind": "patch_tokens", "patch_size_m": meta["patch_size_m"],
                 "normalization": meta["normalization"], "n_frames": meta["n_frames"],
                 "random_weights": int(bool(meta["random_weights"]))}
        return xr.DataArray(grid, dims=("band", "y", "x"), coords=coords, attrs=attrs, name="embedding")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
