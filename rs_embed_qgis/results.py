"""What a background run hands back to the main thread: done, failed or cancelled.

A worker (a ``QgsTask``'s ``run()``, or a Processing algorithm in a
``QgsProcessingAlgRunnerTask``) only computes and writes files. What it hands back is one of
three typed results, each carrying what the GUI must do, instead of a dict the dock has to
interpret (the pattern of the Deepness plugin):

- :class:`Done`: a message, what the run produced (``data``), and ``add_to_map``, the one
  closure that adds its layers (run on the main thread, returns them);
- :class:`Failed`: the error in plain words for the message bar, the details for the log;
- :class:`Cancelled`: nothing was written and nothing is added.

:func:`present` is the one place that shows a result (message bar, log panel) and adds its
layers; the dock and every tab call it.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOG_TAG = "RS Embed"


def _no_layers() -> list:
    return []


@dataclass(frozen=True)
class Done:
    """The run finished; ``add_to_map()`` adds its layers (main thread) and returns them."""

    kind: str
    message: str
    add_to_map: Callable[[], list] = _no_layers
    data: dict[str, Any] = field(default_factory=dict)
    report_html: str = ""
    warning: bool = False  # e.g. a model ran with RANDOM weights: the message is a warning

    ok = True


@dataclass(frozen=True)
class Failed:
    """The run failed; ``error`` is for the user, ``details`` (traceback, feedback log) for the log."""

    kind: str
    error: str
    details: str = ""
    exception: BaseException | None = None

    ok = False

    @classmethod
    def from_exception(cls, kind: str, exc: BaseException, details: str = "") -> Failed:
        text = str(exc) or type(exc).__name__
        # the class name says which kind of problem it is (SpecError: bad input, ProviderError:
        # the data, ModelError: the model); the engine's message says what was wrong
        plain = f"{type(exc).__name__}: {text}"
        return cls(kind, plain, details or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                   exc)


@dataclass(frozen=True)
class Cancelled:
    """The run was cancelled: whatever it had started writing is gone, nothing is added."""

    kind: str
    message: str = ""

    ok = False


Result = Done | Failed | Cancelled


def log(msg: str, level=None) -> None:
    """A line in the "RS Embed" tab of QGIS's log panel."""
    from qgis.core import Qgis, QgsMessageLog

    QgsMessageLog.logMessage(msg, LOG_TAG, Qgis.MessageLevel.Info if level is None else level)


def _offer_installer(result: Failed, bar) -> bool:
    """A failure for want of an optional package: say which, with a button to the installer."""
    from qgis.core import Qgis
    from qgis.PyQt.QtWidgets import QPushButton

    from .gui import deps
    from .gui.install_dialog import show_installer
    from .i18n import tr

    need = deps.missing_modules(result.exception if result.exception is not None else result.error)
    if not need:
        return False
    hint = deps.hint_for(need)
    item = bar.createMessage("RS Embed", result.error if hint in result.error else f"{result.error} {hint}")
    button = QPushButton(tr("Install…"), item)
    button.clicked.connect(lambda _checked=False: show_installer(need))
    item.layout().addWidget(button)
    bar.pushWidget(item, Qgis.MessageLevel.Warning, 0)
    return True


def present(result: Result, iface) -> tuple[Result, list]:
    """Show ``result`` (message bar, log) and, when done, add its layers.

    Returns the result shown and the layers added. A ``Done`` whose layers cannot be added
    (e.g. QGIS cannot open a written file) is shown as the ``Failed`` it turned into; nothing
    raises into QGIS.
    """
    from qgis.core import Qgis

    from .i18n import tr

    bar = iface.messageBar()
    if isinstance(result, Done):
        try:
            layers = list(result.add_to_map() or [])
        except Exception as exc:  # noqa: BLE001 - a bad result is reported, never raised into QGIS
            return present(Failed.from_exception(result.kind, exc), iface)
        level = Qgis.MessageLevel.Warning if result.warning else Qgis.MessageLevel.Success
        bar.pushMessage("RS Embed", result.message, level, 10 if result.warning else 5)
        log(result.message, Qgis.MessageLevel.Warning if result.warning else Qgis.MessageLevel.Info)
        return result, layers
    if isinstance(result, Failed):
        if not _offer_installer(result, bar):
            bar.pushMessage("RS Embed", tr("{error} (details in the RS Embed log tab)").format(error=result.error),
                            Qgis.MessageLevel.Critical, 0)
        log(f"{result.error}\n{result.details}".rstrip(), Qgis.MessageLevel.Critical)
        return result, []
    text = result.message or tr("Cancelled; nothing was written and no layer was added.")
    bar.pushMessage("RS Embed", text, Qgis.MessageLevel.Info, 5)
    log(text)
    return result, []
