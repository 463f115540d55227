"""Test helpers for DOFA, Clay, TerraMind and SatVision: the committed key lists and
upstream references, weights generated from a key list (the rule the references were made
with), and checkpoints written the way the official files are written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

DATA = Path(__file__).parent / "data"


def official_keys(model: str) -> dict[str, Any]:
    return json.loads((DATA / f"{model}_official_keys.json").read_text())


def reference(model: str) -> dict[str, Any]:
    return json.loads((DATA / f"{model}_upstream_reference.json").read_text())


def generated_weights(keys_shapes, seed: int = 0) -> dict[str, torch.Tensor]:
    """``randn * 0.05`` per key in list order from one generator; +1 for 1-d norm weights."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in keys_shapes:
        t = torch.randn(tuple(shape), generator=g) * 0.05
        if "norm" in k and k.endswith(".weight") and t.ndim == 1:
            t = 1.0 + t
        sd[k] = t
    return sd


def save_dofa(path: Path, encoder: dict[str, torch.Tensor]) -> Path:
    """A plain state dict with the pretraining extras (mask token, distillation projector)."""
    d = encoder["cls_token"].shape[-1]
    torch.save({**encoder, "mask_token": torch.zeros(1, 1, d), "projector.weight": torch.randn(1024, d),
                "projector.bias": torch.zeros(1024)}, str(path))
    return path


def save_clay(path: Path, encoder: dict[str, torch.Tensor], extra: dict[str, Any] | None = None) -> Path:
    """A Lightning checkpoint: ``state_dict`` with the ClayMAE's ``model.*`` parts and the
    training bookkeeping Lightning saves beside it (all plain Python values)."""
    d = encoder["model.encoder.cls_token"].shape[-1]
    sd = dict(encoder)
    sd.update({"model.decoder.mask_patch": torch.randn(32), "model.decoder.enc_to_dec.weight": torch.randn(32, d),
               "model.decoder.transformer.norm.weight": torch.ones(32),
               "model.teacher.patch_embed.proj.weight": torch.randn(8, 3, 16, 16),
               "model.proj.weight": torch.randn(16, d), "model.proj.bias": torch.zeros(16)})
    ck = {"epoch": 76, "global_step": 1000, "pytorch-lightning_version": "2.1.2", "state_dict": sd,
          "hyper_parameters": {"model_size": "large", "mask_ratio": 0.75, "patch_size": 8,
                               "metadata_path": "configs/metadata.yaml", "teacher": "samvit_base_patch16.sa1b",
                               "dolls": [16, 32, 64, 128, 256, 768], "lr": 1e-5}}
    ck.update(extra or {})
    torch.save(ck, str(path))
    return path


def save_terramind(path: Path, encoder: dict[str, torch.Tensor]) -> Path:
    """The whole encoder-decoder, as ``TerraMind_v1_*.pt``: the encoder parts plus decoder-side
    keys (names of ``terramind_official_keys.json`` ``decoder_example``, small shapes)."""
    sd = dict(encoder)
    for k, shape in official_keys("terramind")["decoder_example"][:40]:
        sd[k] = torch.zeros([min(s, 4) for s in shape])
    torch.save(sd, str(path))
    return path


def save_satvision(path: Path, encoder: dict[str, torch.Tensor]) -> Path:
    """DeepSpeed model states: ``module`` = the MiMModel state dict, plus DeepSpeed's bookkeeping."""
    d = encoder["encoder.patch_embed.proj.weight"].shape[0]
    module = {**encoder, "encoder.mask_token": torch.zeros(1, 1, d),
              "decoder.0.weight": torch.randn(16, 8 * d, 1, 1), "decoder.0.bias": torch.zeros(16)}
    torch.save({"module": module, "buffer_names": [k for k in module if "relative_" in k], "optimizer": None,
                "lr_scheduler": None, "global_steps": 1000, "skipped_steps": 0, "dp_world_size": 8,
                "mp_world_size": 1, "ds_version": "0.14.0", "ds_config": {"train_batch_size": 512}}, str(path))
    return path
