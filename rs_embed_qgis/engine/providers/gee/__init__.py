"""Earth Engine backend (``backend="gee"``): composites from an Earth Engine
image collection, fetched as pixels on the ROI's UTM grid.

For an ROI, a window ``[start, end)`` and a :class:`SensorSpec` the provider
builds one Earth Engine expression per time bin::

    ImageCollection(collection).filterBounds(roi).filterDate(start, end)
        .filter(cloud_property <= cloudy_pct)      # when the collection has one
        .map(cloud mask)                           # SCL (S2 SR), QA60 (S2 L1C), QA_PIXEL (Landsat)
        .select(bands).median() | .sort(time).mosaic()

and asks ``ee.data.computePixels`` for the bands (plus a validity band per
bin) as NPY on the ROI's grid (``crsCode`` = its UTM zone, ``scale_m``), so
nothing is zipped or written on the way. A computeValue call first lists the
scenes of each bin (ids and dates), so empty bins are known and reported.

Requests larger than Earth Engine's limits (48 MiB of uncompressed pixels,
32768 px a side) are split into tiles and stitched. 429/5xx answers, timeouts,
dropped connections and truncated bodies are retried with exponential backoff
(``max_retries``, ``retry_backoff_s``); authentication errors are not retried
and say how to sign in. Patches are cached on disk under a hash of the
request, so a rerun or a second model does not download again.

Modules: ``auth`` (sign-in, the process-wide session), ``faults`` (error classes,
retries), ``expressions`` (collections, masks, composites), ``tiling`` (pixel requests
within the limits), ``cache`` (patches on disk), ``provider`` (``GEEProvider``).
Earth Engine's client state is global to the process: one endpoint and
project are active at a time (the last provider that initialised wins).
"""
from __future__ import annotations

from .auth import EE_DEFAULT_URL, EE_HIGH_VOLUME_URL, PROJECT_ENV_VARS, reset_session
from .expressions import CLOUD_MASKS, COLLECTIONS, GSE_COLLECTION, SCL_MASKED, CollectionInfo, collection_info
from .faults import HOW_TO_SIGN_IN, classify_error
from .provider import GEE_OPTIONS, GEEProvider, ee_status
from .tiling import EE_MAX_BANDS, EE_MAX_GRID_DIM, EE_MAX_REQUEST_BYTES, decode_npy

__all__ = ["GEEProvider", "ee_status", "GEE_OPTIONS", "collection_info", "CollectionInfo", "COLLECTIONS",
           "GSE_COLLECTION", "HOW_TO_SIGN_IN", "classify_error", "decode_npy", "CLOUD_MASKS", "SCL_MASKED",
           "EE_DEFAULT_URL", "EE_HIGH_VOLUME_URL", "EE_MAX_BANDS", "EE_MAX_GRID_DIM", "EE_MAX_REQUEST_BYTES",
           "PROJECT_ENV_VARS", "reset_session"]
