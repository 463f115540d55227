"""A dock tab that runs one of the plugin's Processing algorithms in the background.

The tab only reads its widgets into the algorithm's parameters; the work is the
algorithm's own ``processAlgorithm`` (one code path with the Processing toolbox
and ``qgis_process``), run by QGIS's ``QgsProcessingAlgRunnerTask`` in the task
manager. ``executed(ok, results)`` arrives on the main thread, where the
subclass adds its layers. Failures go to the message bar in plain words and the
full feedback log to the "RS Embed" log tab; a cancelled run adds nothing.
"""
from __future__ import annotations

import html
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
)
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ..tasks import log

#: tasks whose tab went away (plugin unload) stay referenced, with their context and
#: feedback, until QGIS's task manager is done with them
_ORPHANS: list = []


class _Feedback(QgsProcessingFeedback):
    """Keeps the algorithm's error lines so the message bar can show them."""

    def __init__(self):
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802,N803 - Qt naming
        self.errors.append(str(error))
        super().reportError(error, fatalError)


class AlgorithmTab(QWidget):
    """Base of the Super-resolution and Forecast tabs. Subclasses set ``ALG_ID``/``ALG_CLASS``,
    build their form in ``build_form(layout)`` and write ``parameters()`` and ``add_results()``.

    ``runFinished(ok)`` fires after a run was handled (layers added or message shown)."""

    ALG_ID = ""
    ALG_CLASS: Any = None
    runFinished = pyqtSignal(bool)

    def __init__(self, iface, parent=None):
        super().__init__(parent)
        self.iface = iface
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.context: QgsProcessingContext | None = None
        self.feedback: _Feedback | None = None
        self.alg = None
        self.added_layers: list = []
        self.last_results: dict[str, Any] = {}
        self._cancel_requested = False
        self._run_info: dict[str, Any] = {}

    def add_run_row(self, layout) -> None:
        row = QHBoxLayout()
        self.btnRun = QPushButton("Run")
        self.btnCancel = QPushButton("Cancel")
        self.btnCancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        row.addWidget(self.btnRun)
        row.addWidget(self.btnCancel)
        row.addWidget(self.progress, 1)
        layout.addLayout(row)
        self.lblStatus = QLabel("")
        self.lblStatus.setWordWrap(True)
        layout.addWidget(self.lblStatus)
        self.btnRun.clicked.connect(self.run)
        self.btnCancel.clicked.connect(self.cancel)

    # ------------------------------------------------------------------ subclass hooks

    def parameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_results(self, results: dict[str, Any]) -> list:
        raise NotImplementedError

    # ------------------------------------------------------------------ running

    def algorithm(self):
        """The registered algorithm (same object the toolbox runs), else a fresh instance."""
        alg = QgsApplication.processingRegistry().algorithmById(self.ALG_ID)
        if alg is None:
            alg = self.ALG_CLASS()
            alg.initAlgorithm()
        return alg

    def is_running(self) -> bool:
        return self.task is not None

    def run(self):
        if self.task is not None:
            self._msg("A run is already going; cancel it or wait.", Qgis.Warning)
            return None
        try:
            params = self.parameters()
        except ValueError as exc:
            self._fail(str(exc))
            return None
        alg = self.algorithm()
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        ok, why = alg.checkParameterValues(params, context)
        if not ok:
            self._fail(why or "invalid parameters")
            return None
        self.alg, self.context, self.feedback = alg, context, _Feedback()
        self._cancel_requested = False
        self.feedback.progressChanged.connect(self._on_progress)
        task = QgsProcessingAlgRunnerTask(alg, params, context, self.feedback)
        task.executed.connect(self._on_executed)
        self.task = task
        self.btnRun.setEnabled(False)
        self.btnCancel.setEnabled(True)
        self.progress.setValue(0)
        self.lblStatus.setText(f"Running {alg.displayName()}…")
        log(f"{alg.id() or self.ALG_ID}: {params}")
        QgsApplication.taskManager().addTask(task)
        return task

    def _on_progress(self, pct: float) -> None:
        self.progress.setValue(int(pct))

    def cancel(self) -> None:
        if self.task is None:
            return
        self._cancel_requested = True
        if self.feedback is not None:
            self.feedback.cancel()
        try:
            self.task.cancel()
        except RuntimeError:  # already deleted by the task manager
            pass

    def _on_executed(self, ok: bool, results: dict[str, Any]) -> None:
        feedback, alg = self.feedback, self.alg
        cancelled = self._cancel_requested or (feedback is not None and feedback.isCanceled())
        self.task = None
        self.btnRun.setEnabled(True)
        self.btnCancel.setEnabled(False)
        name = alg.displayName() if alg is not None else self.ALG_ID
        if feedback is not None:
            log(f"{name}:\n{feedback.textLog()}", Qgis.Info if ok else Qgis.Warning)
        handled = False
        try:
            if cancelled:
                self._msg(f"{name} cancelled; no layer was added.", Qgis.Info, 5)
                self.lblStatus.setText("Cancelled.")
            elif not ok:
                errors = [e for e in (feedback.errors if feedback else []) if e.strip()]
                self._fail(errors[-1] if errors else f"{name} failed")
            else:
                self.last_results = dict(results or {})
                self.added_layers = self.add_results(self.last_results)
                handled = True
        except Exception as exc:  # noqa: BLE001 - a bad result must not raise into QGIS
            import traceback

            log(traceback.format_exc(), Qgis.Critical)
            self._fail(f"{type(exc).__name__}: {exc}")
            handled = False
        finally:
            self.feedback = self.context = self.alg = None
        self.runFinished.emit(handled)

    # ------------------------------------------------------------------ messages, teardown

    def _msg(self, text: str, level=Qgis.Info, duration: int = 10) -> None:
        self.iface.messageBar().pushMessage("RS Embed", text, level, duration)
        log(text, level if level != Qgis.Success else Qgis.Info)

    def _fail(self, text: str) -> None:
        text = text.strip()
        self.iface.messageBar().pushMessage("RS Embed", f"{text} (details in the RS Embed log tab)",
                                            Qgis.Critical, 0)
        log(text, Qgis.Critical)
        self.lblStatus.setText(f"<span style='color:#b00000'>{html.escape(text)}</span>")

    def cleanup(self) -> None:
        """Plugin unload: cancel a running task and never call back into this widget."""
        if self.task is None:
            return
        task, kept = self.task, (self.task, self.context, self.feedback, self.alg)
        pairs = ((task.executed, self._on_executed), (self.feedback.progressChanged, self._on_progress))
        for sig, slot in pairs:
            try:
                sig.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        _ORPHANS.append(kept)
        try:  # connected before cancelling: a queued task reports back at once
            task.executed.connect(lambda *a: _ORPHANS.remove(kept) if kept in _ORPHANS else None)
        except RuntimeError:  # the task manager already deleted it
            _ORPHANS.remove(kept)
        self.cancel()
        self.task = self.context = self.feedback = self.alg = None
