"""One code base for QGIS 3.22 to 4.x (Qt6), proven on a machine that only runs QGIS 3.22:
the face imports and its forms load under PyQt6 (``pyqt6_shim.py``, in a subprocess), a static
scan finds no Qt5-only idiom (``scripts/check_qt6.py``), the enums that moved between QGIS
versions resolve through ``compat``, and ``metadata.txt`` says so."""
from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ._scripts import load

ROOT = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).with_name("pyqt6_shim.py")

pytest.importorskip("PyQt6.QtCore", reason="PyQt6 (requirements/dev.txt) is needed for the Qt6 check")


def run_shim(*extra: Path) -> tuple[int, dict]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, str(SHIM), *map(str, extra)], capture_output=True, text=True,
                       timeout=600, env=env, cwd=str(ROOT))
    start = r.stdout.find("{")
    assert start >= 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.returncode, json.loads(r.stdout[start:])


def test_the_face_imports_and_its_forms_load_under_pyqt6():
    rc, report = run_shim()
    assert report["errors"] == [] and rc == 0, "\n".join(report["errors"])
    assert report["pyqt"].startswith("6.")
    assert sorted(report["ui"]) == sorted(p.name for p in (ROOT / "ui").glob("*.ui"))
    face = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
            for p in (ROOT / "rs_embed_qgis").rglob("*.py") if "engine" not in p.parts}
    assert set(report["imported"]) == face
    assert report["qt_names"] > 40  # every qgis.PyQt name the code uses was resolved in PyQt6


def test_the_pyqt6_check_fails_on_qt5_idioms(tmp_path):
    mod = tmp_path / "qt5_only.py"
    mod.write_text("from qgis.PyQt.QtCore import Qt\nfrom qgis.PyQt.QtWidgets import QMessageBox\n\n"
                   "BUTTON = Qt.LeftButton\n\n\ndef ask(box):\n    return box.exec() == QMessageBox.Yes\n")
    rc, report = run_shim(mod)
    assert rc == 1
    text = "\n".join(report["errors"])
    assert "Qt.LeftButton is not in PyQt6" in text and "QMessageBox.Yes is not in PyQt6" in text


def _scanner():
    return load("check_qt6")


def test_no_qt5_only_idiom_in_the_plugin(qgis_app):
    check_qt6 = _scanner()
    scanner = check_qt6.Scanner()
    assert scanner.note == ""  # the enum check ran against the real bindings
    findings = scanner.scan([check_qt6.DEFAULT])
    assert findings == [], "\n".join(map(str, findings))


def test_the_scan_finds_each_idiom(qgis_app, tmp_path):
    src = tmp_path / "old_style.py"
    src.write_text('''
from PyQt5.QtCore import QVariant
from qgis.core import Qgis, QgsProcessingParameterNumber, QgsWkbTypes
from qgis.PyQt.QtCore import QDate, QDateTime, Qt
from qgis.PyQt.QtGui import QFontMetrics
from qgis.PyQt.QtWidgets import QApplication, QMessageBox, qApp
import resources_rc

level = Qgis.Info
flag = Qt.ItemIsEditable
answer = QMessageBox.Yes
middle = Qt.MidButton
polygon = QgsWkbTypes.GeometryType.PolygonGeometry
integer = QgsProcessingParameterNumber.Integer
kind = QVariant.Double
null = QVariant()
when = QDateTime(QDate(2022, 1, 1))
width = QFontMetrics(font).width("x")
combo.activated[str].connect(print)
menu.addAction(icon, "text", receiver, slot)
screen = QApplication.desktop()
app = qApp


class Dialog:
    def exec_(self):
        return self.dialog.exec_()
''')
    findings = _scanner().Scanner().scan([src])
    codes = {f.code for f in findings}
    assert codes == {"QT6-IMPORT", "QT6-EXEC", "QT6-QAPP", "QT6-NULL", "QT6-QVARIANT", "QT6-DATETIME",
                     "QT6-FONTWIDTH", "QT6-OVERLOAD", "QT6-ADDACTION", "QT6-DESKTOP", "QT6-RENAMED",
                     "QT6-ENUM", "QT6-MOVED"}, "\n".join(map(str, findings))
    text = "\n".join(map(str, findings))
    assert "Qgis.Info is not scoped - write Qgis.MessageLevel.Info" in text
    assert "Qt.ItemIsEditable is not scoped - write Qt.ItemFlag.ItemIsEditable" in text
    assert "QgsProcessingParameterNumber.Integer is not scoped and moved" in text and "compat.NUMBER_INTEGER" in text
    assert "compat.GEOMETRY_POLYGON" in text
    # and the command line says so with its exit code
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_qt6.py"), str(src)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 1 and "QT6-EXEC" in r.stdout


def test_moved_enums_resolve_to_the_qgis_3_22_values_here(qgis_app):
    """On QGIS 3.22 every compat name is the old spelling's value (the new one does not exist yet);
    newer QGIS pick the new spelling first."""
    from qgis.core import Qgis

    from rs_embed_qgis import compat

    for name, (new, old) in compat.MOVED.items():
        assert getattr(compat, name) == compat._lookup(old), name
        if Qgis.QGIS_VERSION_INT < 33000:
            with pytest.raises(AttributeError):
                compat._lookup(new)
    from qgis.PyQt.QtCore import QVariant

    if Qgis.QGIS_VERSION_INT < compat.QMETATYPE_FIELDS_SINCE:
        assert compat.field_type("double") == QVariant.Type.Double
    with pytest.raises(AttributeError):
        compat.NOT_AN_ENUM  # noqa: B018 - the attribute access is the test


def test_metadata_declares_qt6_and_qgis_4():
    cp = configparser.ConfigParser()
    cp.read(ROOT / "metadata.txt")
    general = cp["general"]
    assert general["supportsQt6"] == "True"
    assert general["qgisMinimumVersion"] == "3.22" and general["qgisMaximumVersion"] == "4.99"


def test_a_qgis_on_a_too_old_python_gets_a_plain_refusal(qgis_iface, monkeypatch):
    """The plugin manager cannot say which Python a plugin needs; classFactory says it in words."""
    import rs_embed_qgis

    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    with pytest.raises(RuntimeError, match=r"needs Python 3\.10 or newer; this QGIS runs Python 3\.9"):
        rs_embed_qgis.classFactory(qgis_iface)
