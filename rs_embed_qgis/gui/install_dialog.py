"""The optional-package installer's window: what is missing, which Python QGIS runs, pip's log.

It runs :func:`rs_embed_qgis.gui.deps.install` (resolve, check, install into the plugin's
folder) in a ``QgsTask``, so QGIS stays usable while pip downloads; progress and every
line pip prints show here as they come.
"""
from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from ..jobs import JobCancelled
from ..tasks import _Base, log
from . import deps


class InstallTask(_Base):
    """pip in a worker thread; each line of its output is emitted as ``line``."""

    line = pyqtSignal(str)

    def __init__(self, modules: Sequence[str], target: Path, **callbacks):
        super().__init__("RS Embed: install Python packages", **callbacks)
        self.modules, self.target = list(modules), Path(target)
        self.output: list[str] = []

    def _say(self, text: str) -> None:
        self.output.append(text)
        self.line.emit(text)

    def compute(self) -> None:
        try:
            plan = deps.install(self.modules, self.target, on_line=self._say, progress=self.setProgress,
                                is_cancelled=self.isCanceled)
        except deps.DependencyError:
            if self.isCanceled():
                raise JobCancelled("installation cancelled") from None
            raise
        self.result = {"plan": plan}


def _installed_version(module: str) -> str | None:
    try:
        return metadata.version(deps.dist_name(deps.pip_name(module)))
    except metadata.PackageNotFoundError:
        return None


class InstallDialog(QDialog):
    """Pick optional packages and install them; ``installed(plan)`` fires when pip succeeded."""

    installed = pyqtSignal(object)

    def __init__(self, parent=None, preselect: Sequence[str] = (), target: Path | None = None):
        super().__init__(parent)
        self.setObjectName("RsEmbedInstallDialog")
        self.setWindowTitle("RS Embed: optional Python packages")
        self.resize(760, 560)
        self.target = Path(target) if target is not None else deps.deps_dir()
        self.task: InstallTask | None = None
        self.state = "idle"  # idle -> running -> done | failed | cancelled
        self.plan = None

        self.header = QLabel(
            f"QGIS runs <b>Python {html.escape(sys.version.split()[0])}</b> (prefix "
            f"<code>{html.escape(sys.prefix)}</code>). The packages you tick are installed with that "
            f"Python's pip into <code>{html.escape(str(self.target))}</code>, a folder only this plugin "
            "uses (delete it to remove them). MOSAIKS, local data and the bundled sample need none of "
            "them. Packages whose pip wheels bundle their own GDAL, GEOS or PROJ (rasterio, shapely, "
            "pyproj, fiona, pyogrio) are never installed into QGIS.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Package", "In QGIS's Python", "Needed for"])
        self.table.setRootIsDecorated(False)
        self.rows: dict[str, QTreeWidgetItem] = {}
        for module in deps.OPTIONAL:
            self._add_row(module)
        self.select(preselect)
        for col in (0, 1):
            self.table.resizeColumnToContents(col)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("pipLog")
        self.log_view.setReadOnly(True)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setPlaceholderText("pip's output appears here.")
        buttons = QDialogButtonBox()
        self.btn_install = QPushButton("Install")
        self.btn_install.setObjectName("btnInstall")
        self.btn_stop = QPushButton("Stop")
        self.btn_stop.setEnabled(False)
        buttons.addButton(self.btn_install, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.btn_stop, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.btn_install.clicked.connect(self.start)
        self.btn_stop.clicked.connect(self.stop)
        buttons.rejected.connect(self.close)

        lay = QVBoxLayout(self)
        for w in (self.header, self.table, self.progress, self.status, self.log_view, buttons):
            lay.addWidget(w)

    def _add_row(self, module: str) -> QTreeWidgetItem:
        why = deps.OPTIONAL.get(module, {}).get("for", "the feature that asked for it")
        item = QTreeWidgetItem([deps.pip_name(module), "", why])
        item.setData(0, Qt.ItemDataRole.UserRole, module)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, Qt.CheckState.Unchecked)
        item.setToolTip(2, why)
        self.table.addTopLevelItem(item)
        self.rows[module] = item
        self._show_status(module)
        return item

    def _show_status(self, module: str) -> None:
        have = deps.is_importable(module)
        ver = _installed_version(module) if have else None
        self.rows[module].setText(1, (f"installed {ver}" if ver else "installed") if have else "missing")

    def select(self, modules: Sequence[str]) -> None:
        """Tick these import names (those still missing), adding a row for one not in the list."""
        for module in modules:
            item = self.rows.get(module) or self._add_row(module)
            if not deps.is_importable(module):
                item.setCheckState(0, Qt.CheckState.Checked)

    def selected(self) -> list[str]:
        items = (self.table.topLevelItem(i) for i in range(self.table.topLevelItemCount()))
        return [it.data(0, Qt.ItemDataRole.UserRole) for it in items if it.checkState(0) == Qt.CheckState.Checked]

    def start(self) -> InstallTask | None:
        """Install the ticked packages in a background task (returns it)."""
        modules = self.selected()
        if not modules or self.state == "running":
            self.status.setText("Tick the packages to install first." if not modules else self.status.text())
            return None
        self.state = "running"
        self.log_view.clear()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.btn_install.setEnabled(False)
        self.btn_stop.setEnabled(True)
        self.status.setText(f"Installing {', '.join(deps.pip_name(m) for m in modules)}…")
        self.task = InstallTask(modules, self.target, on_done=self._done, on_error=self._failed,
                                on_cancel=self._cancelled)
        self.task.line.connect(self.log_view.appendPlainText)
        self.task.progressChanged.connect(lambda p: self.progress.setValue(int(p)))
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finish(self, state: str, text: str) -> None:
        self.state = state
        self.task = None
        self.btn_install.setEnabled(True)
        self.btn_stop.setEnabled(False)
        self.status.setText(text)

    def _done(self, task: InstallTask) -> None:
        plan = task.result["plan"]
        self.plan = plan
        deps.add_to_path(self.target)
        added = ", ".join(f"{n} {v}" for n, v in plan.install) or "nothing (all present)"
        restart = deps.restart_needed(plan, self.target)
        text = f"Installed: {added}."
        if restart:
            text += f" Restart QGIS to use the new {', '.join(restart)} (QGIS has the old one loaded)."
        self.progress.setValue(100)
        for module, item in self.rows.items():
            self._show_status(module)
            if deps.is_importable(module):
                item.setCheckState(0, Qt.CheckState.Unchecked)
        self._finish("done", text)
        log("installer: " + text + "\n" + "\n".join(task.output), Qgis.Info)
        self.installed.emit(plan)

    def _failed(self, task: InstallTask, exc: BaseException) -> None:
        self.log_view.appendPlainText(f"\n{type(exc).__name__}: {exc}")
        self._finish("failed", f"<span style='color:#b00000'>{html.escape(str(exc).splitlines()[0])}</span> "
                               "(pip's log is below)")
        log(f"installer failed: {exc}\n" + "\n".join(task.output), Qgis.Warning)

    def _cancelled(self, task: InstallTask) -> None:
        self._finish("cancelled", "Installation stopped (pip was killed); install again to complete it.")

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        if self.state == "running":
            self.stop()
        super().closeEvent(event)
