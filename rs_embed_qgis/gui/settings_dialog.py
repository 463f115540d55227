"""The settings dialog: backend, data, Earth Engine project, cache, device, weights per model."""
from __future__ import annotations

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QTableWidgetItem

from .. import settings as S
from . import load_ui

FORM, BASE = load_ui("settings")


class SettingsDialog(BASE, FORM):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setupUi(self)
        for w in (self.fileLocalData, self.fileCache, self.fileOutDir):
            w.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.load()
        self.buttonBox.accepted.connect(self.accept)
        self.buttonBox.rejected.connect(self.reject)

    def load(self) -> None:
        from ..engine import budget, list_models
        from ..engine.provenance import full_provenance
        from ..engine.providers.sanity import MIN_VALID_FRACTION

        self.cmbBackend.setCurrentText(S.get("default_backend", "local"))
        self.fileLocalData.setFilePath(S.get("local_data", "") or "")
        self.editGeeProject.setText(S.get("gee_project", "") or "")
        self.fileCache.setFilePath(S.get("cache_dir", "") or "")
        self.fileOutDir.setFilePath(S.get("output_dir", "") or "")
        self.cmbDevice.setCurrentText(S.get("device", "auto"))
        self.spinMaxMemory.setValue(float(S.get("max_memory_gb", budget.DEFAULT_MAX_MEMORY_GB)))
        self.spinAskMemory.setValue(float(S.get("ask_memory_gb", budget.DEFAULT_ASK_MEMORY_GB)))
        self.chkFullProvenance.setChecked(str(S.get("full_provenance", "")) == "1" or full_provenance())
        self.spinMinValid.setValue(float(S.get("min_valid_fraction", MIN_VALID_FRACTION)))
        models = list_models()
        self.tblWeights.setRowCount(len(models))
        for i, m in enumerate(models):
            item = QTableWidgetItem(m)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.tblWeights.setItem(i, 0, item)
            self.tblWeights.setItem(i, 1, QTableWidgetItem(S.weights_path(m) or ""))

    def accept(self) -> None:
        self.save()
        super().accept()

    def save(self) -> None:
        S.put("default_backend", self.cmbBackend.currentText())
        S.put("local_data", self.fileLocalData.filePath().strip())
        S.put("gee_project", self.editGeeProject.text().strip())
        S.put("cache_dir", self.fileCache.filePath().strip())
        S.put("output_dir", self.fileOutDir.filePath().strip())
        S.put("device", self.cmbDevice.currentText())
        S.put("max_memory_gb", self.spinMaxMemory.value())
        S.put("ask_memory_gb", self.spinAskMemory.value())
        S.put("full_provenance", "1" if self.chkFullProvenance.isChecked() else "0")
        S.put("min_valid_fraction", self.spinMinValid.value())
        for i in range(self.tblWeights.rowCount()):
            model = self.tblWeights.item(i, 0).text()
            path_item = self.tblWeights.item(i, 1)
            S.set_weights_path(model, path_item.text().strip() if path_item else "")
        S.apply_environment()
