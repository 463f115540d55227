"""WildSAT (Daroya et al. 2025) satellite models in plain torch, with the parameter names
of the upstream ``SingleTaskModel`` (github cvl-umass/wildsat ``models/get_model.py``):
``backbone`` is one of torchvision's ``vit_b_16``, ``resnet50`` or ``swin_t`` (their
1000-way ImageNet heads kept, as WildSAT fine-tunes them) and ``decoder`` the three
bias-free linear maps of ``ThreeLinearModel`` from the backbone's 1000-d output into
WildSAT's shared spaces: ``backbone1`` text, ``backbone2`` location (SINR),
``backbone3`` image. A checkpoint's ``satellite_state_dict`` loads unchanged (after the
``module.`` prefix of its data-parallel training, which the upstream quickstart strips).

torchvision names, ViT-B/16: ``class_token``, ``conv_proj``, ``encoder.pos_embedding``,
``encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_weight/in_proj_bias/
out_proj, ln_2, mlp.0, mlp.3}``, ``encoder.ln``, ``heads.head`` (LayerNorm eps 1e-6).
ResNet-50: ``conv1``, ``bn1``, ``layerN.M.{conv1..3, bn1..3, downsample.0/1}``, ``fc``.
Swin-T: ``features.0`` (patch convolution, LayerNorm), ``features.{1,3,5,7}.M`` blocks
(``norm1``, ``attn.{qkv, proj, relative_position_bias_table, relative_position_index}``,
``norm2``, ``mlp.0/3``), ``features.{2,4,6}`` patch merging (``norm``, ``reduction``),
``norm``, ``head`` (LayerNorm eps 1e-5).

Every backbone's ``tokens`` returns its last feature map as row-major tokens (ViT:
patch tokens after ``encoder.ln``, class token dropped; ResNet: ``layer4``; Swin: after
``norm``) and the vector its ImageNet head reads (class token; average pool).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .clip_visual import PackedMHA
from .vit import vit_flops

#: the decoder's output spaces, in ThreeLinearModel's order
HEADS = {"text": "backbone1", "location": "backbone2", "image": "backbone3"}


@dataclass(frozen=True)
class WildSATViTConfig:
    image_size: int = 224
    patch_size: int = 16
    hidden_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    num_classes: int = 1000   # torchvision's ImageNet head, which WildSAT keeps and tunes
    embed_dim: int = 256      # WildSAT's common embedding space (opt.common_embed_dim)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class WildSATResNetConfig:
    """torchvision ``resnet50``: Bottleneck blocks (stride on the 3x3), widths x4 out.
    WildSAT trains it on whole 512 px SatlasPretrain tiles (only ViTs get 224 px)."""

    image_size: int = 512
    layers: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 64
    num_classes: int = 1000
    embed_dim: int = 256

    @property
    def patch_size(self) -> int:  # one layer4 cell per 32 px
        return 32

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class WildSATSwinConfig:
    """torchvision ``swin_t``: 4 px patches, 7 x 7 windows, widths 96 -> 768; 512 px tiles."""

    image_size: int = 512
    embed_dim_swin: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    num_classes: int = 1000
    embed_dim: int = 256

    @property
    def patch_size(self) -> int:  # one last-stage cell per 32 px
        return 4 * 2 ** (len(self.depths) - 1)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class EncoderBlock(nn.Module):
    def __init__(self, cfg: WildSATViTConfig) -> None:
        super().__init__()
        d = cfg.hidden_dim
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = PackedMHA(d, cfg.num_heads)  # nn.MultiheadAttention's parameters
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        # indices as torchvision's MLPBlock: 0 Linear, 1 GELU, 2 Dropout, 3 Linear
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_dim), nn.GELU(), nn.Identity(), nn.Linear(cfg.mlp_dim, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, cfg: WildSATViTConfig, seq_len: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, cfg.hidden_dim).normal_(std=0.02))
        self.layers = nn.Sequential()
        for i in range(cfg.num_layers):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(cfg))
        self.ln = nn.LayerNorm(cfg.hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class TorchvisionViT(nn.Module):
    """torchvision's ``VisionTransformer``: ``(B, 3, 224, 224)`` -> tokens after ``encoder.ln``."""

    def __init__(self, cfg: WildSATViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = cfg.image_size // cfg.patch_size
        self.class_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden_dim))
        self.conv_proj = nn.Conv2d(3, cfg.hidden_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.encoder = Encoder(cfg, self.grid * self.grid + 1)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(cfg.hidden_dim, cfg.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        return self.encoder(torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1))

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self(x)
        return t[:, 1:], t[:, 0], self.heads(t[:, 0])

    def flops_per_image(self) -> float:
        c = self.cfg
        n = self.grid * self.grid
        return (vit_flops(n + 1, c.hidden_dim, c.num_layers, c.mlp_dim / c.hidden_dim)
                + 2 * n * 3 * c.patch_size ** 2 * c.hidden_dim)


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = (nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
                           if stride != 1 or inplanes != out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class TorchvisionResNet(nn.Module):
    """torchvision's ``resnet50``: tokens = the ``layer4`` map (stride 32), row-major."""

    def __init__(self, cfg: WildSATResNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        inplanes = w
        for i, n in enumerate(cfg.layers):
            planes = w * 2 ** i
            blocks = [Bottleneck(inplanes, planes, 1 if i == 0 else 2)]
            blocks += [Bottleneck(planes * 4, planes, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes * 4
        self.fc = nn.Linear(inplanes, cfg.num_classes)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        for i in range(len(self.cfg.layers)):
            x = getattr(self, f"layer{i + 1}")(x)
        pooled = x.mean(dim=(2, 3))
        return x.flatten(2).transpose(1, 2), pooled, self.fc(pooled)

    def flops_per_image(self) -> float:
        """Multiply-adds x 2 of every convolution and the head, counted on a 224 px input."""
        flops, size = 0.0, self.cfg.image_size

        def conv_hook(m, inp, out):
            nonlocal flops
            flops += 2.0 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

        hooks = [m.register_forward_hook(conv_hook) for m in self.modules() if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            self.tokens(torch.zeros(1, 3, size, size, device=self.fc.weight.device))
        for h in hooks:
            h.remove()
        return flops + 2.0 * self.fc.in_features * self.fc.out_features


class WindowAttention(nn.Module):
    """Swin's (shifted) window attention with its relative position bias, as torchvision's
    ``ShiftedWindowAttention`` (windows padded and rolled; masks between rolled regions)."""

    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()])        # 2, N
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", (rel[..., 0] * (2 * window - 1) + rel[..., 1]).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        ws = self.window
        x = F.pad(x, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        ph, pw = x.shape[1:3]
        sh = 0 if ws >= ph else self.shift  # a window as large as the map needs no shift
        sw = 0 if ws >= pw else self.shift
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        nwin = (ph // ws) * (pw // ws)
        t = x.view(b, ph // ws, ws, pw // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nwin, ws * ws, c)
        q, k, v = self.qkv(t).reshape(t.shape[0], ws * ws, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        n = ws * ws
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1)
        bias = bias.unsqueeze(0)                                     # 1, heads, N, N
        if sh or sw:
            region = x.new_zeros((ph, pw))
            count = 0
            for hs in ((0, -ws), (-ws, -sh), (-sh, None)):
                for wsl in ((0, -ws), (-ws, -sw), (-sw, None)):
                    region[hs[0]:hs[1], wsl[0]:wsl[1]] = count
                    count += 1
            region = region.view(ph // ws, ws, pw // ws, ws).permute(0, 2, 1, 3).reshape(nwin, n)
            mask = (region.unsqueeze(1) - region.unsqueeze(2)) != 0
            bias = (bias + mask.unsqueeze(1).to(x.dtype) * -100.0).repeat(b, 1, 1, 1)  # per window
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = self.proj(out.transpose(1, 2).reshape(t.shape[0], n, c))
        out = out.view(b, ph // ws, pw // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sh or sw:
            out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
        return out[:, :h, :w].contiguous()


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = WindowAttention(dim, heads, window, shift)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class _ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class TorchvisionSwin(nn.Module):
    """torchvision's ``swin_t``: tokens = the last stage after ``norm`` (stride 32), row-major."""

    def __init__(self, cfg: WildSATSwinConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d0 = cfg.embed_dim_swin
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, d0, 4, stride=4), _ToChannelsLast(),
                                                 nn.LayerNorm(d0, eps=1e-5))]
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads, strict=True)):
            dim = d0 * 2 ** i
            layers.append(nn.Sequential(*[
                SwinBlock(dim, heads, cfg.window_size, 0 if j % 2 == 0 else cfg.window_size // 2, cfg.mlp_ratio)
                for j in range(depth)]))
            if i < len(cfg.depths) - 1:
                layers.append(PatchMerging(dim))
        self.features = nn.Sequential(*layers)
        self.dim = d0 * 2 ** (len(cfg.depths) - 1)
        self.norm = nn.LayerNorm(self.dim, eps=1e-5)
        self.head = nn.Linear(self.dim, cfg.num_classes)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.norm(self.features(x))            # B, H, W, C
        pooled = x.mean(dim=(1, 2))
        return x.flatten(1, 2), pooled, self.head(pooled)

    def flops_per_image(self) -> float:
        """Dense layers x 2 (attention inside 7 x 7 windows), counted on a 224 px input."""
        c = self.cfg
        side = c.image_size // 4
        n, flops = side * side, 2.0 * side * side * 3 * 16 * c.embed_dim_swin
        for i, depth in enumerate(c.depths):
            d = c.embed_dim_swin * 2 ** i
            per_block = 2 * n * d * 3 * d + 2 * 2 * n * c.window_size ** 2 * d + 2 * n * d * d \
                + 2 * 2 * n * d * int(d * c.mlp_ratio)
            flops += depth * per_block
            if i < len(c.depths) - 1:
                n //= 4
                flops += 2 * n * 4 * d * 2 * d
        return flops + 2.0 * self.dim * c.num_classes


BACKBONES = {WildSATViTConfig: TorchvisionViT, WildSATResNetConfig: TorchvisionResNet,
             WildSATSwinConfig: TorchvisionSwin}


class WildSATSatelliteModel(nn.Module):
    """Returns the last feature map as tokens ``(B, L, C)``, the backbone output
    ``(B, 1000)`` (what upstream calls ``feats``) and the three decoder outputs
    ``(B, 256)`` by name."""

    def __init__(self, cfg: WildSATViTConfig | WildSATResNetConfig | WildSATSwinConfig = WildSATViTConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = BACKBONES[type(cfg)](cfg)
        self.decoder = nn.Module()
        for name in HEADS.values():
            self.decoder.add_module(name, nn.Sequential(nn.Linear(cfg.num_classes, cfg.embed_dim, bias=False)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        tokens, _, feats = self.backbone.tokens(x)
        return tokens, feats, {k: getattr(self.decoder, v)(feats) for k, v in HEADS.items()}

    def flops_per_image(self) -> float:
        return self.backbone.flops_per_image()
