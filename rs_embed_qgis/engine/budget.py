"""How big a run is, known before anything is fetched, and the limits it must stay under.

Every entry point plans through :func:`..pipeline.plan` (the API, ``export_batch``, the
dock, the toolbox), and the plan knows each ROI's pixel grid. From it, with nothing
fetched, :func:`estimate` gives per ROI:

- **pixels**: ``H x W`` of each fetch group's grid;
- **input**: ``T x C x H x W`` float32 of each fetch group's patch;
- **peak memory** of fetching and embedding that ROI: its patches and its embeddings, and the
  larger of what the provider holds while it reads them (:func:`read_bytes`: providers read
  and composite in blocks of rows, so scenes never pile up for a whole ROI) and what a
  model holds while it embeds them (the copies it makes of its input,
  :attr:`Embedder.input_copies`, and its own buffers, :meth:`Embedder.working_bytes`): the
  provider's buffers are gone before the model starts;
- **output**: the float32 embeddings (:meth:`Embedder.output_shape`).

The limit (:class:`Limits`), documented in ``docs/architecture.md``:

- ``max_memory_gb`` (``RS_EMBED_MAX_MEMORY_GB``, default :data:`DEFAULT_MAX_MEMORY_GB`, sized
  for a desktop with 8-16 GB): no ROI may need more, or the plan raises :class:`SpecError`
  naming the estimate, the limit and what to do instead (a coarser scale that fits, smaller
  ROIs through ``export_batch``, tiles). Runs under it that are still large **stream**:
  ROIs are fetched and embedded in batches whose estimated peak fits (:func:`batches`), and
  ``export_batch`` and the plugin write each result as it is done. The embeddings a call
  keeps in memory (the API's return value) must fit too (:func:`check_outputs`); an export's
  files must fit on the disk (:func:`check_disk`).
- ``ask_memory_gb`` (``RS_EMBED_ASK_MEMORY_GB``, default :data:`DEFAULT_ASK_MEMORY_GB`): the
  dock asks before it starts a run estimated over it.

``0`` (or ``off``) turns a limit off. The estimate is an upper bound of the order of magnitude
(``benchmarks/bench_memory.py`` prints estimate against measured peak); it is there to
refuse a whole-world extent at 10 m with a sentence rather than numpy's "Unable to allocate
4.76 TiB", not to count bytes.
"""
from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError

GiB = 2 ** 30
DEFAULT_MAX_MEMORY_GB = 4.0
DEFAULT_ASK_MEMORY_GB = 1.0
#: what a provider holds besides the patch it returns: the scenes of a block of rows being read,
#: warped and composited (at most ``SceneProvider.read_buffer_bytes``; a row of a scene costs
#: about 9 times its float32 size, and a window is taken to hold about 12 scenes), and GDAL's own
#: buffers. Measured by ``benchmarks/bench_memory.py``.
READ_BUFFER = 256 * 2 ** 20
GDAL_BUFFERS = 64 * 2 ** 20
SCENES = 12


def read_bytes(input_bytes: int) -> int:
    """What one reader holds while it fetches a patch of ``input_bytes``."""
    return int(min(READ_BUFFER, 9 * SCENES * input_bytes) + GDAL_BUFFERS)
ENV_MAX, ENV_ASK = "RS_EMBED_MAX_MEMORY_GB", "RS_EMBED_ASK_MEMORY_GB"


def _gb(env: str, default: float) -> float:
    raw = os.environ.get(env, "").strip().lower()
    if raw in ("", "default"):
        return default
    if raw in ("0", "off", "none", "inf"):
        return math.inf
    try:
        v = float(raw)
    except ValueError:
        raise SpecError(f"{env} must be a number of GB (or 'off'), got {raw!r}") from None
    if not v > 0:
        raise SpecError(f"{env} must be > 0 (or 'off'), got {raw!r}")
    return v


@dataclass(frozen=True)
class Limits:
    """The memory a run may plan for (GB; ``math.inf``: no limit)."""

    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB
    ask_memory_gb: float = DEFAULT_ASK_MEMORY_GB

    @classmethod
    def from_env(cls) -> Limits:
        return cls(_gb(ENV_MAX, DEFAULT_MAX_MEMORY_GB), _gb(ENV_ASK, DEFAULT_ASK_MEMORY_GB))

    @property
    def max_bytes(self) -> float:
        return self.max_memory_gb * GiB


@dataclass(frozen=True)
class Fetch:
    """One fetch group as the estimate sees it."""

    scale_m: float
    bands: int
    frames: int


@dataclass(frozen=True)
class ModelFacts:
    """One model as the estimate sees it: which fetch feeds it and what it makes of it."""

    model: str
    fetch: int
    input_copies: float
    working: Any            # (hw, scale_m) -> bytes
    output_shape: Any       # (hw, scale_m) -> shape


@dataclass
class Estimate:
    """Per ROI: pixels, input bytes, peak bytes, output bytes (nothing fetched)."""

    grids: list[list[tuple[int, int]]]   # ROI -> fetch group -> (H, W)
    pixels: list[int]
    input_bytes: list[int]
    peak_bytes: list[int]
    output_bytes: list[int]
    scales: list[float] = field(default_factory=list)  # each fetch group's pixel size (m)
    work_bytes: list[int] = field(default_factory=list)  # what the largest model holds besides in/out

    def batch_peak(self, indices: Sequence[int], readers: int = 4) -> int:
        """The peak of fetching and embedding ROIs ``indices`` together: all their patches and
        embeddings, and the larger of what ``readers`` parallel readers hold and the models' work
        on all of them."""
        idx = list(indices)
        held = sum(self.input_bytes[i] + self.output_bytes[i] for i in idx)
        reading = sum(sorted((read_bytes(self.input_bytes[i]) for i in idx), reverse=True)[:max(1, readers)])
        return int(held + max(reading, sum(self.work_bytes[i] for i in idx)))

    @property
    def largest(self) -> int:
        return max(range(len(self.peak_bytes)), key=self.peak_bytes.__getitem__)

    def total(self, what: str) -> int:
        return int(sum(getattr(self, what)))

    def to_dict(self) -> dict[str, Any]:
        i = self.largest
        return {"rois": len(self.pixels), "pixels": self.total("pixels"), "input_bytes": self.total("input_bytes"),
                "output_bytes": self.total("output_bytes"), "largest_roi": i,
                "largest_roi_grid_hw": list(self.grids[i][0]), "largest_roi_peak_bytes": self.peak_bytes[i]}

    def describe(self) -> str:
        """``"1 ROI, 85.0 Mpx (7603 x 11163 px at 10 m), peak ~4.1 GB, output 0.3 GB"``."""
        i = self.largest
        h, w = self.grids[i][0]
        n = len(self.pixels)
        return (f"{n} ROI{'s' if n != 1 else ''}, {self.total('pixels') / 1e6:.1f} Mpx (largest {w} x {h} px "
                f"at {self.scales[0]:g} m), peak ~{gb(self.peak_bytes[i])} per ROI, "
                f"output {gb(self.total('output_bytes'))}")


def gb(n: float) -> str:
    return f"{n / GiB:.2f} GB" if n < 10 * GiB else f"{n / GiB:.0f} GB"


# -- the estimate ---------------------------------------------------------------------------------
def default_output_shape(dim: int, hw: tuple[int, int], scale_m: float, output: Any) -> tuple[int, ...]:
    """``(D,)`` pooled, or a ``D`` deep grid of ``output.scale_m`` cells (at least a pixel each):
    a model's output when it says nothing more precise (``Embedder.output_shape``)."""
    if output.mode == "pooled":
        return (int(dim),)
    cell = max(1.0, float(output.scale_m) / float(scale_m))
    return (int(dim), max(1, math.ceil(hw[0] / cell)), max(1, math.ceil(hw[1] / cell)))


def rough(req: Any) -> Estimate:
    """The estimate of a run request (``pipeline.EmbedRequest``) without building its model:
    the catalog's facts and the default rules (quick enough for the GUI thread; the run's own
    plan checks again with the model's)."""
    from .catalog import get_entry

    entry = get_entry(req.model)
    opts = req.model_options or {}
    try:
        variant = entry.variant(opts.get("variant"))
    except Exception:  # noqa: BLE001 - the run reports a bad variant; the question needs a number
        variant = entry.default_variant
    dim = int(opts.get("num_features") or variant.embedding_dim or entry.embedding_dim or 1024)
    sensor = req.sensor or entry.sensor_of(variant)
    if sensor is None:
        raise SpecError(f"model {entry.id!r} has no default sensor; give one")
    fetch = Fetch(float(sensor.scale_m), len(sensor.bands), 1)
    model = ModelFacts(entry.id, 0, 3.0, lambda hw, scale: 0,
                       lambda hw, scale: default_output_shape(dim, hw, scale, req.output))
    return from_parts(req.spatials, [fetch], [model])


def from_parts(spatials: Sequence[Any], fetches: Sequence[Fetch], models: Sequence[ModelFacts]) -> Estimate:
    """The estimate of ``spatials`` fetched as ``fetches`` and embedded by ``models``."""
    from .geo import roi_grids

    per_fetch = [roi_grids(spatials, f.scale_m) for f in fetches]
    grids, pixels, inp, peak, out, works = [], [], [], [], [], []
    for i in range(len(spatials)):
        hw = [(g[i].height, g[i].width) for g in per_fetch]
        grids.append(hw)
        sizes = [f.frames * f.bands * h * w * 4 for f, (h, w) in zip(fetches, hw, strict=True)]
        pixels.append(sum(h * w for h, w in hw))
        inp.append(sum(sizes))
        # models run one after the other: the largest one's working set, but every output
        work = max((m.input_copies * sizes[m.fetch] + m.working(hw[m.fetch], fetches[m.fetch].scale_m)
                    for m in models), default=0)
        outs = [4 * math.prod(m.output_shape(hw[m.fetch], fetches[m.fetch].scale_m)) for m in models]
        peak.append(int(sum(sizes) + max(read_bytes(sum(sizes)), work) + sum(outs)))
        out.append(int(sum(outs)))
        works.append(int(work))
    return Estimate(grids, pixels, inp, peak, out, [f.scale_m for f in fetches], works)


def estimate(plan, scale_factor: float = 1.0) -> Estimate:
    """The estimate of a :class:`..pipeline.Plan` (its embedders say what they make of an input);
    ``scale_factor``: as if every input pixel were that many times larger."""
    fetches = [Fetch(float(g.sensor.scale_m) * scale_factor, len(g.sensor.bands), int(g.frames or 1))
               for g in plan.groups]
    models = []
    for m in plan.models:
        emb, gi = plan.embedder(m), plan.group_of[m]
        models.append(ModelFacts(
            m, gi, float(emb.input_copies),
            lambda hw, scale, e=emb: int(e.working_bytes(hw, scale, plan.output, plan.input_prep)),
            lambda hw, scale, e=emb: e.output_shape(hw, scale, plan.output, plan.input_prep)))
    return from_parts(plan.spatials, fetches, models)


# -- the limits -----------------------------------------------------------------------------------
#: input scale factors tried for the advice "use a coarser scale"
_FACTORS = (1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 100, 128, 256, 512, 1000)


def _advice(est: Estimate, limit: float, i: int, rescale: Callable[[float], Estimate] | None) -> str:
    """What to do instead: the input scale that fits (when one does), a coarser output when the
    embeddings are most of it, smaller ROIs (tiles) through export_batch, or a higher limit."""
    h, w = est.grids[i][0]
    tips = []
    if rescale is not None:
        for f in _FACTORS:
            if rescale(f).peak_bytes[i] <= limit:
                tips.append(f"a coarser input scale (sensor scale_m={est.scales[0] * f:g} or more, {f:g}x "
                            f"the pixel size)")
                break
    if est.output_bytes[i] > 0.3 * est.peak_bytes[i]:
        tips.append(f"a coarser output (its embeddings alone take {gb(est.output_bytes[i])}: a larger "
                    f"OutputSpec.grid(scale_m=...) or pooled vectors)")
    side_km = math.sqrt(limit / max(est.peak_bytes[i], 1) * h * w) * est.scales[0] / 1000
    tips.append(f"the region split into tiles of at most {side_km:.1f} x {side_km:.1f} km run as ROIs "
                f"with export_batch, which fetches, embeds and writes a few at a time")
    tips.append(f"a higher limit ({ENV_MAX}=..., or the plugin setting) on a computer with the memory")
    return "Use " + "; or ".join(tips) + "."


def check(est: Estimate, limits: Limits | None = None,
          rescale: Callable[[float], Estimate] | None = None) -> None:
    """No ROI may need more memory than the limit (SpecError naming estimate, limit, advice).
    ``rescale(f)``: the estimate with input pixels ``f`` times larger, for the advice."""
    limits = limits or Limits.from_env()
    if math.isinf(limits.max_memory_gb):
        return
    i = est.largest
    if est.peak_bytes[i] > limits.max_bytes:
        h, w = est.grids[i][0]
        raise SpecError(
            f"ROI #{i} is too large to embed at once: {w} x {h} px at {est.scales[0]:g} m "
            f"({est.pixels[i] / 1e6:.1f} Mpx, input {gb(est.input_bytes[i])}, embeddings "
            f"{gb(est.output_bytes[i])}) needs about {gb(est.peak_bytes[i])} of memory, over the limit "
            f"of {gb(limits.max_bytes)}. " + _advice(est, limits.max_bytes, i, rescale))


def check_outputs(est: Estimate, limits: Limits | None = None) -> None:
    """The embeddings a call returns are all in memory at once: they must fit the limit."""
    limits = limits or Limits.from_env()
    total = est.total("output_bytes") + max(est.peak_bytes)
    if total > limits.max_bytes:
        raise SpecError(
            f"the embeddings of the {len(est.pixels)} ROIs take about {gb(est.total('output_bytes'))}, "
            f"all kept in memory by this call (with one ROI's work, {gb(total)}), over the limit of "
            f"{gb(limits.max_bytes)}: use export_batch, which writes each ROI's embedding as it is "
            f"done, a coarser output (OutputSpec.grid(scale_m=...) or pooled vectors), or raise "
            f"the limit ({ENV_MAX})")


def check_disk(est: Estimate, folder: Path, save_inputs: bool, indices: Sequence[int] | None = None) -> None:
    """An export's files (embeddings, and inputs when saved) of ROIs ``indices`` (default all)
    must fit on the disk."""
    idx = range(len(est.pixels)) if indices is None else indices
    need = sum(est.output_bytes[i] + (est.input_bytes[i] if save_inputs else 0) for i in idx)
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return  # an unreadable folder is the writer's error to report
    if need > free:
        raise SpecError(
            f"the export needs about {gb(need)} on disk ({'embeddings and inputs' if save_inputs else 'embeddings'}"
            f" of {len(idx)} ROIs) but {str(p)!r} has {gb(free)} free: free some space, choose "
            f"another folder, save_inputs=False, or a coarser output")


def batches(est: Estimate, indices: Sequence[int], max_items: int, limits: Limits | None = None,
            in_flight: int = 1, readers: int = 4) -> list[list[int]]:
    """``indices`` in consecutive batches of at most ``max_items`` whose estimated peak
    (:meth:`Estimate.batch_peak` with ``readers`` fetch threads), times the batches held at once
    (``in_flight``: the export prefetches the next one), fits the limit; never an empty batch."""
    limits = limits or Limits.from_env()
    budget = limits.max_bytes / max(1, in_flight)
    out: list[list[int]] = []
    cur: list[int] = []
    for i in indices:
        if cur and (len(cur) >= max_items or est.batch_peak(cur + [i], readers) > budget):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


__all__ = ["Limits", "Estimate", "Fetch", "ModelFacts", "estimate", "rough", "from_parts", "default_output_shape",
           "read_bytes", "check", "check_outputs",
           "check_disk", "batches", "gb", "DEFAULT_MAX_MEMORY_GB", "DEFAULT_ASK_MEMORY_GB", "READ_BUFFER",
           "GiB"]
