"""Warnings of the engine shown as a short block instead of Python's two terse lines
(rs-embed 0.3's ``enable_pretty_warnings`` / ``disable_pretty_warnings``).

Only warnings raised from inside ``rs_embed_qgis`` are rendered so; any other warning goes to
the handler that was installed before. Unlike rs-embed, importing the engine does not turn
this on: inside QGIS the engine is a guest in someone else's process. Colour is used on a
terminal unless ``NO_COLOR`` is set or ``TERM=dumb``; ``RS_EMBED_PLAIN_WARNINGS=1`` keeps
Python's format even when asked.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, TextIO

_PACKAGE = Path(__file__).resolve().parents[1]     # rs_embed_qgis/
_lock = threading.Lock()
_previous: Any = None


def _ours(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def _colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def render(message: Warning | str, category: type[Warning], filename: str, lineno: int, *,
           colour: bool = False) -> str:
    """The block for one warning: a title line, the message lines, where it came from."""
    bold, dim, yellow, reset = ("\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[0m") if colour else ("", "", "", "")
    where = f"{Path(filename).resolve().relative_to(_PACKAGE.parent)}:{lineno}" if _ours(filename) \
        else f"{filename}:{lineno}"
    lines = str(message).splitlines() or [""]
    body = "".join(f"{yellow}│{reset} {line}\n" for line in lines)
    return f"{yellow}{bold}⚠ rs-embed-qgis · {category.__name__}{reset}\n{body}{yellow}╰{reset} {dim}{where}{reset}\n"


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    if not _ours(filename):
        return _previous(message, category, filename, lineno, file, line)
    stream = file if file is not None else sys.stderr
    try:
        stream.write(render(message, category, filename, lineno, colour=_colour(stream)))
    except (OSError, ValueError):  # a closed stream: as Python's own handler, stay silent
        pass


def enable_pretty_warnings() -> None:
    """Show the engine's warnings as blocks (idempotent; a no-op with ``RS_EMBED_PLAIN_WARNINGS=1``)."""
    global _previous
    if os.environ.get("RS_EMBED_PLAIN_WARNINGS", "").strip().lower() in ("1", "true", "yes", "on"):
        return
    with _lock:
        if warnings.showwarning is _show:
            return
        _previous = warnings.showwarning
        warnings.showwarning = _show


def disable_pretty_warnings() -> None:
    """Restore the handler that was there before :func:`enable_pretty_warnings`."""
    global _previous
    with _lock:
        if warnings.showwarning is _show:
            warnings.showwarning = _previous
        _previous = None


__all__ = ["enable_pretty_warnings", "disable_pretty_warnings", "render"]
