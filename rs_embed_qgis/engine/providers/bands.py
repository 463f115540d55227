"""Band-name handling shared by providers and embedders (``B02`` == ``B2``)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import ProviderError


def canonical_band(name: str) -> str:
    """``B02`` -> ``B2``, ``b8a`` -> ``B8A``; other names upper-cased as they are."""
    n = str(name).strip().upper()
    m = re.fullmatch(r"B0*(\d+)(A?)", n)
    if m:
        return f"B{int(m.group(1))}{m.group(2)}"
    return n


def band_index(available: Sequence[str], band: str) -> int:
    want = canonical_band(band)
    for i, b in enumerate(available):
        if canonical_band(b) == want:
            return i
    raise ProviderError(f"band {band!r} is not available; available bands: {list(available)}")
