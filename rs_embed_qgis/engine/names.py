"""Names that are safe as file names and array keys, made from what users typed."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any


def sanitize_key(name: Any, default: str = "x") -> str:
    """A model id or name as a safe ASCII array key / file-name part (``default`` if nothing is left)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or default


def file_stems(names: Sequence[Any], default: str = "roi", reserved: Sequence[str] = ()) -> list[str]:
    """File-name-safe, unique stems for user names (``"Field #1/a"`` -> ``"Field_1_a"``).

    Letters of any script are kept (``"Zürich"`` stays ``"Zürich"``, in Unicode's composed
    form, so one name is one file name everywhere). Repeats, and ``reserved`` stems, get
    ``_2``, ``_3``...; case-insensitive so they stay apart on every file system.
    """
    stems = []
    for raw in names:
        stem = re.sub(r"[^\w.-]+", "_", _text(raw), flags=re.UNICODE)
        stems.append((stem.strip("._") or default)[:120])
    return _unique(stems, reserved)


def roi_names(names: Sequence[Any], default: str = "roi") -> list[str]:
    """Users' names (a name field's values) as ROI names for ``export_batch``: the text as it is,
    but unique (repeats get ``_2``...), never empty, and without path separators (``/`` and
    ``\\`` become ``_``)."""
    return _unique([re.sub(r"[/\\\0]", "_", _text(raw)).strip() or default for raw in names], ())


def _text(raw: Any) -> str:
    return unicodedata.normalize("NFC", str(raw if raw is not None else ""))


def _unique(stems: Sequence[str], reserved: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = {r.lower() for r in reserved}
    for stem in stems:
        cand, k = stem, 2
        while cand.lower() in seen:
            cand = f"{stem}_{k}"
            k += 1
        seen.add(cand.lower())
        out.append(cand)
    return out


__all__ = ["sanitize_key", "file_stems", "roi_names"]
