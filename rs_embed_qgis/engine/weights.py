"""Checkpoint resolution, pinned and verified downloads, and safe loading, for every model.

Where a model's weights come from (``resolve_weights``): an explicit path >
the environment variable > the cache folder (``<cache>/weights/<model id>/``) >
a download of the official file, when allowed.

Downloads (``download_weights``) are pinned and checked. A Hugging Face file is
fetched at the commit recorded in the catalog (``revision``); a URL only over
https. Either is streamed to a temporary file, its sha256 compared with the
catalog's, and only then moved into the cache folder; a mismatch is a
:class:`ModelError` naming both hashes. Where no sha256 is published the
download needs ``allow_unverified=True``, and the sha256 seen is written to the
lock file ``<cache>/weights/weights.lock.json`` (trust on first use): a later
download or a cached file that differs is caught the same way.
``allow_unverified=True`` is the only way past a mismatch. Files a user names
(a path, the environment variable) are the user's and are not checked.

Files are read with safetensors or ``torch.load(weights_only=True)``
(``load_state_dict``): nothing a user did not make is ever unpickled, no
downloaded code is ever run, and a file that is not a checkpoint gets an error
saying what it is.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import ModelError

LOCK_NAME = "weights.lock.json"
LOCK_FORMAT = "rs_embed_qgis.weights-lock/1"
#: hosts plain http may be used with (a local mirror, the tests' server); everything else is https
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_lock_guard = threading.Lock()


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's official weights live and how to check them."""

    env_var: str | None = None          # e.g. RS_EMBED_ANYSAT_CKPT
    hf_repo: str | None = None          # official Hugging Face repo id
    hf_filename: str | None = None      # file in that repo
    hf_repo_type: str = "model"         # "dataset" for a file of a dataset repo (a precomputed product)
    revision: str | None = None         # the repo's commit hash the file is taken from
    url: str | None = None              # official https URL (used when there is no hf_repo)
    manual_url: str | None = None       # official page a person downloads from (Dropbox, Google
                                        # Drive): never fetched at run time, named in errors
    sha256: str | None = None           # where published (else None: trust on first use)
    md5: str | None = None              # where only an md5 is published (torchgeo's datasets)
    size_bytes: int | None = None       # where published
    cache_name: str | None = None       # file name in the cache folder; "." = the folder itself
    note: str = ""
    needs_weights: bool = True             # False for models like MOSAIKS (no training)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def downloadable(self) -> bool:
        return bool((self.hf_repo and self.hf_filename) or self.url)

    def source_key(self) -> str | None:
        """The identity of the official file (the lock file's key)."""
        if self.hf_repo and self.hf_filename:
            kind = "" if self.hf_repo_type == "model" else f"{self.hf_repo_type}s/"
            return f"hf:{kind}{self.hf_repo}@{self.revision or 'main'}/{self.hf_filename}"
        return f"url:{self.url}" if self.url else None

    def official_address(self) -> str | None:
        """Where a user downloads the file by hand."""
        if self.hf_repo and self.hf_filename:
            kind = "" if self.hf_repo_type == "model" else f"{self.hf_repo_type}s/"
            return f"https://huggingface.co/{kind}{self.hf_repo}/blob/{self.revision or 'main'}/{self.hf_filename}"
        return self.url or self.manual_url


def cache_dir() -> Path:
    """``RS_EMBED_CACHE`` or ``~/.cache/rs_embed_qgis``."""
    return Path(os.environ.get("RS_EMBED_CACHE") or Path.home() / ".cache" / "rs_embed_qgis")


def cache_path(model_id: str, spec: WeightsSpec) -> Path | None:
    """Where the cache keeps this file (or, for ``cache_name="."``, the folder of chunks)."""
    name = spec.cache_name or (Path(spec.hf_filename).name if spec.hf_filename else None) or (
        Path(urlparse(spec.url).path).name if spec.url else None)
    if not name:
        return None
    base = cache_dir() / "weights" / model_id
    return base if name == "." else base / name


def lock_path() -> Path:
    return cache_dir() / "weights" / LOCK_NAME


@dataclass
class ResolvedWeights:
    path: Path | None
    source: str  # explicit | env:<VAR> | cache | download | none
    spec: WeightsSpec = field(default_factory=WeightsSpec)
    verified: str = ""   # what the file was checked against

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "path": str(self.path) if self.path else None}
        if self.path and self.path.is_file():
            d["size_bytes"] = self.path.stat().st_size
        if self.verified:
            d["verified"] = self.verified
        return d


def _present(p: Path) -> bool:
    return p.is_file() or (p.is_dir() and any(p.iterdir()))


def resolve_weights(model_id: str, spec: WeightsSpec, explicit: str | os.PathLike | None = None, *,
                    download: bool = False, allow_unverified: bool = False,
                    verify: bool = True) -> ResolvedWeights:
    """Find the checkpoint (file or folder); ``download=True`` lets it fetch the official file.

    A cached file is checked against the catalog's (or the lock's) sha256 unless
    ``verify=False`` (for a quick look, e.g. ``describe_model``).
    """
    yours = "not checked: a file you chose"
    if explicit:
        p = Path(explicit).expanduser()
        if not p.exists():
            raise ModelError(f"weights file for {model_id!r} not found: {str(p)!r}")
        return ResolvedWeights(p, "explicit", spec, yours)
    if spec.env_var and os.environ.get(spec.env_var, "").strip():
        p = Path(os.environ[spec.env_var].strip()).expanduser()
        if not p.exists():
            raise ModelError(f"{spec.env_var}={str(p)!r} (weights of {model_id!r}) does not exist")
        return ResolvedWeights(p, f"env:{spec.env_var}", spec, yours)
    cached = cache_path(model_id, spec)
    if cached is not None and _present(cached):
        verified = _check_cached(model_id, spec, cached, allow_unverified) if verify else ""
        return ResolvedWeights(cached, "cache", spec, verified)
    if download and spec.downloadable:
        return download_weights(model_id, spec, allow_unverified=allow_unverified)
    return ResolvedWeights(None, "none", spec)


# -- the lock file: sha256 seen per official file, and the cached copy's stamp -------------------
def _read_lock() -> dict[str, Any]:
    p = lock_path()
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"weights lock file {str(p)!r} is unreadable ({type(exc).__name__}: {exc}); "
                         f"it records the sha256 of downloaded weights: fix or delete it (files "
                         f"are then checked again on their next download)") from exc
    return files


def _record(key: str, entry: dict[str, Any]) -> None:
    from .io import atomic_write_text

    with _lock_guard:
        files = _read_lock()
        files[key] = entry
        lock_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(lock_path(), json.dumps({"format": LOCK_FORMAT, "files": files}, indent=1,
                                                  sort_keys=True))


def _stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _expected(spec: WeightsSpec, locked: dict[str, Any] | None) -> tuple[str | None, str]:
    """The sha256 a file must have, and where that comes from."""
    if spec.sha256:
        return spec.sha256, "the catalog"
    if locked and locked.get("sha256"):
        return locked["sha256"], f"the lock file (trusted on first use, {locked.get('recorded', '?')})"
    return None, ""


def verification_policy(spec: WeightsSpec) -> str:
    """How a download of this file is checked (for ``describe_model``)."""
    if not spec.needs_weights:
        return "not needed"
    if not spec.downloadable:
        return "not downloaded (no published file): your own file, not checked"
    pinned = f", revision {spec.revision}" if spec.hf_repo and spec.revision else (
        ", revision not pinned" if spec.hf_repo else "")
    try:
        expected, how = _expected(spec, _read_lock().get(spec.source_key() or ""))
    except ModelError as exc:
        return str(exc)
    if expected:
        return f"sha256 from {how}{pinned}"
    if spec.md5:
        return f"md5 from the catalog{pinned}; the sha256 seen is then locked"
    return (f"no published sha256{pinned}: downloading needs allow_unverified=True, then the sha256 "
            f"seen is locked (trust on first use)")


def _mismatch(path: Any, got: str, expected: str, how: str, what: str) -> ModelError:
    return ModelError(
        f"weights file {str(path)!r} has sha256 {got}, expected {expected} (from {how}): {what}. "
        f"Delete it to download it again, pass a file you trust explicitly, or pass "
        f"allow_unverified=True to use it anyway")


def _check_cached(model_id: str, spec: WeightsSpec, path: Path, allow_unverified: bool) -> str:
    """Check a cached file against its expected sha256 (hashing only when it changed since)."""
    key = spec.source_key()
    locked = _read_lock().get(key) if key else None
    expected, how = _expected(spec, locked)
    if expected is None or path.is_dir():
        return "not checked: no published sha256 and not downloaded by this plugin"
    if locked and locked.get("sha256") == expected and locked.get("stamp") == _stamp(path):
        return f"sha256 checked against {how} when downloaded; unchanged since"
    got = sha256_of(path)
    if got != expected:
        if not allow_unverified:
            raise _mismatch(path, got, expected, how, "the cached file is not the one expected")
        return f"UNVERIFIED (allow_unverified=True): sha256 {got} differs from {expected}"
    _record(key, {**(locked or {}), "sha256": got, "model": model_id, "stamp": _stamp(path),
                  "recorded": _since(locked, got)})
    return f"sha256 checked against {how}"


def _since(locked: dict[str, Any] | None, sha256: str) -> str:
    """When the lock first saw this sha256 (now, if it is new)."""
    if locked and locked.get("sha256") == sha256 and locked.get("recorded"):
        return locked["recorded"]
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- downloads -----------------------------------------------------------------------------------
def download_weights(model_id: str, spec: WeightsSpec, *, allow_unverified: bool = False) -> ResolvedWeights:
    """Fetch the official file (pinned, sha256-checked) into the cache folder.

    Refused before any byte is fetched when there is no sha256 to check against
    (neither in the catalog nor in the lock file) unless ``allow_unverified=True``.
    """
    key = spec.source_key()
    dest = cache_path(model_id, spec)
    if key is None or dest is None:
        raise ModelError(f"weights of {model_id!r} have no official file to download; pass your own file")
    locked = _read_lock().get(key)
    expected, how = _expected(spec, locked)
    where = spec.official_address()
    if expected is None and not spec.md5 and not allow_unverified:
        raise ModelError(
            f"the weights of {model_id!r} ({where}) have no published sha256, so a download cannot be "
            f"verified. Download it yourself and pass its path{_env_hint(spec)}, or pass "
            f"allow_unverified=True (model_options) to download it and trust the file seen now: its "
            f"sha256 is then recorded in {str(lock_path())!r} and every later copy is checked against it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".download", dir=dest.parent))
    try:
        try:
            if spec.hf_repo and spec.hf_filename:
                kind = {} if spec.hf_repo_type == "model" else {"repo_type": spec.hf_repo_type}
                got_path = Path(_hub_download(repo_id=spec.hf_repo, filename=spec.hf_filename,
                                              revision=spec.revision or "main", local_dir=str(work), **kind))
                got = sha256_of(got_path)
            else:
                got_path = work / dest.name
                got = _fetch_https(spec.url or "", got_path)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - offline, HTTP errors, hub errors ...
            raise ModelError(f"could not download weights of {model_id!r} from {where}: "
                             f"{type(exc).__name__}: {exc}. Download it yourself and pass its path"
                             f"{_env_hint(spec)}.") from exc
        size = got_path.stat().st_size
        if spec.size_bytes is not None and size != spec.size_bytes and not allow_unverified:
            raise ModelError(f"download of {where} has {size} bytes, expected {spec.size_bytes} "
                             f"(truncated or another file)")
        if expected is None and spec.md5:
            md5 = sha256_of(got_path, algorithm="md5")
            if md5 != spec.md5 and not allow_unverified:
                raise ModelError(f"download of {where} has md5 {md5}, expected {spec.md5} (from the catalog): "
                                 f"the server sent another file than the one pinned")
            verified = (f"md5 checked against the catalog; sha256 {got} recorded in {str(lock_path())!r}"
                        if md5 == spec.md5 else f"UNVERIFIED (allow_unverified=True): md5 {md5} differs")
        elif expected is None:
            verified = f"trusted on first use: sha256 {got} recorded in {str(lock_path())!r}"
        elif got == expected:
            verified = f"sha256 checked against {how}"
        elif allow_unverified:
            verified = f"UNVERIFIED (allow_unverified=True): sha256 {got} differs from {expected}"
        else:
            raise _mismatch(where, got, expected, how, "the server sent another file than the one pinned")
        from .io import publish

        publish(got_path, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # the lock keeps the file the user accepted (a catalog hash is still checked first next time)
    _record(key, {"sha256": got, "model": model_id, "source": where, "stamp": _stamp(dest),
                  "recorded": _since(locked, got)})
    return ResolvedWeights(dest, "download", spec, verified)


def _env_hint(spec: WeightsSpec) -> str:
    return f" (model_options weights=..., or {spec.env_var})" if spec.env_var else " (model_options weights=...)"


def _hub_download(*, repo_id: str, filename: str, revision: str, local_dir: str, **kw: Any) -> str:
    """``huggingface_hub.hf_hub_download`` at a given revision (one place, so tests can stand
    in for the hub); ``kw``: ``repo_type="dataset"`` for a dataset's file."""
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id=repo_id, filename=filename, revision=revision, local_dir=local_dir, **kw)


def check_url(url: str) -> str:
    """Refuse anything but https (plain http only to a loopback host: local mirrors, tests)."""
    u = urlparse(url)
    if u.scheme == "https" and u.hostname:
        return url
    if u.scheme == "http" and u.hostname in LOOPBACK:
        return url
    raise ModelError(f"refusing to download {url!r}: weights are only fetched over https")


def _fetch_https(url: str, dest: Path, chunk: int = 1 << 20) -> str:
    """Stream ``url`` into ``dest`` (https only, redirects too); returns the sha256 of what came."""
    import urllib.request

    class _HttpsRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            check_url(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.build_opener(_HttpsRedirects)
    h = hashlib.sha256()
    n = 0
    with opener.open(check_url(url), timeout=60) as resp, open(dest, "wb") as out:
        declared = resp.headers.get("Content-Length")
        while block := resp.read(chunk):
            out.write(block)
            h.update(block)
            n += len(block)
    if declared is not None and int(declared) != n:
        raise ModelError(f"download of {url} stopped after {n} of {declared} bytes")
    return h.hexdigest()


def fetch_file(url: str, dest: Path, *, sha256: str | None = None) -> Path:
    """Download one published data file (e.g. a product tile) over https into ``dest``:
    streamed to a temporary file beside it, its sha256 checked when known, then renamed,
    so a failed or rejected download leaves nothing behind."""
    from .io import publish

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        got = _fetch_https(url, Path(tmp))
        if sha256 and got != sha256:
            raise ModelError(f"download of {url} has sha256 {got}, expected {sha256} (from its registry); "
                             f"not kept")
        publish(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def sha256_of(path: Path, chunk: int = 1 << 20, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# -- reading checkpoints -------------------------------------------------------------------------
def not_a_checkpoint(path: Path | str, found: str) -> ModelError:
    return ModelError(f"{str(path)!r} is not a PyTorch or safetensors checkpoint ({found})")


def _looks_like(head: bytes) -> str:
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"text starting with {head[:40].decode('ascii')!r}"
    return f"unrecognised binary data starting with {head[:8].hex(' ')}"


def _why_unreadable(fmt: str, exc: Exception) -> str:
    """What a failed read says about the file, in our words: torch's own message may advise
    unpickling (``weights_only=False``), which users must never be told to do."""
    text = str(exc)
    names = sorted(set(_GLOBAL.findall(text)))
    if names:
        return (f"it holds Python objects besides tensors ({', '.join(names)}), which this plugin never "
                f"unpickles; only tensors are read")
    if "magic number" in text.lower() or "unsupported operand" in text.lower():
        return "a Python pickle that is not a torch checkpoint"
    if "weights only" in text.lower() or "weights_only" in text:
        return "it holds data besides tensors, which this plugin never unpickles; only tensors are read"
    first = text.splitlines()[0][:200] if text else "unreadable"
    return f"a damaged {fmt} file ({type(exc).__name__}: {first})"


def checkpoint_format(path: Path | str) -> str:
    """``"safetensors"``, ``"torch-zip"`` or ``"torch-pickle"`` from the file's first bytes.

    Anything else (empty, text, another archive, a cut safetensors file) is a
    :class:`ModelError` naming the file and what it holds.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"weights file not found: {str(path)!r}")
    if path.is_dir():
        raise not_a_checkpoint(path, "a folder; this model takes one file")
    size = path.stat().st_size
    if size == 0:
        raise not_a_checkpoint(path, "the file is empty")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            raise not_a_checkpoint(path, "a damaged zip archive: cut short?") from None
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            raise not_a_checkpoint(path, f"a zip archive without torch's data.pkl, holding {names[:3]}")
        return "torch-zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "torch-pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if 8 + n > size:
            raise not_a_checkpoint(path, f"a safetensors file cut short: its header alone needs {n} "
                                         f"bytes, the file has {size}")
        with open(path, "rb") as fh:
            fh.seek(8)
            try:
                header = json.loads(fh.read(n))
                ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                raise not_a_checkpoint(path, "a safetensors file whose header is damaged") from None
        need = 8 + n + max(ends, default=0)
        if need > size:
            raise not_a_checkpoint(path, f"a safetensors file cut short: its header lists {need} bytes, "
                                         f"the file has {size}")
        return "safetensors"
    raise not_a_checkpoint(path, _looks_like(head))


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_state_dict(path: Path | str, *, key: str | None = None) -> dict[str, Any]:
    """Load a state dict from safetensors or a torch file, never unpickling objects.

    ``key`` picks a nested dict (``"state_dict"``, ``"model"``) when present. A
    file that is not a checkpoint of tensors is a :class:`ModelError` saying what
    it holds (never advice to unpickle it).
    """
    import torch

    path = Path(path)
    fmt = checkpoint_format(path)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - damaged files raise many kinds
        raise not_a_checkpoint(path, _why_unreadable(fmt, exc)) from None
    if isinstance(sd, dict):
        for k in ([key] if key else []) + ["state_dict", "model", "module"]:
            if k in sd and isinstance(sd[k], dict):
                sd = sd[k]
                break
    if not isinstance(sd, dict) or not all(hasattr(v, "shape") for v in sd.values()):
        raise not_a_checkpoint(path, f"it holds a {type(sd).__name__}, not a state dict of tensors")
    return sd


def load_into(module: Any, state_dict: dict[str, Any], path: Path | str,
              *, strip_prefixes: Iterable[str] = ()) -> None:
    """``load_state_dict(strict=True)`` with an error naming the file and the first mismatches."""
    sd = dict(state_dict)
    for prefix in strip_prefixes:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes: list[tuple[str, Any, Any]] = [
        (k, tuple(sd[k].shape), tuple(own[k].shape))
        for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatches " + ", ".join(
                f"{k}: file {a} vs model {b}" for k, a, b in shapes[:5]))
        raise ModelError(f"weights file {str(path)!r} does not match the model: " + "; ".join(parts))
    module.load_state_dict(sd, strict=True)


def load_state_dict_safely(path: Path | str, *, key: str | None = None) -> dict[str, Any]:
    """:func:`load_state_dict`, and when the file holds Python objects besides tensors
    (training checkpoints: Lightning hyper-parameters, DeepSpeed or yacs configs) a
    ``ModelError`` that says what to do with a trusted file, instead of unpickling it."""
    try:
        return load_state_dict(path, key=key)
    except ModelError as exc:
        text = str(exc)
        if "never unpickles" not in text:
            raise
        raise ModelError(
            f"{text}. If you trust the file (e.g. the official release), save its tensors once as a "
            f".safetensors file in a Python environment of your own (the upstream project's loader reads the "
            f"file; the keys stay as they are) and pass {Path(path).stem + '.safetensors'!r} instead; "
            f"docs/models.md, 'Weights', says more."
        ) from exc
