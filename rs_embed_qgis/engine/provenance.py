"""What files the engine writes may say about where things came from, and what they never say.

Outputs carry provenance (GeoTIFF tags, export manifests, the JSON beside the dock's outputs,
Processing metadata): the model, its weights, the data. Every writer passes what it records
through :func:`public`, which

- **never writes credentials**: a value under a key that names one (``credentials``,
  ``token``, ``password``, ...) becomes ``"<redacted>"``, and a secret the engine was handed
  (an Earth Engine service-account key file, registered with :func:`register_secret`) is cut
  out of every text, error messages included;
- **writes no absolute local path**, unless the user asks for full provenance: a path under a
  known root is written relative to it, with the root's name (``<data>/T32TMT/B04.jp2`` for
  the local backend's folder, ``<cache>/weights/...``, ``<sample>/...``, ``<out>/...`` for the
  folder the output is written in, ``~/...`` for the home folder); any other absolute path
  keeps only its file name (``<local>/ckpt.safetensors``). The sha256 and sizes recorded
  beside a path still identify the file.

Full provenance (absolute paths as they are; credentials still never): ``full=True``, or
``RS_EMBED_FULL_PROVENANCE=1`` (the plugin's setting "Full provenance in outputs" sets it).
"""
from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FULL_ENV = "RS_EMBED_FULL_PROVENANCE"
REDACTED = "<redacted>"
#: key words of options and metadata whose values are credentials ("token" only as a whole word:
#: "num_register_tokens" is a model's setting)
SECRET_WORDS = ("credential", "secret", "password", "passwd", "private_key", "api_key")
_TOKEN_KEY = re.compile(r"(^|[_-])token$")

_lock = threading.Lock()
_secrets: set[str] = set()


def full_provenance() -> bool:
    """Whether the user asked for absolute paths in outputs (``RS_EMBED_FULL_PROVENANCE=1``)."""
    return os.environ.get(FULL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def register_secret(value: Any) -> None:
    """A credential (a key file's path, a token) that no output may contain, from now on in
    this process, in any form it may be printed in (as given, expanded, resolved)."""
    if value is None or not isinstance(value, (str, os.PathLike)):
        return
    s = str(value)
    if len(s) < 4:  # too short to cut out of texts without mangling them
        return
    forms = {s}
    try:
        p = Path(s).expanduser()
        forms |= {str(p), str(p.absolute()), str(p.resolve())}
    except (OSError, RuntimeError, ValueError):
        pass
    with _lock:
        _secrets.update(f for f in forms if len(f) >= 4)


@functools.lru_cache(maxsize=4096)  # manifests repeat the same keys: an export asks thousands of times
def secret_key(key: Any) -> bool:
    """Whether a key of options or metadata names a credential."""
    k = str(key).lower()
    return any(w in k for w in SECRET_WORDS) or bool(_TOKEN_KEY.search(k))


def _secret_value(v: Any) -> bool:
    """A value worth hiding (numbers and flags under such keys are settings, not secrets)."""
    return v is not None and not isinstance(v, (bool, int, float)) and v != ""


def redact(obj: Any) -> Any:
    """``obj`` without credentials (paths kept): for options that also identify a job."""
    return _walk(obj, None, _secrets_now())


def public(obj: Any, *, out_dir: str | os.PathLike | None = None, full: bool | None = None) -> Any:
    """A JSON-able copy of ``obj`` fit to be written beside an output in ``out_dir`` (see the
    module's docstring); ``full`` (default: :func:`full_provenance`) keeps absolute paths."""
    if full is None:
        full = full_provenance()
    return _walk(obj, None if full else _Roots(obj, out_dir), _secrets_now())


def public_text(text: str, *, out_dir: str | os.PathLike | None = None, full: bool | None = None) -> str:
    """One text (a tag, an error message) as :func:`public` would write it."""
    return public(str(text), out_dir=out_dir, full=full)


# -- how ------------------------------------------------------------------------------------------
class _Roots:
    """Named folders, longest first: a path under one is written relative to it."""

    def __init__(self, obj: Any, out_dir: str | os.PathLike | None) -> None:
        roots: list[tuple[str, str]] = []
        for root in _data_roots(obj):
            roots.append(("<data>", root))
        if os.environ.get("RS_EMBED_LOCAL_DATA"):
            roots.append(("<data>", os.environ["RS_EMBED_LOCAL_DATA"]))
        from .weights import cache_dir

        roots += [("<sample>", _sample_dir()), ("<cache>", str(cache_dir()))]
        if out_dir is not None:
            roots.append(("<out>", str(out_dir)))
        roots.append(("~", str(Path.home())))
        self.roots = _ordered(tuple(roots))

    def path(self, s: str) -> str:
        """An absolute path, relative to the first root it lies under, else its file name."""
        for root, name in self.roots:
            if s == root:
                return name
            if s.startswith(root + os.sep):
                return name + "/" + s[len(root) + 1:].replace(os.sep, "/")
        return "<local>/" + os.path.basename(s.rstrip(os.sep))

    def text(self, s: str) -> str:
        """Roots named where they appear inside a text (an error message quoting a path)."""
        for root, name in self.roots:
            if root in s:
                s = re.sub(re.escape(root) + r"(?=$|[/\\'\"\s:,;)\]])", name, s)
        return s


@functools.lru_cache(maxsize=1)
def _sample_dir() -> str:
    from .providers.local import bundled_sample_dir  # looked up on disk: once

    return str(bundled_sample_dir())


@functools.lru_cache(maxsize=256)  # an export asks with the same few roots for every item
def _ordered(roots: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """``(folder, name)`` pairs, absolute and de-duplicated, the most specific folder first."""
    clean: dict[str, str] = {}
    for name, r in roots:
        r = os.path.abspath(os.path.expanduser(r)).rstrip(os.sep)
        if len(r) > 1:
            clean.setdefault(r, name)
    return sorted(clean.items(), key=lambda kv: -len(kv[0]))


_ABS = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)[^\n\r\t]*$")


def _is_path(s: str) -> bool:
    return bool(_ABS.match(s)) and "://" not in s and len(s) < 4096


def _secrets_now() -> list[str]:
    """The registered secrets, longest first (taken once per object, not once per string)."""
    with _lock:
        return sorted(_secrets, key=len, reverse=True)


def _scrub(s: str, roots: _Roots | None, secrets: list[str]) -> str:
    for sec in secrets:
        if sec in s:
            s = s.replace(sec, REDACTED)
    if roots is None or s == REDACTED:
        return s
    return roots.path(s) if _is_path(s) else roots.text(s)


def _walk(obj: Any, roots: _Roots | None, secrets: list[str]) -> Any:
    if obj is None or isinstance(obj, (bool, int, float)):  # the most common leaves first
        return obj
    if isinstance(obj, dict):
        return {str(k): (REDACTED if secret_key(k) and _secret_value(v) else _walk(v, roots, secrets))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_walk(v, roots, secrets) for v in obj]
    if isinstance(obj, (str, os.PathLike)):
        return _scrub(str(obj), roots, secrets)
    import json

    from .io import to_json  # numpy scalars, arrays, dataclasses: as every JSON we write has them

    return _walk(json.loads(to_json(obj)), roots, secrets)


def _data_roots(obj: Any) -> Iterable[str]:
    """Folders a provider read from, as recorded in metadata (``"root": ...``)."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("root", "data_root") and isinstance(v, str) and _is_path(v):
                    yield v
                elif isinstance(v, (dict, list, tuple)):
                    stack.append(v)
        elif isinstance(o, (list, tuple)):
            stack.extend(v for v in o if isinstance(v, (dict, list, tuple)))


__all__ = ["FULL_ENV", "REDACTED", "SECRET_WORDS", "full_provenance", "register_secret", "secret_key", "redact",
           "public", "public_text"]
