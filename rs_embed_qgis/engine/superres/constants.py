"""Constants shared by the super-resolution modules (importable without torch)."""
from __future__ import annotations

#: The learned model's bands, in its input/output order (Sentinel-2 10 m and 20 m bands).
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
#: Every super-resolver here is exactly 10x (10 m -> 1 m).
SCALE = 10
