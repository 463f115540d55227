"""Names that are safe as file names and array keys, made from what users typed."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def sanitize_key(name: Any, default: str = "x") -> str:
    """A model id or name as a safe ASCII array key / file-name part (``default`` if nothing is left)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or default


def file_stems(names: Sequence[Any], default: str = "roi") -> list[str]:
    """File-name-safe, unique stems for user names (``"Field #1/a"`` -> ``"Field_1_a"``).

    Letters of any script are kept. Repeats get ``_2``, ``_3``...; case-insensitive so they
    stay apart on every file system.
    """
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        stem = re.sub(r"[^\w.-]+", "_", str(raw if raw is not None else ""), flags=re.UNICODE)
        stem = stem.strip("._") or default
        stem = stem[:120]
        cand, k = stem, 2
        while cand.lower() in seen:
            cand = f"{stem}_{k}"
            k += 1
        seen.add(cand.lower())
        out.append(cand)
    return out


__all__ = ["sanitize_key", "file_stems"]
