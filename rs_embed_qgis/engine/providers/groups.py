"""Neighbouring ROIs of a batch read as one: the grouping every scene-major fetch shares.

A batch's ROIs are taken in order of place (west to east, in bands north to south) and
split into runs of neighbours whose grids share a CRS and fit in a square of ``side``
(in the grids' units). A run whose bounding grid holds at most ``max_ratio`` times the
ROIs' own pixels is read once on that grid and each ROI is cut from it: overlapping ROIs
and the tiles of a study area read each file once, while scattered ROIs (whose bounding
grid would be mostly empty) are read one by one. ``max_ratio`` is the reader's: 1.5 where a
read costs most per call (opening, decoding), under 1 where it costs per pixel (the union
must then save pixels: the ROIs overlap).

Used by the scene backends (:meth:`local.SceneProvider.fetch_many`, which also splits a run
by the scenes its ROIs select) and the precomputed products (GeoTessera tiles, the
Copernicus-Embed map). ROI grids snapped to the same multiples of one pixel size (as
:func:`geo.roi_grids` makes them) sit on their union's pixels exactly.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..geo import RoiGrid
from ..progress import check_cancelled
from ..specs import SpatialSpec

#: metres per degree of latitude, to turn a group's side in metres into a band of latitude
METRES_PER_DEGREE = 111_320.0


def by_place(spatials: Sequence[SpatialSpec], band_deg: float) -> list[int]:
    """Indices of ``spatials`` west to east within bands of ``band_deg`` of latitude, north first."""
    return sorted(range(len(spatials)), key=lambda k: (-(spatials[k].center[1] // band_deg), spatials[k].center[0]))


def neighbour_groups(order: Sequence[int], grids: Mapping[int, RoiGrid], side: float) -> list[list[int]]:
    """Consecutive runs of ``order`` whose grids share a CRS and fit in a ``side`` square."""
    groups: list[list[int]] = []
    box = None
    for k in order:
        g = grids[k]
        x0, y0, x1, y1 = g.bounds
        if box is not None and box[0] == g.crs:
            nb = (g.crs, min(box[1], x0), min(box[2], y0), max(box[3], x1), max(box[4], y1))
            if nb[3] - nb[1] <= side and nb[4] - nb[2] <= side:
                groups[-1].append(k)
                box = nb
                continue
        groups.append([k])
        box = (g.crs, x0, y0, x1, y1)
    return groups


def union_grid(grids: Sequence[RoiGrid]) -> RoiGrid:
    """The grid bounding ``grids`` (one CRS and pixel size, snapped to the same multiples)."""
    g0 = grids[0]
    left, top = min(g.left for g in grids), max(g.top for g in grids)
    right = max(g.left + g.width * g.res for g in grids)
    bottom = min(g.top - g.height * g.yres for g in grids)
    return dataclasses.replace(g0, left=left, top=top, width=round((right - left) / g0.res),
                               height=round((top - bottom) / g0.yres))


def offset(union: RoiGrid, grid: RoiGrid) -> tuple[int, int]:
    """Row and column of ``grid``'s first pixel in ``union``."""
    return round((union.top - grid.top) / grid.yres), round((grid.left - union.left) / grid.res)


def compact(union: RoiGrid, grids: Sequence[RoiGrid], max_ratio: float) -> bool:
    """Whether ``union`` holds at most ``max_ratio`` times the pixels of ``grids`` (not mostly empty)."""
    return union.width * union.height <= max_ratio * sum(g.width * g.height for g in grids)


def unions(spatials: Sequence[SpatialSpec], grids: Sequence[RoiGrid], side: float, band_deg: float,
           max_ratio: float = 1.5) -> list[tuple[RoiGrid | None, list[int]]]:
    """The batch as ``(union grid, ROI indices)`` to read once and cut, and ``(None, [k])`` for
    each ROI read alone. Within a run of neighbours, ROIs join the current union in order of
    place while it stays compact (at most ``max_ratio`` times their own pixels); an ROI that
    would make it mostly empty starts the next one."""
    out: list[tuple[RoiGrid | None, list[int]]] = []

    def close(members: list[int]) -> None:
        if len(members) > 1:
            out.append((union_grid([grids[k] for k in members]), members))
        elif members:
            out.append((None, members))

    for group in neighbour_groups(by_place(spatials, band_deg), dict(enumerate(grids)), side):
        members: list[int] = []
        box, px = (0.0, 0.0, 0.0, 0.0), 0
        for k in group:
            g = grids[k]
            x0, y0, x1, y1 = g.bounds
            nb = (min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)) if members else (x0, y0, x1, y1)
            area = round((nb[2] - nb[0]) / g.res) * round((nb[3] - nb[1]) / g.yres)
            if members and area > max_ratio * (px + g.width * g.height):
                close(members)
                members, nb, px = [], (x0, y0, x1, y1), 0
            members.append(k)
            box, px = nb, px + g.width * g.height
        close(members)
    return out


def fetch_by_unions(spatials: Sequence[SpatialSpec], grids: Sequence[RoiGrid | None], side: float,
                    band_deg: float, read: Callable[[RoiGrid], Any], cut: Callable[[Any, RoiGrid, int], Any],
                    fetch_alone: Callable[[list[int]], Sequence[Any]], max_ratio: float = 1.5) -> list[Any]:
    """A batch's patches: each union of :func:`unions` read once (``read(union)``) and each of its
    ROIs cut from that read (``cut(read, union, k)``; None sends ROI ``k`` alone); the ROIs
    alone, and those without a grid (``None``: e.g. outside the product, to be said by their
    own fetch), fetched by ``fetch_alone(indices)``. A cancel point before each union."""
    listed = [k for k, g in enumerate(grids) if g is not None]
    alone = [k for k, g in enumerate(grids) if g is None]
    out: dict[int, Any] = {}
    for union, members in unions([spatials[k] for k in listed], [grids[k] for k in listed], side, band_deg,
                                 max_ratio):
        members = [listed[m] for m in members]
        if union is None:
            alone += members
            continue
        check_cancelled()
        got = read(union)
        for k in members:
            patch = cut(got, union, k)
            if patch is None:
                alone.append(k)
            else:
                out[k] = patch
    if alone:
        out.update(zip(alone, fetch_alone(alone), strict=True))
    return [out[k] for k in range(len(spatials))]
