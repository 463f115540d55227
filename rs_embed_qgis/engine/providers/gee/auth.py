"""Signing in to Earth Engine: credentials, project, endpoint, and the one process-wide session.

Earth Engine's client state is global to the process: one endpoint and project are
active at a time (the last provider that initialised wins).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from ...errors import ProviderError
from .faults import HOW_TO_SIGN_IN, classify_error, first_line, scrub

EE_DEFAULT_URL = "https://earthengine.googleapis.com"
#: recommended by Google for many automated requests (prefetching many ROIs)
EE_HIGH_VOLUME_URL = "https://earthengine-highvolume.googleapis.com"
PROJECT_ENV_VARS = ("RS_EMBED_GEE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT")

_lock = threading.RLock()
_active: dict[str, Any] = {"key": None}


def resolve_project(project: str | None) -> str | None:
    """The explicit project, else the first of :data:`PROJECT_ENV_VARS` that is set."""
    if project:
        return str(project)
    for var in PROJECT_ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return None


def load_credentials(credentials: Any) -> tuple[Any, str | None]:
    """``None`` -> stored sign-in ('persistent'); a path -> service-account key; else as is.

    Returns ``(credentials, project of the key file or None)``.
    """
    if credentials is None or credentials == "persistent":
        return "persistent", None
    if isinstance(credentials, (str, os.PathLike)):
        path = Path(credentials).expanduser()
        if not path.is_file():
            raise ProviderError(
                f"Earth Engine service-account key file not found: {str(path)!r}. {HOW_TO_SIGN_IN}")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            from ee import oauth
            from google.oauth2 import credentials as user_credentials
            from google.oauth2 import service_account

            if info.get("type") == "authorized_user":  # e.g. gcloud's application default file
                creds = user_credentials.Credentials.from_authorized_user_info(info, scopes=oauth.SCOPES)
            else:
                creds = service_account.Credentials.from_service_account_info(info, scopes=oauth.SCOPES)
        except Exception as exc:  # noqa: BLE001 - bad JSON, wrong key type
            raise ProviderError(
                f"cannot read the credentials file {str(path)!r} ({type(exc).__name__}); expected "
                f"a service-account JSON key from the Google Cloud console (or an authorized_user "
                f"JSON). {HOW_TO_SIGN_IN}") from None
        return creds, info.get("project_id")
    return credentials, None


def initialize(*, endpoint: str, project: str | None, credentials: Any,
               timeout: float | None) -> tuple[Any, str] | None:
    """Make (endpoint, project, credentials) Earth Engine's active session.

    Returns ``(credentials, project)`` when it initialised, None when that session was
    already the active one. One tiny computation proves the credentials and project.
    """
    import ee

    key = (endpoint, project, id(credentials), str(credentials)[:200], timeout)
    with _lock:
        if _active["key"] == key:
            return None
        creds, key_project = load_credentials(credentials)
        if creds == "persistent":
            try:
                creds = ee.data.get_persistent_credentials()
            except Exception as exc:  # noqa: BLE001 - EEException, google.auth errors
                why = first_line(exc)
                if "authorize access" in why.lower():  # ee's own advice, given below in full
                    why = "no stored sign-in or application default credentials were found"
                raise ProviderError(
                    f"Earth Engine is not signed in on this computer ({why}). "
                    f"{HOW_TO_SIGN_IN}") from None
        project = resolve_project(project) or key_project or getattr(creds, "quota_project_id", None)
        if not project:
            raise ProviderError(
                "no Earth Engine project was given: pass provider_options={'project': "
                "'YOUR_PROJECT'} or set RS_EMBED_GEE_PROJECT (a Google Cloud project "
                f"registered for Earth Engine). {HOW_TO_SIGN_IN}")
        try:
            # the URL always explicit: ee keeps a previous call's URL when given None
            ee.Initialize(credentials=creds, project=project, opt_url=endpoint)
            ee.data.setMaxRetries(0)  # retries are ours: backoff we control, errors we classify
            if timeout:
                ee.data.setDeadline(int(timeout * 1000))
            # ee.Initialize does not always call the server (its algorithm list is cached
            # per process), so one tiny computation proves the credentials and project.
            ee.data.computeValue(ee.Number(1))
        except Exception as exc:  # noqa: BLE001
            _active["key"] = None
            kind, status, _ = classify_error(exc)
            reason = scrub(first_line(exc), getattr(creds, "token", None))
            if kind == "auth" or status in (401, 403):
                raise ProviderError(
                    f"Earth Engine rejected the credentials for project {project!r} "
                    f"(HTTP {status or 'auth'}: {reason}); they may be missing, expired or "
                    f"lack access. {HOW_TO_SIGN_IN}") from None
            if kind == "retry" or status is None and isinstance(exc, OSError):
                raise ProviderError(
                    f"cannot reach Earth Engine at {endpoint!r} ({reason}); check the network "
                    "connection and proxy settings") from None
            raise ProviderError(
                f"Earth Engine initialisation failed for project {project!r} at {endpoint!r}: "
                f"{reason}. {HOW_TO_SIGN_IN}") from None
        _active["key"] = key
        return creds, project


def reset_session() -> None:
    """Forget the active session: the next provider call initialises Earth Engine again."""
    with _lock:
        _active["key"] = None


__all__ = ["EE_DEFAULT_URL", "EE_HIGH_VOLUME_URL", "PROJECT_ENV_VARS", "resolve_project", "load_credentials",
           "initialize", "reset_session"]
