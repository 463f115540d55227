"""Exception classes of the engine, as in rs-embed's ``rs_embed.core.errors``.

Every error names the bad value and what was expected, so a user can fix the
call without reading our code.
"""
from __future__ import annotations


class RsEmbedError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecError(RsEmbedError, ValueError):
    """A spec (spatial, temporal, sensor, output) or an argument is invalid."""


class ProviderError(RsEmbedError):
    """A data backend failed: not initialised, no data, unreadable file, fetch failure."""


class ModelError(RsEmbedError):
    """Unknown model id, unsupported option, missing or invalid weights."""


class OutputError(RsEmbedError, OSError):
    """Writing an output failed (disk full, a GDAL write error, a file that does not read
    back); nothing was published under the output's name."""
