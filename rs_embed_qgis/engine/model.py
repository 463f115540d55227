"""``Model``: a configured, reusable embedding model (rs-embed 0.3's class API).

The model, its settings, sensor, output and input preparation are fixed once; each call
then names only what varies (where, and when). It is built at construction (weights
loaded, bad settings refused at once) and every call is a run of the one pipeline
through :func:`api.get_embeddings_batch`.
"""
from __future__ import annotations

from typing import Any

from . import api, call_shapes
from .catalog import describe_model, list_models
from .embedding import Embedding
from .errors import RequestError
from .pipeline import get_embedder
from .specs import FetchSpec, InputPrepSpec, OutputSpec, SensorSpec, SpatialSpec, TemporalSpec


class Model:
    """An embedding model ready to use: ``Model("prithvi", variant="300m_tl").embed(spatial, temporal=...)``.

    Arguments as :func:`get_embedding`'s (``backend="auto"`` and ``input_prep=None`` are 0.3's
    defaults here; ``None`` is the engine's ``"resize"``); model settings are keywords.
    ``model_options`` / ``provider_options`` are the engine's extras.
    """

    def __init__(self, name: str, *, backend: str = "auto", device: str = "auto", sensor: SensorSpec | None = None,
                 fetch: FetchSpec | None = None, modality: str | None = None,
                 output: OutputSpec = OutputSpec.pooled(), input_prep: InputPrepSpec | str | None = None,
                 model_options: dict[str, Any] | None = None, provider_options: dict[str, Any] | None = None,
                 **model_kwargs: Any) -> None:
        call = call_shapes.embed_call(name, output=output, sensor=sensor, fetch=fetch, modality=modality,
                                      device=device, input_prep=input_prep, model_options=model_options,
                                      model_kwargs=model_kwargs, api_names=api._API_NAMES)
        self.name = call.model
        self.backend = call_shapes.resolve_backend(backend)
        self.device = device
        self.sensor = call.sensor
        self.output = output
        self.input_prep = input_prep
        self.model_options = call.model_options
        self.provider_options = provider_options
        self.embedder = get_embedder(self.name, device=device, model_options=self.model_options)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, backend={self.backend!r}, device={self.embedder.device!r})"

    def get_embedding(self, spatial: SpatialSpec, *, temporal: TemporalSpec | None = None) -> Embedding:
        """The embedding of one ROI."""
        return self.get_embeddings_batch([spatial], temporal=temporal)[0]

    def get_embeddings_batch(self, spatials: list[SpatialSpec], *,
                             temporal: TemporalSpec | None = None) -> list[Embedding]:
        """Embeddings of many ROIs, in order (an empty list is a :class:`RequestError`)."""
        if not isinstance(spatials, (list, tuple)) or not spatials:
            raise RequestError(f"spatials must be a non-empty list of BBox/PointBuffer, got {spatials!r}")
        return api.get_embeddings_batch(self.name, spatials=list(spatials), temporal=temporal, sensor=self.sensor,
                                        output=self.output, backend=self.backend, device=self.device,
                                        input_prep=self.input_prep, model_options=self.model_options,
                                        provider_options=self.provider_options)

    #: the names the rs-embed-qgis docs use for the same two calls
    embed = get_embedding
    embed_batch = get_embeddings_batch

    def describe(self) -> dict[str, Any]:
        """The model's description (:func:`describe_model`) with the variant and weights in use."""
        d = describe_model(self.name)
        d["weights_in_use"] = dict(self.embedder.weights_meta)
        d["options"] = dict(self.model_options or {})
        d["sensor_in_use"] = (self.sensor or self.embedder.default_sensor()).to_dict()
        return d

    @staticmethod
    def list_models(*, include_aliases: bool = False) -> list[str]:
        return list_models(include_aliases=include_aliases)


__all__ = ["Model"]
