"""A dock tab that runs the plugin's Processing algorithms in the background.

A tab only reads its widgets into an algorithm's parameters; the work is the algorithm's own
``processAlgorithm`` (one code path with the Processing toolbox, the modeller and
``qgis_process``), run by QGIS's ``QgsProcessingAlgRunnerTask`` in the task manager (the QGIS
Earth Engine plugin's pattern). Outputs are passed as ``QgsProcessingOutputLayerDefinition`` s
with the project as destination, exactly as the toolbox passes them when "Open output file
after running" is ticked, so when the run ends the same layers appear, named, styled and
grouped by the algorithm's layer post-processors (``processing/outputs.py``).

``executed(ok, results)`` arrives on the main thread and becomes one typed result
(:mod:`rs_embed_qgis.results`): ``Done`` (its ``add_to_map`` loads the outputs), ``Failed`` (the
algorithm's last error line for the message bar, the feedback log for the log panel) or
``Cancelled`` (nothing added). :func:`rs_embed_qgis.results.present` shows it.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
)
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ..i18n import tr
from ..processing import outputs
from ..results import Cancelled, Done, Failed, Result, log, present

#: tasks whose tab went away (plugin unload) stay referenced, with their context and
#: feedback, until QGIS's task manager is done with them
_ORPHANS: list = []

#: builds the Done of a finished run from the algorithm's results and the loader of its layers
MakeDone = Callable[[dict[str, Any], Callable[[], list]], Done]


class _Feedback(QgsProcessingFeedback):
    """Keeps the algorithm's error lines so the message bar can show them. Its Qt parent is the
    tab, so it never outlives QGIS (a result the tab keeps holds it)."""

    def __init__(self, parent=None):
        super().__init__()
        self.setParent(parent)
        self.errors: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802,N803 - Qt naming
        self.errors.append(str(error))
        super().reportError(error, fatalError)


def output_layer(path: str, name: str = "") -> QgsProcessingOutputLayerDefinition:
    """An output to write to ``path`` and add to the current project when the run ends."""
    dest = QgsProcessingOutputLayerDefinition(str(path), QgsProject.instance())
    if name:
        dest.destinationName = name
    return dest


class AlgorithmTab(QWidget):
    """Base of the dock's tabs. A subclass builds its form and writes ``parameters()`` and
    ``done()`` (or its own ``run()`` calling ``start_algorithm``); it may show results its own way
    in ``show_result``.

    ``resultReady(result)`` fires with the typed result after it was shown (layers added or
    message shown); ``runFinished(ok)`` with whether it was done."""

    ALG_ID = ""
    KIND = "run"                # the result kind of this tab's runs
    USES_ROI = False            # the dock shows its region-of-interest tools with this tab
    HIDE_IDLE_PROGRESS = False  # the progress bar shows only while a run is going
    resultReady = pyqtSignal(object)
    runFinished = pyqtSignal(bool)

    def __init__(self, iface, parent=None):
        super().__init__(parent)
        self.iface = iface
        self.task = None
        self.context: QgsProcessingContext | None = None
        self.feedback: _Feedback | None = None
        self.alg = None
        self.added_layers: list = []
        self.last_result: Result | None = None
        self._kind = ""
        self._make_done: MakeDone | None = None
        self._cancel_requested = False
        self._keep: list = []  # objects the running parameters refer to (memory layers)

    def add_run_row(self, layout) -> None:
        row = QHBoxLayout()
        self.btnRun = QPushButton(tr("Run"))
        self.btnCancel = QPushButton(tr("Cancel"))
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
        """The algorithm's parameters from the form; ``ValueError`` (in the user's words) if incomplete."""
        raise NotImplementedError

    def done(self, results: dict[str, Any], load_layers: Callable[[], list]) -> Done:
        """The Done of a successful run (``load_layers`` adds the outputs the run asked to open)."""
        raise NotImplementedError

    def run(self):
        """Run ALG_ID with the form's parameters; returns the task, or None if refused."""
        try:
            params = self.parameters()
        except ValueError as exc:
            self.refuse(self.KIND, str(exc))
            return None
        return self.start_algorithm(self.ALG_ID, params, self.KIND, self.done)

    def run_buttons(self) -> list:
        """The buttons that start a run (disabled while one is going)."""
        return [self.btnRun]

    def show_status(self, text: str) -> None:
        self.lblStatus.setText(text)

    def show_result(self, result: Result) -> None:
        """The tab's own view of a shown result (default: the status line)."""
        if isinstance(result, Done):
            self.show_status(result.report_html or html.escape(result.message))
        elif isinstance(result, Failed):
            self.show_status(f"<span style='color:#b00000'>{html.escape(result.error)}</span>")
        else:
            self.show_status(tr("Cancelled."))

    # ------------------------------------------------------------------ running

    def algorithm(self, alg_id: str | None = None):
        """The registered algorithm (the object the toolbox runs), else a fresh instance of it."""
        from ..processing.provider import create_algorithm

        alg_id = alg_id or self.ALG_ID
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        if alg is None:
            alg = create_algorithm(alg_id.split(":")[-1])
        if alg is None:
            raise RuntimeError(f"there is no Processing algorithm {alg_id!r}")
        return alg

    def is_running(self) -> bool:
        return self.task is not None

    def refuse(self, kind: str, text: str) -> None:
        """Bad input, found before any task starts: said in the message bar and the tab."""
        shown, _ = present(Failed(kind, text.strip()), self.iface)
        self.show_result(shown)

    def start_algorithm(self, alg_id: str, params: dict[str, Any], kind: str, make_done: MakeDone,
                        keep: list | None = None):
        """Check ``params`` and run the algorithm in the task manager; returns the task, or None if
        refused. ``make_done(results, load_layers)`` builds the Done when it succeeds."""
        if self.task is not None:
            self.refuse(kind, tr("A run is already going; cancel it or wait."))
            return None
        alg = self.algorithm(alg_id)
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        ok, why = alg.checkParameterValues(params, context)
        if not ok:
            self.refuse(kind, why or tr("invalid parameters"))
            return None
        self.alg, self.context, self.feedback = alg, context, _Feedback(self)
        self._kind, self._make_done, self._keep = kind, make_done, list(keep or [])
        self._cancel_requested = False
        self.feedback.progressChanged.connect(self._on_progress)
        task = QgsProcessingAlgRunnerTask(alg, params, context, self.feedback)
        task.executed.connect(self._on_executed)
        self._started(task, tr("Running {name}…").format(name=alg.displayName()))
        log(f"{alg.id()}: {params}")
        QgsApplication.taskManager().addTask(task)
        return task

    def start_task(self, task) -> Any:
        """Run one of the dock's own ``tasks.BackgroundTask`` s with this tab's progress and cancel."""
        if self.task is not None:
            self.refuse(task.KIND, tr("A run is already going; cancel it or wait."))
            return None
        self._kind, self._cancel_requested = task.KIND, False
        task.on_finished = self._task_finished
        task.progressChanged.connect(self._on_progress)
        self._started(task, task.description())
        QgsApplication.taskManager().addTask(task)
        return task

    def _started(self, task, status: str) -> None:
        self.task = task
        for b in self.run_buttons():
            b.setEnabled(False)
        self.btnCancel.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.show_status(html.escape(status))

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
        feedback, alg, context, kind = self.feedback, self.alg, self.context, self._kind
        name = alg.displayName() if alg is not None else kind
        cancel_asked = self._cancel_requested or (feedback is not None and feedback.isCanceled())
        # the algorithms return no outputs when they honoured a cancel (they remove what they wrote);
        # one that finished before the cancel reached it is done
        cancelled = cancel_asked and not (ok and any(v not in (None, "") for v in (results or {}).values()))
        details = feedback.textLog() if feedback is not None else ""
        log(f"{name}:\n{details}")
        if cancelled:
            result: Result = Cancelled(kind, tr("{name} cancelled; no layer was added.").format(name=name))
        elif not ok:
            errors = [e for e in (feedback.errors if feedback else []) if e.strip()]
            result = Failed(kind, errors[-1] if errors else tr("{name} failed").format(name=name), details)
        else:
            try:
                result = self._make_done(dict(results or {}), lambda: outputs.load_outputs(context, feedback))
            except Exception as exc:  # noqa: BLE001 - a bad result is reported, never raised into QGIS
                result = Failed.from_exception(kind, exc)
        try:
            self._finish(result)
        finally:
            self.feedback = self.context = self.alg = None
            self._keep = []

    def _task_finished(self, result: Result) -> None:
        self._finish(result)

    def _finish(self, result: Result) -> None:
        self.task = None
        for b in self.run_buttons():
            b.setEnabled(True)
        self.btnCancel.setEnabled(False)
        if self.HIDE_IDLE_PROGRESS:
            self.progress.setVisible(False)
        shown, layers = present(result, self.iface)
        self.last_result, self.added_layers = shown, layers
        self.show_result(shown)
        self.resultReady.emit(shown)
        self.runFinished.emit(shown.ok)

    def cleanup(self) -> None:
        """Plugin unload: cancel a running task and never call back into this widget."""
        if self.task is None:
            return
        task = self.task
        if isinstance(task, QgsProcessingAlgRunnerTask):
            self.feedback.setParent(None)  # the running task uses it after this tab is gone
            kept = (task, self.context, self.feedback, self.alg, self._keep)
            pairs = ((task.executed, self._on_executed), (self.feedback.progressChanged, self._on_progress))
        else:
            task.on_finished = lambda _result: None
            kept = (task,)
            pairs = ((task.progressChanged, self._on_progress),)
        for sig, slot in pairs:
            try:
                sig.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        _ORPHANS.append(kept)
        try:  # connected before cancelling: a queued task reports back at once
            task.taskCompleted.connect(lambda: _ORPHANS.remove(kept) if kept in _ORPHANS else None)
            task.taskTerminated.connect(lambda: _ORPHANS.remove(kept) if kept in _ORPHANS else None)
        except RuntimeError:  # the task manager already deleted it
            _ORPHANS.remove(kept)
        self.cancel()
        self.task = self.context = self.feedback = self.alg = None
        self._keep = []
