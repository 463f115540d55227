"""The one progress and cancel contract of long engine calls.

Every long call takes ``progress(fraction, message)`` (``fraction`` in [0, 1]) and
``is_cancelled()``; inside, both travel as one :class:`Feedback`. A call that runs
other long calls hands each a :meth:`Feedback.part` of its range, so fractions stay
monotonic from 0 to 1 over the whole call.

Cancel takes effect inside calls, not only between them: code deep in the engine
(a provider between scenes and blocks of rows, an embedder between forward batches, the
super-resolution network between its blocks) calls :func:`check_cancelled`, which raises
:class:`~.errors.Cancelled` when the :class:`Feedback` of the enclosing :func:`cancel_scope`
says so. Providers and embedders keep their signatures (``fetch(...)``,
``embed_patches(...)``); a worker thread joins its caller's scope through :func:`in_scope`.

A forward pass cannot stop half way, so a cancel waits for the forward batch it arrives in.
A caller that wants cancel within a second (the dock) asks for it, ``Feedback(prompt=True)``:
embedders then run one item per forward (:func:`forward_batch`), which costs some throughput.
``benchmarks/bench_cancel.py`` measures click-to-stop for every job.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from .errors import Cancelled

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Feedback:
    """``progress(fraction, message)`` and ``is_cancelled()`` of one call, mapped onto ``[lo, hi]``."""

    def __init__(self, progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None,
                 lo: float = 0.0, hi: float = 1.0, prompt: bool = False) -> None:
        self._progress = progress
        self._is_cancelled = is_cancelled
        self.lo, self.hi = float(lo), float(hi)
        self.prompt = bool(prompt)  # cancel within a second: forward batches of one item

    def report(self, fraction: float, message: str = "") -> None:
        """Progress ``fraction`` (0..1) of this part, with what is being done."""
        if self._progress is not None:
            f = min(1.0, max(0.0, float(fraction)))
            self._progress(self.lo + (self.hi - self.lo) * f, message)

    def cancelled(self) -> bool:
        return bool(self._is_cancelled is not None and self._is_cancelled())

    def check(self, what: str = "cancelled by the user") -> None:
        """Raise :class:`Cancelled` if the caller asked to stop."""
        if self.cancelled():
            raise Cancelled(what)

    def part(self, lo: float, hi: float) -> Feedback:
        """The sub-range ``[lo, hi]`` (fractions of this part) for a nested call; same cancel."""
        span = self.hi - self.lo
        return Feedback(self._progress, self._is_cancelled, self.lo + span * lo, self.lo + span * hi,
                        self.prompt)


def as_feedback(progress: ProgressFn | Feedback | None = None,
                is_cancelled: CancelFn | None = None, prompt: bool = False) -> Feedback:
    """The :class:`Feedback` of a call's ``progress=`` / ``is_cancelled=`` arguments
    (``prompt``: the caller asks for cancel within a second)."""
    if isinstance(progress, Feedback):
        if is_cancelled is None and (progress.prompt or not prompt):
            return progress
        return Feedback(progress._progress, is_cancelled or progress._is_cancelled, progress.lo, progress.hi,
                        prompt or progress.prompt)
    return Feedback(progress, is_cancelled, prompt=prompt)


_SCOPE: contextvars.ContextVar[Feedback | None] = contextvars.ContextVar("rs_embed_cancel", default=None)


@contextlib.contextmanager
def cancel_scope(feedback: Feedback | None) -> Iterator[Feedback | None]:
    """Within this block, :func:`check_cancelled` asks ``feedback`` (this thread only)."""
    token = _SCOPE.set(feedback)
    try:
        yield feedback
    finally:
        _SCOPE.reset(token)


def check_cancelled() -> None:
    """A cancel point: raise :class:`Cancelled` if the enclosing scope's caller asked to stop."""
    fb = _SCOPE.get()
    if fb is not None:
        fb.check()


def forward_batch(size: int) -> int:
    """Items per forward pass: ``size``, or 1 when the enclosing scope's caller asked for
    prompt cancel (a cancel waits for the forward it arrives in)."""
    fb = _SCOPE.get()
    return 1 if fb is not None and fb.prompt else max(1, int(size))


def in_scope(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` bound to the caller's cancel scope, to run in a worker thread."""
    fb = _SCOPE.get()

    def run(*args: Any, **kwargs: Any) -> Any:
        with cancel_scope(fb):
            return fn(*args, **kwargs)

    return run


__all__ = ["Feedback", "as_feedback", "cancel_scope", "check_cancelled", "forward_batch", "in_scope",
           "ProgressFn", "CancelFn", "Cancelled"]
