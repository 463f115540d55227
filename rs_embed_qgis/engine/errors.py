"""Exception classes of the engine, as in rs-embed's ``rs_embed.core.errors``.

Every error names the bad value and what was expected, so a user can fix the
call without reading our code.
"""
from __future__ import annotations


class RsEmbedError(Exception):
    """Base class of every error the engine raises on purpose."""


#: rs-embed 0.3's spelling of the base class (the same class)
RSEmbedError = RsEmbedError


class SpecError(RsEmbedError, ValueError):
    """A spec (spatial, temporal, sensor, output) or an argument is invalid."""


class ProviderError(RsEmbedError):
    """A data backend failed: not initialised, no data, unreadable file, fetch failure."""


class ModelError(RsEmbedError):
    """Unknown model id, unsupported option, missing or invalid weights."""


class RequestError(SpecError, ModelError):
    """The arguments of a call do not fit together: an empty list of ROIs, models or data,
    ``sensor=`` with ``fetch=``, a modality the model does not take, ``input_prep`` given twice.

    A bad argument, which the reference reports as a :class:`SpecError`; rs-embed 0.3
    reports these as a :class:`ModelError`. It is both, so handlers written for either
    version catch it.
    """


class DeviceError(SpecError, ModelError):
    """The device asked for is not a device name, or this machine does not have it.

    Both a bad argument and a model that cannot run, so ``except SpecError`` and
    ``except ModelError`` both catch it.
    """


class Cancelled(RsEmbedError):
    """The caller asked to stop (``is_cancelled()`` returned True); nothing partial was left.

    Long engine calls (embedding runs, exports, super-resolution, forecasts) raise it
    from inside their loops (between scenes, ROIs, forward batches, tiles), after
    removing what they had started to write.
    """


class OutputError(RsEmbedError, OSError):
    """Writing an output failed (disk full, a GDAL write error, a file that does not read
    back); nothing was published under the output's name."""
