"""The S2DR3 ViT-L/16 backbone, as described in reference/s2dr3-backbone.md.

24 pre-norm blocks of 1024-dim tokens, 16 heads; a learned ``cls_token``, four
``register_tokens`` and a ``mask_token``; patch embedding ``Conv2d(3, 1024, 16,
stride=16)``; separate q/k/v projections where q and v have a bias and k has
none; LayerScale ``lambda1``/``lambda2`` initialised to 1e-5; MLP 1024 -> 4096
-> 1024 with GELU; a final LayerNorm; no absolute position embedding (the
reference found none in the checkpoint, so tokens carry no position here).

Our key names::

    cls_token (1,1,D)  register_tokens (1,R,D)  mask_token (1,D)
    patch_embed.proj.{weight,bias}
    blocks.{i}.norm1.{weight,bias}
    blocks.{i}.attn.{q_proj.weight,q_proj.bias,k_proj.weight,v_proj.weight,v_proj.bias}
    blocks.{i}.attn.proj.{weight,bias}
    blocks.{i}.lambda1  blocks.{i}.lambda2
    blocks.{i}.norm2.{weight,bias}  blocks.{i}.mlp.fc{1,2}.{weight,bias}
    norm.{weight,bias}

:func:`load_backbone_from_safetensors` also maps the Hugging Face
``Dinov2WithRegisters`` names (``embeddings.*``, ``encoder.layer.{i}.*``,
``layernorm.*``) and the DINOv2/timm fused ``attn.qkv`` layout (split on load;
its key bias must be zero) onto these.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from ..nn.vit import Mlp  # same fc1/fc2 key layout


@dataclass(frozen=True)
class BackboneConfig:
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 16
    in_chans: int = 3
    num_register_tokens: int = 4
    layerscale_init: float = 1e-5
    layerscale: str = "channel"   # "channel": (D,) per block, "scalar": (1,) per block
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ModelError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.layerscale not in ("channel", "scalar"):
            raise ModelError(f"layerscale must be 'channel' or 'scalar', got {self.layerscale!r}")

    def to_dict(self) -> dict:
        return asdict(self)


VIT_L16 = BackboneConfig()


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim, bias=True)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, h, d // h).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.q_proj(x)), heads(self.k_proj(x)),
                                             heads(self.v_proj(x)))
        return self.proj(out.transpose(1, 2).reshape(b, n, d))




class Block(nn.Module):
    def __init__(self, c: BackboneConfig) -> None:
        super().__init__()
        d = c.embed_dim
        ls = (d,) if c.layerscale == "channel" else (1,)
        self.norm1 = nn.LayerNorm(d, eps=c.norm_eps)
        self.attn = Attention(d, c.num_heads)
        self.lambda1 = nn.Parameter(torch.full(ls, c.layerscale_init))
        self.norm2 = nn.LayerNorm(d, eps=c.norm_eps)
        self.mlp = Mlp(d, int(d * c.mlp_ratio))
        self.lambda2 = nn.Parameter(torch.full(ls, c.layerscale_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.lambda1 * self.attn(self.norm1(x))
        return x + self.lambda2 * self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, c: BackboneConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(c.in_chans, c.embed_dim, c.patch_size, stride=c.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class S2DR3Backbone(nn.Module):
    """ViT-L/16 with registers and no position embedding; tokens ``[cls, registers, patches]``."""

    def __init__(self, config: BackboneConfig = VIT_L16) -> None:
        super().__init__()
        c = config
        self.config = c
        d = c.embed_dim
        self.patch_embed = PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, c.num_register_tokens, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)
        if not any(p.is_meta for p in self.parameters()):
            nn.init.normal_(self.cls_token, std=1e-6)
            nn.init.normal_(self.register_tokens, std=1e-6)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward_features(self, rgb: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """All tokens after the final norm, (B, 1 + R + N, D)."""
        c = self.config
        if rgb.ndim != 4 or rgb.shape[1] != c.in_chans:
            raise ModelError(f"backbone expects a (B, {c.in_chans}, H, W) tensor, got {tuple(rgb.shape)}")
        h, w = rgb.shape[-2:]
        if h % c.patch_size or w % c.patch_size:
            raise ModelError(f"image size {h}x{w} is not a multiple of the patch size {c.patch_size}; "
                             f"crop or pad it first")
        x = self.patch_embed(rgb)
        if masks is not None:
            if masks.shape != x.shape[:2]:
                raise ModelError(f"masks must have shape {tuple(x.shape[:2])} (batch, patches), "
                                 f"got {tuple(masks.shape)}")
            x = torch.where(masks.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        b = x.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.register_tokens.expand(b, -1, -1), x], 1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, rgb: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(rgb, masks)

    @torch.no_grad()
    def extract_tokens(self, rgb: torch.Tensor, masks: torch.Tensor | None = None
                       ) -> dict[str, torch.Tensor]:
        """``{"cls": (B,D), "registers": (B,R,D), "patch": (B,N,D), "grid": (B,D,H/16,W/16)}``."""
        tokens = self.forward_features(rgb, masks)
        r = self.config.num_register_tokens
        patch = tokens[:, 1 + r:]
        gh, gw = rgb.shape[-2] // self.config.patch_size, rgb.shape[-1] // self.config.patch_size
        return {"cls": tokens[:, 0], "registers": tokens[:, 1:1 + r], "patch": patch,
                "grid": patch.transpose(1, 2).reshape(patch.shape[0], -1, gh, gw)}


# --- checkpoint key layouts -------------------------------------------------------------

_HF_RULES = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.mask_token$", "mask_token"),
    (r"^embeddings\.register_tokens$", "register_tokens"),
    (r"^embeddings\.patch_embeddings\.projection\.(weight|bias)$", r"patch_embed.proj.\1"),
    (r"^encoder\.layer\.(\d+)\.norm([12])\.(weight|bias)$", r"blocks.\1.norm\2.\3"),
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.query\.(weight|bias)$", r"blocks.\1.attn.q_proj.\2"),
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.key\.(weight|bias)$", r"blocks.\1.attn.k_proj.\2"),
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.value\.(weight|bias)$", r"blocks.\1.attn.v_proj.\2"),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$", r"blocks.\1.attn.proj.\2"),
    (r"^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$", r"blocks.\1.lambda\2"),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc[12])\.(weight|bias)$", r"blocks.\1.mlp.\2.\3"),
    (r"^layernorm\.(weight|bias)$", r"norm.\1"),
]
_TIMM_RULES = [
    (r"^blocks\.(\d+)\.ls([12])\.gamma$", r"blocks.\1.lambda\2"),
    (r"^blocks\.(\d+)\.attn\.q\.(weight|bias)$", r"blocks.\1.attn.q_proj.\2"),
    (r"^blocks\.(\d+)\.attn\.k\.(weight|bias)$", r"blocks.\1.attn.k_proj.\2"),
    (r"^blocks\.(\d+)\.attn\.v\.(weight|bias)$", r"blocks.\1.attn.v_proj.\2"),
]


def backbone_key_map(keys) -> Callable[[str], str | None]:
    """A renaming function from a checkpoint's key layout to ours."""
    keys = list(keys)
    prefix = ""
    for p in ("module.", "backbone.", "model.", "encoder.backbone.", "dinov2."):
        if keys and all(k.startswith(p) for k in keys):
            prefix = p
            break
    rules = [(re.compile(a), b) for a, b in _HF_RULES + _TIMM_RULES]

    def rename(k: str) -> str | None:
        k = k[len(prefix):]
        if k == "mask_token" or k == "embeddings.mask_token":
            return "mask_token"
        for pat, rep in rules:
            if pat.match(k):
                return pat.sub(rep, k)
        return k

    return rename


def _qkv_transforms(files, rename) -> dict[str, Callable]:
    out = {}
    for keys in files.values():
        for k in keys:
            m = re.match(r"^(.*blocks\.(\d+)\.attn)\.qkv\.(weight|bias)$", k)
            if not m:
                continue
            i, kind = m.group(2), m.group(3)

            def split(t: torch.Tensor, i=i, kind=kind, key=k) -> dict[str, torch.Tensor]:
                q, kk, v = t.chunk(3, dim=0)
                res = {f"blocks.{i}.attn.q_proj.{kind}": q, f"blocks.{i}.attn.v_proj.{kind}": v}
                if kind == "weight":
                    res[f"blocks.{i}.attn.k_proj.weight"] = kk
                elif kk.abs().max() > 0:
                    raise ModelError(f"{key!r} has a non-zero key bias; this backbone's key "
                                     f"projection has no bias")
                return res

            out[k] = split
            # timm's separate q_bias / v_bias of a fused qkv
        for k in keys:
            m = re.match(r"^(.*blocks\.(\d+)\.attn)\.([qv])_bias$", k)
            if m:
                out[k] = _rename_to(f"blocks.{m.group(2)}.attn.{m.group(3)}_proj.bias")
    return out


def _rename_to(name: str) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    return lambda t: {name: t}


def _mask_token_fix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(1, -1)


def config_from_shapes(shapes: dict[str, tuple[int, ...]], num_heads: int | None = None
                       ) -> BackboneConfig:
    if "patch_embed.proj.weight" not in shapes:
        raise ModelError(f"checkpoint has no patch embedding ('patch_embed.proj.weight' or "
                         f"'embeddings.patch_embeddings.projection.weight'); "
                         f"first keys: {sorted(shapes)[:5]}")
    d, cin, p, _ = shapes["patch_embed.proj.weight"]
    depth = len({k.split(".")[1] for k in shapes if k.startswith("blocks.")})
    regs = shapes.get("register_tokens", (1, 0, d))[1]
    hidden = shapes.get("blocks.0.mlp.fc1.weight", (4 * d, d))[0]
    ls = shapes.get("blocks.0.lambda1", (d,))
    heads = num_heads or max(1, d // 64)
    return BackboneConfig(embed_dim=int(d), depth=int(depth), num_heads=int(heads),
                          mlp_ratio=hidden / d, patch_size=int(p), in_chans=int(cin),
                          num_register_tokens=int(regs),
                          layerscale="scalar" if tuple(ls) == (1,) else "channel")


def load_backbone_from_safetensors(path: Path | str, *, num_heads: int | None = None,
                                   device: str | torch.device = "cpu") -> S2DR3Backbone:
    """Build the backbone from a safetensors file (or a folder of chunks), streamed.

    The shape (width, depth, registers, patch size, LayerScale kind) is read
    from the file's header; ``num_heads`` defaults to width / 64 (16 for ViT-L).
    """
    from .loader import checkpoint_files, checkpoint_shapes, stream_into

    files = checkpoint_files(path)
    keys = [k for ks in files.values() for k in ks]
    rename = backbone_key_map(keys)
    transforms = _qkv_transforms(files, rename)
    shapes = checkpoint_shapes({f: [k for k in ks if k not in transforms] for f, ks in files.items()},
                               rename)
    for k in transforms:  # shapes of split qkv weights, for config inference
        m = re.match(r"^.*blocks\.(\d+)\.attn\.qkv\.weight$", k)
        if m and "patch_embed.proj.weight" in shapes:
            d = shapes["patch_embed.proj.weight"][0]
            shapes[f"blocks.{m.group(1)}.attn.q_proj.weight"] = (d, d)
    if "mask_token" in shapes and len(shapes["mask_token"]) == 3:  # some layouts store (1,1,D)
        mt_key = next(k for k in keys if rename(k) == "mask_token")
        transforms[mt_key] = lambda t: {"mask_token": _mask_token_fix(t)}
    config = config_from_shapes(shapes, num_heads)
    with torch.device("meta"):
        model = S2DR3Backbone(config)
    stream_into(model, files, key_map=rename, transforms=transforms, source=str(path))
    model.eval()
    return model.to(device)
