"""Figures and signal diagnostics of forecasts (the reference's visualize / diagnose_signal steps).

Figures are written as PNGs with matplotlib's Agg backend (no display needed).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import CONTEXT_FRAMES, S2_BANDS, TARGET_FRAMES, NormStats, build_sample, read_minicube
from .scoring import ndvi


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def _rgb(refl: np.ndarray) -> np.ndarray:
    rgb = np.stack([refl[2], refl[1], refl[0]], -1)
    return np.clip(np.nan_to_num(rgb) / 0.25, 0, 1)


def predict_sample(model, norm: NormStats, path: str | Path) -> dict[str, Any]:
    """Model deltas, true deltas and reflectances of one minicube with targets."""
    import torch

    cube = read_minicube(path)
    s = build_sample(cube, norm, context_frames=model.cfg.context_frames,
                     target_frames=model.cfg.target_frames)
    with torch.no_grad():
        pred = model({k: torch.from_numpy(v)[None] for k, v in s["inputs"].items()})[0].numpy()
    y = s["y"]
    return {"name": Path(path).stem, "pred_delta": pred, "true_delta": y[:, 1:5], "mask": y[:, 0] > 0.5,
            "bap": s["bap"], "pred_refl": norm.denormalize(s["bap"][None] + pred, axis=1),
            "true_refl": cube.reflectance[CONTEXT_FRAMES:CONTEXT_FRAMES + TARGET_FRAMES],
            "bap_refl": norm.denormalize(s["bap"], axis=0), "dates": s["target_dates"]}


def plot_prediction(sample: dict[str, Any], out_path: str | Path,
                    horizons: Sequence[int] = (0, 5, 10, 19)) -> Path:
    """BAP, true and predicted RGB at a few horizons, plus the mean clear-sky NDVI curve."""
    plt = _plt()
    fig, axes = plt.subplots(3, len(horizons) + 1, figsize=(3 * (len(horizons) + 1), 9))
    axes[0, 0].imshow(_rgb(sample["bap_refl"]))
    axes[0, 0].set_title("BAP (last input)")
    for j, h in enumerate(horizons, start=1):
        t = np.where(sample["mask"][h][None], sample["true_refl"][h], np.nan)
        axes[0, j].imshow(_rgb(t))
        axes[0, j].set_title(f"true {sample['dates'][h].isoformat()}")
        axes[1, j].imshow(_rgb(sample["pred_refl"][h]))
        axes[1, j].set_title(f"forecast +{5 * (h + 1)} d")
        d = ndvi(sample["pred_refl"][h][2], sample["pred_refl"][h][3]) - ndvi(
            sample["bap_refl"][2], sample["bap_refl"][3])
        im = axes[2, j].imshow(d, cmap="BrBG", vmin=-0.3, vmax=0.3)
        axes[2, j].set_title("NDVI change vs BAP", fontsize=9)
    fig.colorbar(im, ax=axes[2, 1:].tolist(), shrink=0.8)
    tn = ndvi(sample["true_refl"][:, 2], sample["true_refl"][:, 3])
    tn = np.where(sample["mask"], tn, np.nan)
    pn = ndvi(sample["pred_refl"][:, 2], sample["pred_refl"][:, 3])
    with np.errstate(all="ignore"):
        axes[1, 0].plot(np.nanmean(tn, axis=(1, 2)), "o-", label="observed (clear)")
        axes[1, 0].plot(np.nanmean(pn, axis=(1, 2)), "s-", label="forecast")
    axes[1, 0].set_title("mean NDVI by target frame")
    axes[1, 0].legend(fontsize=7)
    axes[2, 0].axis("off")
    for ax in axes[:, 1:].ravel():
        ax.axis("off")
    fig.suptitle(sample["name"])
    out = _save(fig, Path(out_path))
    plt.close(fig)
    return out


def signal_diagnostics(samples: list[dict[str, Any]], out_dir: str | Path) -> dict[str, Any]:
    """Does the forecast carry the signal? Per horizon and band: std of true vs predicted
    deltas, their correlation and the amplitude ratio |pred|/|true| over clear pixels.
    Writes ``signal_by_horizon.png``, ``delta_hist.png`` and ``signal.json``."""
    plt = _plt()
    out_dir = Path(out_dir)
    T = samples[0]["pred_delta"].shape[0]
    stats: dict[str, Any] = {"horizon_days": [5 * (h + 1) for h in range(T)], "bands": {}}
    all_p, all_t = [], []
    for b, band in enumerate(S2_BANDS):
        sd_t, sd_p, corr, ratio = [], [], [], []
        for h in range(T):
            p = np.concatenate([s["pred_delta"][h, b][s["mask"][h]] for s in samples])
            t = np.concatenate([s["true_delta"][h, b][s["mask"][h]] for s in samples])
            if b == 3:
                all_p.append(p)
                all_t.append(t)
            if p.size < 3:
                sd_t.append(np.nan), sd_p.append(np.nan), corr.append(np.nan), ratio.append(np.nan)
                continue
            sd_t.append(float(t.std()))
            sd_p.append(float(p.std()))
            corr.append(float(np.corrcoef(p, t)[0, 1]) if t.std() > 0 and p.std() > 0 else float("nan"))
            ratio.append(float(np.abs(p).mean() / max(np.abs(t).mean(), 1e-8)))
        stats["bands"][band] = {"std_true": sd_t, "std_pred": sd_p, "corr": corr, "amplitude_ratio": ratio}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    x = stats["horizon_days"]
    for i, (band, d) in enumerate(stats["bands"].items()):
        c = f"C{i}"
        axes[0].plot(x, d["std_true"], "-", color=c, label=f"{band} true")
        axes[0].plot(x, d["std_pred"], "--", color=c, label=f"{band} pred")
        axes[1].plot(x, d["corr"], color=c, label=band)
        axes[2].plot(x, d["amplitude_ratio"], color=c, label=band)
    axes[0].set_title("std of deltas (clear pixels)")
    axes[1].set_title("corr(pred, true)")
    axes[2].set_title("mean |pred| / mean |true|")
    axes[2].axhline(1.0, color="k", lw=0.5)
    for ax in axes:
        ax.set_xlabel("horizon (days)")
        ax.legend(fontsize=6)
    _save(fig, out_dir / "signal_by_horizon.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    p, t = np.concatenate(all_p), np.concatenate(all_t)
    rng = (float(min(p.min(), t.min())), float(max(p.max(), t.max()))) if p.size else (-1, 1)
    ax.hist(t, bins=60, range=rng, alpha=0.5, label="true B8A delta")
    ax.hist(p, bins=60, range=rng, alpha=0.5, label="predicted B8A delta")
    ax.legend()
    _save(fig, out_dir / "delta_hist.png")
    plt.close(fig)
    stats["n_samples"] = len(samples)
    (out_dir / "signal.json").write_text(json.dumps(stats, indent=2))
    return stats
