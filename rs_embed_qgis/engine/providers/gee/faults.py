"""How calls to Earth Engine fail, and what we do about it: classify an exception
(retry, auth, size, fatal), retry transient failures with backoff, and tell the user
how to sign in. Tokens never reach a message.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from ...errors import ProviderError
from ...progress import check_cancelled

HOW_TO_SIGN_IN = (
    "Sign in to Earth Engine once on this computer: run `earthengine authenticate` in a "
    "terminal (or `python -c \"import ee; ee.Authenticate()\"`), then choose the Google Cloud "
    "project that is registered for Earth Engine with `earthengine set_project YOUR_PROJECT`, "
    "the plugin settings, provider_options={'project': 'YOUR_PROJECT'} or the environment "
    "variable RS_EMBED_GEE_PROJECT. On a server use a service-account key: "
    "provider_options={'credentials': '/path/to/key.json', 'project': 'YOUR_PROJECT'} "
    "(the account must be registered for Earth Engine). "
    "Register a project at https://code.earthengine.google.com/register."
)

RETRY_STATUS = (429, 500, 502, 503, 504)


class TruncatedPixels(Exception):
    """The NPY body could not be decoded (a connection cut mid-body): retried."""


class TooLarge(Exception):
    """Earth Engine refused a request as too large: the caller splits it."""


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify_error(exc: BaseException) -> tuple[str, int | None, float | None]:
    """``(kind, http_status, retry_after_s)``; kind is retry | auth | size | fatal."""
    import socket

    try:
        from googleapiclient.errors import HttpError
    except ImportError:  # pragma: no cover
        HttpError = ()  # type: ignore
    try:
        from google.auth.exceptions import DefaultCredentialsError, RefreshError
    except ImportError:  # pragma: no cover
        RefreshError = DefaultCredentialsError = ()  # type: ignore
    for e in _chain(exc):
        if HttpError and isinstance(e, HttpError):
            status = int(getattr(e.resp, "status", 0) or 0)
            retry_after = None
            try:
                ra = e.resp.get("retry-after")
                retry_after = float(ra) if ra is not None else None
            except (TypeError, ValueError, AttributeError):
                pass
            text = str(e)
            if status in RETRY_STATUS:
                return "retry", status, retry_after
            if status in (401, 403):
                return "auth", status, None
            if status == 400 and ("request size" in text.lower() or "must be less than or equal" in text
                                  or "too large" in text.lower()):
                return "size", status, None
            return "fatal", status, None
        if (RefreshError and isinstance(e, (RefreshError, DefaultCredentialsError))):
            return "auth", None, None
        if isinstance(e, (TruncatedPixels, TimeoutError, socket.timeout, ConnectionError)):
            return "retry", None, None
        name = type(e).__name__
        if name in ("ChunkedEncodingError", "ReadTimeout", "ConnectTimeout", "IncompleteRead",
                    "ProtocolError", "RemoteDisconnected"):
            return "retry", None, None
    msg = str(exc).lower()
    if "too many concurrent" in msg or "rate limit" in msg:
        return "retry", None, None
    if "earthengine authenticate" in msg or "authorize access" in msg or "credentials" in msg:
        return "auth", None, None
    return "fatal", None, None


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (an access token)."""
    if secret:
        text = text.replace(secret, "<token>")
    return text


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def call_with_retries(fn: Callable[[], Any], what: str, *, max_retries: int, backoff_s: float,
                      jitter: float, token: Callable[[], str | None],
                      count: Callable[..., None]) -> Any:
    """Run ``fn``, retrying transient failures with exponential backoff; map errors to ProviderError.

    ``count(requests=, retries=, sleeps=)`` records statistics; ``token()`` is the current
    access token, scrubbed from messages. A cancel point before each attempt.
    """
    delay = backoff_s
    for attempt in range(max_retries + 1):
        check_cancelled()
        try:
            count(requests=1)
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            kind, status, retry_after = classify_error(exc)
            reason = scrub(first_line(exc), token())
            code = f"HTTP {status}" if status else type(exc).__name__
            if kind == "retry" and attempt < max_retries:
                sleep = delay * (1.0 + jitter * random.random())  # nosec B311 - back-off jitter, not security
                if retry_after is not None:
                    sleep = max(sleep, min(retry_after, 60.0))
                count(retries=1, sleeps=sleep)
                time.sleep(sleep)
                delay *= 2
                continue
            if kind == "auth":
                raise ProviderError(
                    f"Earth Engine refused {what} ({code}: {reason}); the sign-in may have "
                    f"expired or lack access. {HOW_TO_SIGN_IN}") from None
            if kind == "size":
                raise TooLarge(reason) from None
            if kind == "retry":
                raise ProviderError(
                    f"Earth Engine {what} failed after {attempt + 1} "
                    f"attempt{'s' if attempt else ''} (last: {code}: "
                    f"{reason}); raise max_retries/retry_backoff_s or lower num_workers"
                ) from None
            raise ProviderError(f"Earth Engine {what} failed ({code}: {reason})") from None
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["HOW_TO_SIGN_IN", "RETRY_STATUS", "TruncatedPixels", "TooLarge", "classify_error", "scrub",
           "first_line", "call_with_retries"]
