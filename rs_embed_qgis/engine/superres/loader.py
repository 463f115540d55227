"""Streamed loading of (chunked) safetensors checkpoints into a model.

A checkpoint may be one ``.safetensors`` file, a folder of chunks with a Hugging
Face style ``model.safetensors.index.json`` (``{"weight_map": {key: file}}``), or
a plain folder of ``*.safetensors`` chunks. The model is first built on the
``meta`` device (no memory), then given uninitialised storage once
(``to_empty``), and every tensor is copied straight from its chunk into the
parameter it belongs to, one tensor at a time. Peak memory is the model plus one
tensor (plus the chunk's pages the OS maps in and can drop): never two copies of
the weights, as ``torch.load`` + ``load_state_dict`` would hold.

Only safetensors are read here: nothing is unpickled.
"""
from __future__ import annotations

import glob
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError
from ..progress import check_cancelled
from .decoder import S2x10Config, S2x10NetS, config_from_keys

INDEX_NAME = "model.safetensors.index.json"
KeyMap = Callable[[str], str | None]


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def checkpoint_files(path: Path | str) -> dict[Path, list[str]]:
    """The chunk files of a checkpoint and the keys each holds (headers only are read).

    ``path`` is a ``.safetensors`` file, an index json, or a folder (with or
    without an index json).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"weights path {str(p)!r} does not exist (expected a .safetensors file "
                         f"or a folder of .safetensors chunks)")
    index: Path | None = None
    if p.is_dir():
        cand = sorted(p.glob("*.safetensors.index.json"))
        if cand:
            index = cand[0]
            if len(cand) > 1:
                named = [c for c in cand if c.name == INDEX_NAME]
                if not named:
                    raise ModelError(f"folder {str(p)!r} holds several index files {[c.name for c in cand]}; "
                                     f"keep one")
                index = named[0]
    elif p.name.endswith(".index.json"):
        index = p
    elif p.suffix != ".safetensors":
        raise ModelError(f"weights file {str(p)!r} is not a .safetensors file or index json; "
                         f"convert pickled checkpoints to safetensors first")
    else:
        # one shard picked in a file dialog stands for its whole checkpoint
        index = _index_listing(p)
        shard = re.search(r"-\d+-of-(\d+)\.safetensors$", p.name)
        if index is None and shard:
            prefix = p.name[:shard.start()]
            mates = sorted(p.parent.glob(f"{glob.escape(prefix)}-*-of-{shard.group(1)}.safetensors"),
                           key=_natural_key)
            if len(mates) != int(shard.group(1)):
                raise ModelError(f"{p.name!r} is shard of {int(shard.group(1))} but {len(mates)} shards are "
                                 f"in {str(p.parent)!r}")
            return _plain_chunks(mates)

    files: dict[Path, list[str]] = {}
    if index is not None:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read index {str(index)!r}: expected JSON with a 'weight_map' "
                             f"object ({type(exc).__name__}: {exc})") from exc
        for key, fname in weight_map.items():
            files.setdefault(index.parent / fname, []).append(key)
        for f, keys in files.items():
            if not f.exists():
                raise ModelError(f"index {str(index)!r} names chunk {f.name!r} which is missing "
                                 f"(holds {len(keys)} tensors, e.g. {keys[0]!r})")
            have = set(_chunk_keys(f))
            lost = [k for k in keys if k not in have]
            if lost:
                raise ModelError(f"chunk {str(f)!r} lacks tensors the index assigns to it: {lost[:5]}")
        return files
    chunks = [p] if p.is_file() else sorted(p.glob("*.safetensors"), key=_natural_key)
    if not chunks:
        raise ModelError(f"folder {str(p)!r} holds no .safetensors chunks and no {INDEX_NAME}")
    return _plain_chunks(chunks)


def _index_listing(f: Path) -> Path | None:
    """The index json next to ``f`` that lists it, if any."""
    for idx in sorted(f.parent.glob("*.safetensors.index.json")):
        try:
            if f.name in set(json.loads(idx.read_text()).get("weight_map", {}).values()):
                return idx
        except (OSError, ValueError, AttributeError):
            continue
    return None


def _chunk_keys(f: Path) -> list[str]:
    """The tensor names of one chunk; a file that is not safetensors says what it is."""
    from safetensors import safe_open

    from ..weights import checkpoint_format, not_a_checkpoint

    if checkpoint_format(f) != "safetensors":
        raise not_a_checkpoint(f, "a torch file: this loader reads safetensors only, never pickles; "
                                  "convert it to safetensors first")
    try:
        with safe_open(str(f), framework="pt") as fh:
            return list(fh.keys())
    except Exception as exc:  # noqa: BLE001 - corrupt headers raise several kinds
        raise not_a_checkpoint(f, f"a damaged safetensors file: {type(exc).__name__}: {exc}") from None


def _plain_chunks(chunks: list[Path]) -> dict[Path, list[str]]:
    files: dict[Path, list[str]] = {}
    seen: dict[str, Path] = {}
    for f in chunks:
        keys = _chunk_keys(f)
        for k in keys:
            if k in seen:
                raise ModelError(f"tensor {k!r} appears in two chunks: {seen[k].name!r} and {f.name!r}")
            seen[k] = f
        files[f] = keys
    return files


def checkpoint_shapes(files: dict[Path, list[str]], key_map: KeyMap | None = None
                      ) -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor, from the chunk headers (no tensor data read)."""
    from safetensors import safe_open

    out: dict[str, tuple[int, ...]] = {}
    for f, keys in files.items():
        with safe_open(str(f), framework="pt") as fh:
            for k in keys:
                name = key_map(k) if key_map else k
                if name is not None:
                    out[name] = tuple(fh.get_slice(k).get_shape())
    return out


def stream_into(module: nn.Module, files: dict[Path, list[str]], *,
                key_map: KeyMap | None = None,
                transforms: dict[str, Callable[[torch.Tensor], dict[str, torch.Tensor]]] | None = None,
                source: str = "") -> nn.Module:
    """Fill every parameter and buffer of ``module`` from the chunks, one tensor at a time.

    ``module`` may live on the ``meta`` device: it gets real (uninitialised)
    storage once, then each tensor is copied in place. ``key_map`` renames
    checkpoint keys (``None`` drops a key); ``transforms[key]`` turns one
    checkpoint tensor into several module tensors (a fused qkv split in three).
    Missing, unexpected and mis-shaped tensors raise :class:`ModelError`.
    """
    from safetensors import safe_open

    if any(t.is_meta for t in module.state_dict().values()):
        module.to_empty(device="cpu")
    own = module.state_dict(keep_vars=True)
    filled: set = set()
    unexpected: list[str] = []
    src = source or (str(next(iter(files)).parent) if files else "?")

    def put(name: str, tensor: torch.Tensor, file: Path) -> None:
        if name not in own:
            unexpected.append(name)
            return
        target = own[name]
        if tuple(target.shape) != tuple(tensor.shape):
            raise ModelError(f"tensor {name!r} in {str(file)!r} has shape {tuple(tensor.shape)}, "
                             f"the model expects {tuple(target.shape)}")
        if name in filled:
            raise ModelError(f"tensor {name!r} is given twice (second time in {str(file)!r})")
        with torch.no_grad():
            target.data.copy_(tensor)
        filled.add(name)

    for f, keys in files.items():
        check_cancelled()  # a cancel stops between chunk files
        with safe_open(str(f), framework="pt") as fh:
            for k in keys:
                if transforms and k in transforms:
                    for name, t in transforms[k](fh.get_tensor(k)).items():
                        put(name, t, f)
                    continue
                name = key_map(k) if key_map else k
                if name is None:
                    continue
                put(name, fh.get_tensor(k), f)
    missing = [k for k in own if k not in filled]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        raise ModelError(f"checkpoint {src!r} does not match {type(module).__name__}: " + "; ".join(parts))
    return module


def _strip_prefix(keys: Iterable[str]) -> KeyMap:
    keys = list(keys)
    for prefix in ("module.", "decoder.", "model.", "net.", "generator.", "params_ema.", "params."):
        if keys and all(k.startswith(prefix) for k in keys):
            return lambda k, p=prefix: k[len(p):]
    return lambda k: k


def load_s2x10_from_chunks(path: Path | str, *, config: S2x10Config | None = None,
                           up_scales: tuple[int, ...] | None = None,
                           device: str | torch.device = "cpu") -> S2x10NetS:
    """Build :class:`S2x10NetS` from a folder of safetensors chunks (or one file), streamed.

    The network's shape (bands, width, blocks, growth, number of upsample stages)
    is read from the chunk headers unless ``config`` is given; ``up_scales`` sets
    the factor of each stage when a checkpoint has more than two (default
    ``(2, 5, 1, ...)``, always 10x in all).
    """
    files = checkpoint_files(path)
    all_keys = [k for keys in files.values() for k in keys]
    key_map = _strip_prefix(all_keys)
    if config is None:
        config = config_from_keys(checkpoint_shapes(files, key_map), up_scales)
    with torch.device("meta"):
        model = S2x10NetS(config)
    stream_into(model, files, key_map=key_map, source=str(path))
    model.eval()
    return model.to(device)
