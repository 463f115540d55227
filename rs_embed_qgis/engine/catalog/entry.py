"""The format of a catalog entry: :class:`ModelEntry` with its :class:`Variant` s.

Plain frozen dataclasses holding facts (no torch, no model code), so the whole
catalog is read in milliseconds. See ``catalog/__init__.py`` for how to add a model.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ModelError
from ..specs import SensorSpec
from ..weights import WeightsSpec

#: what a model does with the user's window and pixels
KINDS: dict[str, str] = {
    "embedder": "computes embeddings from imagery (on the fly)",
    "precomputed": "reads embeddings a provider publishes",
    "superres": "super-resolves imagery",
    "forecast": "forecasts reflectance",
}
#: the kinds ``list_models()`` lists by default: the models that give embeddings
EMBEDDING_KINDS = ("embedder", "precomputed")

#: the Sentinel-2 collection and band sets several entries share
S2_SR = "COPERNICUS/S2_SR_HARMONIZED"
S2_RGB = ("B4", "B3", "B2")
S2_10 = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")

#: a model that needs no weights (random features, a precomputed product)
NO_WEIGHTS = WeightsSpec(needs_weights=False)


def s2_sensor(bands: tuple[str, ...], scale_m: int = 10, **kw: Any) -> SensorSpec:
    """The usual default sensor: a cloud-filtered Sentinel-2 L2A median composite."""
    kw.setdefault("cloudy_pct", 30)
    kw.setdefault("composite", "median")
    return SensorSpec(collection=S2_SR, bands=bands, scale_m=scale_m, **kw)


class TypeName(str):
    """A model's type that equals both rs-embed spellings: ``"on-the-fly"`` (the reference)
    and ``"on_the_fly"`` (0.3's ``describe_model``); ``"precomputed"`` is the same in both."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str(self).replace("_", "-") == other.replace("_", "-")

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(str(self).replace("_", "-"))


def modality_of(collection: str) -> str:
    """rs-embed's modality name of a collection: ``s2``, ``s1``, ``landsat`` (else the collection)."""
    c = str(collection).upper()
    for prefix, name in (("COPERNICUS/S2", "s2"), ("COPERNICUS/S1", "s1"), ("LANDSAT/", "landsat")):
        if c.startswith(prefix):
            return name
    return str(collection).lower()


@dataclass(frozen=True)
class Normalisation:
    """How pixels (reflectance x 10000) become model input: words, and the constants."""

    method: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class Variant:
    """One published version of a model (a size, a band set, a pretraining)."""

    name: str
    #: where its weights come from (``NO_WEIGHTS`` when it needs none)
    weights: WeightsSpec = NO_WEIGHTS
    #: the architecture: a config name the model's module knows, or a dict of settings
    config: str | Mapping[str, Any] | None = None
    embedding_dim: int | None = None
    aliases: tuple[str, ...] = ()
    #: when the variant reads other bands than the entry's default sensor
    default_sensor: SensorSpec | None = None
    normalisation: Normalisation | None = None
    note: str = ""

    def names(self) -> set[str]:
        return {self.name.lower(), *(a.lower() for a in self.aliases)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": list(self.aliases),
                "config": dict(self.config) if isinstance(self.config, Mapping) else self.config,
                "embedding_dim": self.embedding_dim,
                "bands": list(self.default_sensor.bands) if self.default_sensor else None,
                "normalisation": self.normalisation.to_dict() if self.normalisation else None,
                "weights": self.weights.to_dict(), "note": self.note}


@dataclass(frozen=True)
class ModelEntry:
    """Everything known about a model before its code is imported.

    ``module`` is a module under ``rs_embed_qgis.engine`` (``"embedders.remoteclip"``)
    and ``cls`` the name in it that the catalog hands out: an embedder class for
    ``embedder``/``precomputed`` entries (constructed as ``cls(entry, device=...,
    **options)``), the loader function for ``superres``/``forecast``. The first
    variant is the default.
    """

    id: str
    kind: str
    module: str
    cls: str
    family: str
    description: str
    variants: tuple[Variant, ...]
    default_sensor: SensorSpec | None = None
    temporal_mode: str = ""
    outputs: tuple[str, ...] = ("pooled", "grid")
    side_inputs: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()       # importable modules the model needs
    aliases: tuple[str, ...] = ()
    paper: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)   # kind-specific facts, shown by describe
    #: Linear layers (``fnmatch`` patterns of qualified module names) that ``precision="int8"``
    #: leaves in fp32, where measurement showed they dominate the model's int8 error
    #: (``engine/precision.py``, *int8 accuracy*)
    int8_keep_fp32: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"catalog entry {self.id!r}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        if not self.variants:
            raise ModelError(f"catalog entry {self.id!r} has no variant (give at least one; the first is "
                             f"the default)")
        if isinstance(self.int8_keep_fp32, str) or not all(isinstance(p, str) and p for p in self.int8_keep_fp32):
            raise ModelError(f"catalog entry {self.id!r}: int8_keep_fp32 must be a tuple of module-name "
                             f"patterns, got {self.int8_keep_fp32!r}")

    # -- the default variant's facts, as the entry's own --------------------------------------
    @property
    def default_variant(self) -> Variant:
        return self.variants[0]

    @property
    def weights(self) -> WeightsSpec:
        return self.default_variant.weights

    @property
    def embedding_dim(self) -> int | None:
        return self.default_variant.embedding_dim

    @property
    def bands(self) -> tuple[str, ...]:
        return self.default_sensor.bands if self.default_sensor else ()

    @property
    def type(self) -> str:
        """rs-embed's word: ``on-the-fly`` (equal to 0.3's ``on_the_fly``) | ``precomputed`` (and our
        other kinds as they are)."""
        return TypeName("on-the-fly" if self.kind == "embedder" else self.kind)

    @property
    def declares_modalities(self) -> bool:
        """Whether the model has several input branches, chosen with its option ``modality``.

        They are declared in ``extra["modalities"]``: ``{name: {"sensor": SensorSpec, ...}}``
        (a branch without ``sensor`` reads the default sensor); the model's adapter reads
        the rest of each branch's facts. (A list there only describes a model's own option
        values, e.g. TerraMind's; it declares no branches.)
        """
        return isinstance(self.extra.get("modalities"), Mapping) and bool(self.extra["modalities"])

    def input_modalities(self) -> dict[str, SensorSpec]:
        """Modality name -> the sensor of that input branch (its ``modality`` field set).

        The declared branches (:attr:`declares_modalities`), else one: the default sensor's
        (``s2`` for a Sentinel-2 model). Precomputed products and models without a sensor
        have none.
        """
        if self.kind != "embedder" or self.default_sensor is None:
            return {}
        if self.declares_modalities:
            return {k: replace((v or {}).get("sensor") or self.default_sensor, modality=k)
                    for k, v in self.extra["modalities"].items()}
        name = modality_of(self.default_sensor.collection)
        return {name: replace(self.default_sensor, modality=name)}

    def variant(self, name: str | None = None) -> Variant:
        """The variant called ``name`` (or one of its aliases, any case); None: the default."""
        if name is None or str(name).strip() == "":
            return self.default_variant
        key = str(name).strip().lower()
        for v in self.variants:
            if key in v.names():
                return v
        raise ModelError(f"unknown variant {name!r} of {self.id!r}; expected one of "
                         f"{[v.name for v in self.variants]}")

    def sensor_of(self, variant: Variant) -> SensorSpec | None:
        return variant.default_sensor or self.default_sensor
