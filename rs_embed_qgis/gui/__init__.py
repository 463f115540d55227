"""QGIS GUI of the plugin: the dock, its map tools, the settings dialog, the dependency installer."""
from __future__ import annotations

from pathlib import Path


def find_resource(*parts: str) -> str:
    """A file under ``ui/`` or ``resources/`` (repository layout or packaged plugin folder)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        p = parent.joinpath(*parts)
        if p.exists():
            return str(p)
    return ""


def load_ui(name: str):
    """``(FormClass, BaseClass)`` of ``ui/<name>.ui``."""
    from qgis.PyQt import uic

    path = find_resource("ui", f"{name}.ui")
    if not path:
        raise FileNotFoundError(f"Qt Designer form ui/{name}.ui not found beside the plugin")
    return uic.loadUiType(path)


def icon(name: str):
    from qgis.PyQt.QtGui import QIcon

    return QIcon(find_resource("resources", "icons", name))
