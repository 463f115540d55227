"""Load the plugin's QGIS face under PyQt6, in a process without QGIS (run by test_qt6.py).

Only QGIS 3.22 (Qt5) runs on this machine. This script stands in for a QGIS 4 (Qt6) Python:

- ``qgis.PyQt.<module>`` is PyQt6's module, with the names QGIS's own Qt6 wrapper adds
  (``qgis/PyQt/QtWidgets.py`` re-exports ``QAction`` and ``QShortcut`` from QtGui);
  PyQt5 cannot be imported at all;
- ``qgis.core`` / ``qgis.gui`` are stubs: every name is a class (a Qt widget or QObject where
  the plugin subclasses or instantiates one), so modules import;

then it imports every module of the face, loads and instantiates every ``.ui`` form with PyQt6's
``uic``, and resolves every ``qgis.PyQt`` name the code uses (``Qt.ItemFlag.ItemIsEditable``,
``QMessageBox.StandardButton.Yes``...) against PyQt6. It prints one JSON report and exits 1 if
anything failed.

    python tests/plugin/pyqt6_shim.py [EXTRA_MODULE_FILE ...]
"""
from __future__ import annotations

import ast
import importlib
import importlib.abc
import json
import sys
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYQT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtTest", "QtNetwork", "QtSvg", "QtXml", "QtPrintSupport",
                "QtSql", "uic", "sip")


class _NoPyQt5(importlib.abc.MetaPathFinder):
    """PyQt5 and the real QGIS bindings must not sneak in."""

    def find_spec(self, name, path=None, target=None):
        if name == "PyQt5" or name.startswith("PyQt5.") or name.startswith("qgis._"):
            raise ImportError(f"{name} is blocked in the PyQt6 check")
        return None


def install_pyqt6() -> None:
    from PyQt6 import QtGui, QtWidgets

    qgis = types.ModuleType("qgis")
    qgis.__path__ = []
    pyqt = types.ModuleType("qgis.PyQt")
    pyqt.__path__ = []
    sys.modules.update({"qgis": qgis, "qgis.PyQt": pyqt})
    qgis.PyQt = pyqt
    for name in PYQT_MODULES:
        try:
            real = importlib.import_module(f"PyQt6.{name}")
        except ImportError:
            continue
        sys.modules[f"qgis.PyQt.{name}"] = real
        setattr(pyqt, name, real)
    # what QGIS's qgis/PyQt/QtWidgets.py does under Qt6, so plugin code can keep importing them there
    QtWidgets.QAction = QtGui.QAction
    QtWidgets.QShortcut = QtGui.QShortcut


def install_qgis_stubs() -> None:
    from PyQt6.QtCore import QObject
    from PyQt6.QtWidgets import QComboBox, QDockWidget, QGraphicsView, QWidget

    class _Meta(type):
        def __getattr__(cls, name):  # Qgis.MessageLevel.Info, QgsProcessingContext.LayerDetails...
            if name.startswith("__"):
                raise AttributeError(name)
            return _Meta(name, (_Stub,), {})

    class _Stub(metaclass=_Meta):
        def __init__(self, *args, **kwargs):
            pass

    qt_bases = {"QgsDockWidget": QDockWidget, "QgsFileWidget": QWidget, "QgsMapLayerComboBox": QComboBox,
                "QgsMessageBar": QWidget, "QgsMapCanvas": QGraphicsView, "QgsMapTool": QObject,
                "QgsTask": QObject, "QgsProcessingFeedback": QObject, "QgsProcessingProvider": QObject}

    class _StubModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            if name == "QgsMapToolEmitPoint":
                cls = type(name, (self.QgsMapTool,), {})
            elif name in qt_bases:
                cls = type(name, (qt_bases[name],), {"__init__": lambda self, *a, **k: qt_bases[name].__init__(self)})
            else:
                cls = _Meta(name, (_Stub,), {})
            setattr(self, name, cls)
            return cls

    qgis = sys.modules["qgis"]
    for name in ("core", "gui", "analysis"):
        mod = _StubModule(f"qgis.{name}")
        sys.modules[f"qgis.{name}"] = mod
        setattr(qgis, name, mod)


def face_modules() -> list[str]:
    """Every module of the plugin except the engine (which never imports Qt)."""
    pkg = ROOT / "rs_embed_qgis"
    mods = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if "engine" in rel.parts or "__pycache__" in rel.parts:
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods.append(".".join(parts))
    return mods


def qt_names(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, dotted name)`` of every use of a name imported from ``qgis.PyQt``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgis.PyQt"):
            for alias in node.names:
                bound[alias.asname or alias.name] = (node.module, alias.name)
    attributes = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    inner = {id(n.value) for n in attributes if isinstance(n.value, ast.Attribute)}
    out = [(0, module, name) for module, name in bound.values()]
    for node in attributes:
        if id(node) in inner:
            continue
        parts, base = [], node
        while isinstance(base, ast.Attribute):
            parts.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name) and base.id in bound:
            module, name = bound[base.id]
            out.append((node.lineno, module, ".".join([name, *reversed(parts)])))
    return out


def resolve(module: str, dotted: str) -> None:
    obj = importlib.import_module(module)
    for part in dotted.split("."):
        obj = getattr(obj, part)


def main(extra: list[str]) -> int:
    sys.meta_path.insert(0, _NoPyQt5())
    install_pyqt6()
    install_qgis_stubs()
    sys.path.insert(0, str(ROOT))
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841 - forms need an application
    report = {"pyqt": None, "imported": [], "ui": [], "qt_names": 0, "errors": []}
    from PyQt6.QtCore import PYQT_VERSION_STR

    report["pyqt"] = PYQT_VERSION_STR
    files = [(m, ROOT / (m.replace(".", "/") + ("/__init__.py" if (ROOT / m.replace(".", "/")).is_dir()
                                                else ".py"))) for m in face_modules()]
    for path in extra:
        sys.path.insert(0, str(Path(path).parent))
        files.append((Path(path).stem, Path(path)))
    for module, path in files:
        try:
            importlib.import_module(module)
            report["imported"].append(module)
        except Exception:  # noqa: BLE001 - every failure is reported, not only the first
            report["errors"].append(f"import {module}: {traceback.format_exc(limit=-3)}")
        for line, qt_module, dotted in qt_names(path):
            report["qt_names"] += 1
            try:
                resolve(qt_module, dotted)
            except (AttributeError, ImportError) as exc:
                report["errors"].append(f"{path.relative_to(ROOT) if ROOT in path.parents else path}:{line}: "
                                        f"{qt_module}.{dotted} is not in PyQt6 ({exc})")
    from qgis.PyQt import uic
    from qgis.PyQt.QtWidgets import QWidget

    for ui in sorted((ROOT / "ui").glob("*.ui")):
        try:
            form_class, base_class = uic.loadUiType(str(ui))
            widget = base_class()
            form = form_class()
            form.setupUi(widget)
            assert isinstance(widget, QWidget) and widget.findChildren(QWidget)
            report["ui"].append(ui.name)
        except Exception:  # noqa: BLE001 - every failure is reported
            report["errors"].append(f"{ui.name}: {traceback.format_exc(limit=-3)}")
    print(json.dumps(report, indent=1))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
