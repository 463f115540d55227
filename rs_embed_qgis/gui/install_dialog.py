"""The optional-package installer's window: what is missing, which Python QGIS runs, pip's log.

It runs :class:`rs_embed_qgis.tasks.InstallTask` (resolve, check, install into the plugin's
folder) in the background, so QGIS stays usable while pip downloads; progress and every line
pip prints show here as they come. One window serves the whole plugin (:func:`show_installer`):
the dock's banner, a message about a missing package and Raster > RS Embed open it, and
:data:`installs` tells every part of the plugin when packages were added.
"""
from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QObject, Qt, pyqtSignal
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

from ..i18n import tr
from ..results import Done, Failed, Result, log
from ..tasks import InstallTask
from . import deps


class _Installs(QObject):
    """``done(plan)`` fires after every successful install, wherever the window was opened."""

    done = pyqtSignal(object)


#: owned by the application (a Qt parent), so Qt deletes it with QGIS, never Python after exitQgis()
installs = _Installs(QCoreApplication.instance())
_window: InstallDialog | None = None


def show_installer(modules: Sequence[str] = (), parent=None) -> InstallDialog:
    """The installer window (one for the plugin), with ``modules`` (import names) ticked."""
    global _window
    if _window is None:
        if parent is None:
            from qgis.utils import iface

            parent = iface.mainWindow() if iface is not None else None
        _window = InstallDialog(parent)
        _window.installed.connect(installs.done)
    _window.select(modules)
    _window.show()
    _window.raise_()
    return _window


def current() -> InstallDialog | None:
    """The installer window, if it was opened."""
    return _window


def close_installer() -> None:
    """Stop a running install and drop the window (plugin unload)."""
    global _window
    if _window is not None:
        _window.stop()
        _window.close()
        _window.deleteLater()
        _window = None


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
        self.setWindowTitle(tr("RS Embed: optional Python packages"))
        self.resize(760, 560)
        self.target = Path(target) if target is not None else deps.deps_dir()
        self.task: InstallTask | None = None
        self.state = "idle"  # idle -> running -> done | failed | cancelled
        self.plan = None

        self.header = QLabel(tr(
            "QGIS runs <b>Python {version}</b> (prefix <code>{prefix}</code>). The packages you tick are "
            "installed with that Python's pip into <code>{folder}</code>, a folder only this plugin uses "
            "(delete it to remove them). MOSAIKS, local data and the bundled sample need none of them. "
            "Packages whose pip wheels bundle their own GDAL, GEOS or PROJ (rasterio, shapely, pyproj, "
            "fiona, pyogrio) are never installed into QGIS.").format(
                version=html.escape(sys.version.split()[0]), prefix=html.escape(sys.prefix),
                folder=html.escape(str(self.target))))
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTreeWidget()
        self.table.setHeaderLabels([tr("Package"), tr("In QGIS's Python"), tr("Needed for")])
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
        self.log_view.setPlaceholderText(tr("pip's output appears here."))
        buttons = QDialogButtonBox()
        self.btn_install = QPushButton(tr("Install"))
        self.btn_install.setObjectName("btnInstall")
        self.btn_stop = QPushButton(tr("Stop"))
        self.btn_stop.setEnabled(False)
        buttons.addButton(self.btn_install, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.btn_stop, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.btn_install.clicked.connect(self.start)
        self.btn_stop.clicked.connect(self.stop)
        buttons.rejected.connect(self.close)

        lay = QVBoxLayout(self)
        for w in (self.header, self.table, self.progress, self.status, self.log_view, buttons):
            lay.addWidget(w)

    def _add_row(self, module: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([deps.pip_name(module), "", deps.purpose(module)])
        item.setData(0, Qt.ItemDataRole.UserRole, module)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, Qt.CheckState.Unchecked)
        item.setToolTip(2, deps.purpose(module))
        self.table.addTopLevelItem(item)
        self.rows[module] = item
        self._show_status(module)
        return item

    def _show_status(self, module: str) -> None:
        have = deps.is_importable(module)
        ver = _installed_version(module) if have else None
        text = (tr("installed {version}").format(version=ver) if ver else tr("installed")) if have else tr("missing")
        self.rows[module].setText(1, text)

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
        if self.state == "running":
            return self.task
        if not modules:
            self.status.setText(tr("Tick the packages to install first."))
            return None
        self.state = "running"
        self.log_view.clear()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.btn_install.setEnabled(False)
        self.btn_stop.setEnabled(True)
        self.status.setText(tr("Installing {packages}…").format(
            packages=", ".join(deps.pip_name(m) for m in modules)))
        self.task = InstallTask(modules, self.target, on_finished=self._finished)
        self.task.line.connect(self.log_view.appendPlainText)
        self.task.progressChanged.connect(lambda p: self.progress.setValue(int(p)))
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finished(self, result: Result) -> None:
        task, self.task = self.task, None
        output = "\n".join(task.output) if task is not None else ""
        self.btn_install.setEnabled(True)
        self.btn_stop.setEnabled(False)
        if isinstance(result, Done):
            self.plan = result.data["plan"]
            deps.add_to_path(self.target)
            restart = deps.restart_needed(self.plan, self.target)
            text = result.message + ("" if not restart else " " + tr(
                "Restart QGIS to use the new {modules} (QGIS has the old one loaded).").format(
                    modules=", ".join(restart)))
            self.progress.setValue(100)
            for module, item in self.rows.items():
                self._show_status(module)
                if deps.is_importable(module):
                    item.setCheckState(0, Qt.CheckState.Unchecked)
            self.state = "done"
            self.status.setText(text)
            log(tr("installer: {result}").format(result=text) + "\n" + output, Qgis.MessageLevel.Info)
            self.installed.emit(self.plan)
        elif isinstance(result, Failed):
            self.log_view.appendPlainText("\n" + result.error)
            first = result.error.partition(": ")[2].splitlines()[0] if ": " in result.error else result.error
            self.state = "failed"
            self.status.setText(f"<span style='color:#b00000'>{html.escape(first)}</span> "
                                + html.escape(tr("(pip's log is below)")))
            log(tr("installer failed: {error}").format(error=result.error) + "\n" + output,
                Qgis.MessageLevel.Warning)
        else:
            self.state = "cancelled"
            self.status.setText(tr("Installation stopped (pip was killed); install again to complete it."))

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        if self.state == "running":
            self.stop()
        super().closeEvent(event)
