#!/usr/bin/env python
"""Static scan of the plugin's QGIS face for Qt5-only and QGIS-3.22-only idioms.

The patterns are those QGIS's own migration script fixes or warns about
(``scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py`` in the QGIS repository), checked here instead of
rewritten, so the code runs unchanged from QGIS 3.22 (PyQt5) to QGIS 4 (PyQt6):

==========  ===================================================================================
QT6-IMPORT  ``PyQt5``/``PyQt6``/``sip`` imported directly (use ``qgis.PyQt``), ``qgis.PyQt.Qt``,
            ``resources_rc`` (compiled resources are gone in Qt6), ``QRegExp`` (removed)
QT6-EXEC    ``exec_()`` called or defined (``exec()``)
QT6-QAPP    ``qApp`` (``QApplication.instance()``)
QT6-NULL    ``QVariant()`` or ``QVariant(QVariant.X)`` as a NULL value (``qgis.core.NULL``)
QT6-QVARIANT ``QVariant.<Type>`` (``QVariant.Type`` is gone in PyQt6: ``compat.field_type``)
QT6-DATETIME ``QDateTime(y, m, d, h, mi, s, ms, spec)`` or ``QDateTime(QDate(...))``
QT6-FONTWIDTH ``QFontMetrics.width()`` (``horizontalAdvance``)
QT6-OVERLOAD a signal picked by its argument type, e.g. ``activated[str]``
QT6-ADDACTION ``addAction`` with 4+ arguments
QT6-DESKTOP ``QApplication.desktop()`` (``QDesktopWidget`` is gone)
QT6-RENAMED enums renamed in Qt6 (``Qt.MidButton``, ``Qt.TextColorRole``, ...)
QT6-ENUM    an enum member taken from its class without its enum (``Qt.ItemIsEditable``: write
            ``Qt.ItemFlag.ItemIsEditable``); found by introspecting the Qt and QGIS bindings
QT6-MOVED   an enum whose home moved between QGIS 3.22 and 3.30+/4.x, spelled the 3.22 way
            (use ``rs_embed_qgis.compat``, the one place that spells both)
==========  ===================================================================================

    python scripts/check_qt6.py [PATH ...]     # default: rs_embed_qgis/ without engine/

Exits 1 and prints ``file:line:col CODE message`` for every finding. The QT6-ENUM check needs the
QGIS Python bindings (run it with QGIS's Python, as the tests do); without them it is skipped
with a note.
"""
from __future__ import annotations

import ast
import enum
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "rs_embed_qgis"
SKIP_DIRS = {"engine", "__pycache__"}   # the engine never imports Qt or QGIS
COMPAT = "compat.py"                     # where the old spellings live on purpose

RENAMED = {("Qt", "MidButton"): "Qt.MouseButton.MiddleButton",
           ("Qt", "TextColorRole"): "Qt.ItemDataRole.ForegroundRole",
           ("Qt", "BackgroundColorRole"): "Qt.ItemDataRole.BackgroundRole",
           ("QPainter", "HighQualityAntialiasing"): "QPainter.RenderHint.Antialiasing"}
BINDING_MODULES = ("qgis.core", "qgis.gui", "qgis.analysis")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        try:
            rel = self.path.relative_to(ROOT)
        except ValueError:
            rel = self.path
        return f"{rel}:{self.line}:{self.col} {self.code} {self.message}"


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` of an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _is_enum_member(value) -> bool:
    """A member of a Python enum (PyQt6, QGIS's promoted enums) or of a sip enum (PyQt5)."""
    return isinstance(value, enum.Enum) or type(type(value)).__name__ == "enumtype"


def _moved() -> dict[str, str]:
    """Each 3.22 spelling named in ``rs_embed_qgis.compat`` (``Owner.Enum.Member``) -> its compat name."""
    sys.path.insert(0, str(ROOT))
    try:
        from rs_embed_qgis.compat import FIELD_TYPES, MOVED
    finally:
        sys.path.pop(0)
    spellings = {old: name for name, (_new, old) in MOVED.items()}
    spellings.update({old: f"field_type({kind!r})" for kind, (_new, old) in FIELD_TYPES.items()})
    return spellings


def _hint(spellings: dict[str, str], owner: str, enum_name: str, member: str) -> str:
    name = spellings.get(f"{owner}.{enum_name}.{member}")
    return f"compat.{name}" if name else "a new entry of compat.MOVED"


class Scanner:
    def __init__(self, introspect: bool = True):
        self.moved = _moved()
        self.homes = {old.rsplit(".", 1)[0] for old in self.moved}
        self.bindings: dict[str, object] = {}
        self.note = ""
        if introspect:
            try:
                for mod in BINDING_MODULES:
                    self.bindings[mod] = importlib.import_module(mod)
            except ImportError as exc:
                self.note = f"QT6-ENUM skipped: the QGIS bindings do not import here ({exc})"

    def _resolve(self, module: str, name: str):
        """The object ``name`` of ``module`` (qgis.core, qgis.PyQt.QtCore, ...), or None."""
        if not self.bindings:
            return None
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None

    def scan_file(self, path: Path) -> list[Finding]:
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src, filename=str(path))
        out: list[Finding] = []
        in_compat = path.name == COMPAT

        def hit(node, code, msg):
            out.append(Finding(path, node.lineno, node.col_offset + 1, code, msg))

        imported: dict[str, object] = {}    # local name -> class object of the bindings
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                top = mod.split(".")[0]
                if top in ("PyQt5", "PyQt6", "sip") or mod in ("PyQt5", "PyQt6"):
                    hit(node, "QT6-IMPORT", f"'from {mod} import' - import Qt through qgis.PyQt")
                if mod == "qgis.PyQt.Qt":
                    hit(node, "QT6-IMPORT", "qgis.PyQt.Qt is gone in Qt6 - import from qgis.PyQt.QtCore")
                for alias in node.names:
                    if alias.name == "resources_rc":
                        hit(node, "QT6-IMPORT", "compiled resources are gone in Qt6 - load files by path")
                    if alias.name == "QRegExp":
                        hit(node, "QT6-IMPORT", "QRegExp is gone in Qt6 - use QRegularExpression")
                    if mod.startswith("qgis.PyQt") or mod in BINDING_MODULES:
                        obj = self._resolve(mod, alias.name)
                        if obj is not None:
                            imported[alias.asname or alias.name] = obj
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in ("PyQt5", "PyQt6", "sip"):
                        hit(node, "QT6-IMPORT", f"'import {alias.name}' - import Qt through qgis.PyQt")
            elif isinstance(node, ast.FunctionDef) and node.name == "exec_":
                hit(node, "QT6-EXEC", "def exec_ - name it exec")
            elif isinstance(node, ast.Name) and node.id == "qApp":
                hit(node, "QT6-QAPP", "qApp is gone in Qt6 - use QApplication.instance()")
            elif isinstance(node, ast.Call):
                self._call(node, hit)
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and isinstance(node.slice, ast.Name) and node.slice.id in ("str", "int", "bool", "float"):
                hit(node, "QT6-OVERLOAD", f"{node.value.attr}[{node.slice.id}]: overloaded signals are gone "
                                          "in Qt6 - connect the signal itself")
        attributes = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
        inner = {id(n.value) for n in attributes if isinstance(n.value, ast.Attribute)}
        for node in attributes:
            dotted = _dotted(node)
            if dotted is None:
                continue
            parts = dotted.split(".")
            if len(parts) == 2 and tuple(parts) in RENAMED:
                hit(node, "QT6-RENAMED", f"{dotted} is gone in Qt6 - use {RENAMED[tuple(parts)]}")
            if len(parts) == 2 and parts[0] in imported and isinstance(imported[parts[0]], type):
                self._enum(node, parts, imported[parts[0]], hit, in_compat)
            if id(node) in inner or in_compat:
                continue  # the longest chain speaks for the whole expression
            if parts[0] == "QVariant" and parts[1][:1].isupper():
                hit(node, "QT6-QVARIANT", f"{dotted}: QVariant types are gone in PyQt6 - use "
                                          "compat.field_type() or QMetaType.Type")
            if len(parts) >= 3 and ".".join(parts[:2]) in self.homes:
                hit(node, "QT6-MOVED", f"{dotted} moved in QGIS 3.30+/4.x - use "
                                       f"{_hint(self.moved, *parts[:3])}")
        return out

    def _enum(self, node, parts, owner, hit, in_compat) -> None:
        try:
            value = getattr(owner, parts[1])
        except AttributeError:
            return
        if isinstance(value, type) or not _is_enum_member(value):
            return
        enum_name = type(value).__qualname__.rsplit(".", 1)[-1]
        if f"{parts[0]}.{enum_name}" in self.homes and not in_compat:
            hit(node, "QT6-ENUM", f"{parts[0]}.{parts[1]} is not scoped and moved in QGIS 3.30+/4.x - use "
                                  f"{_hint(self.moved, parts[0], enum_name, parts[1])}")
        else:
            hit(node, "QT6-ENUM", f"{parts[0]}.{parts[1]} is not scoped - write "
                                  f"{parts[0]}.{enum_name}.{parts[1]}")

    @staticmethod
    def _call(node: ast.Call, hit) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "exec_":
                hit(node, "QT6-EXEC", "exec_() is gone in Qt6 - call exec()")
            elif func.attr == "addAction" and len(node.args) >= 4:
                hit(node, "QT6-ADDACTION", "addAction(...) with 4+ arguments - build the QAction, then add it")
            elif func.attr == "desktop" and not node.args:
                hit(node, "QT6-DESKTOP", "desktop() / QDesktopWidget are gone in Qt6 - use QScreen")
            elif func.attr == "width" and isinstance(func.value, ast.Call) and (
                    (isinstance(func.value.func, ast.Attribute) and func.value.func.attr == "fontMetrics")
                    or (isinstance(func.value.func, ast.Name) and func.value.func.id == "QFontMetrics")):
                hit(node, "QT6-FONTWIDTH", "QFontMetrics.width() is gone in Qt6 - use horizontalAdvance()")
        elif isinstance(func, ast.Name):
            if func.id == "QVariant" and (not node.args or (
                    len(node.args) == 1 and (_dotted(node.args[0]) or "").startswith("QVariant."))):
                hit(node, "QT6-NULL", "QVariant() as NULL is gone in PyQt6 - use qgis.core.NULL")
            elif func.id == "QDateTime" and (len(node.args) == 8 or (
                    len(node.args) == 1 and isinstance(node.args[0], ast.Call)
                    and isinstance(node.args[0].func, ast.Name) and node.args[0].func.id == "QDate")):
                hit(node, "QT6-DATETIME", "this QDateTime constructor is gone in Qt6 - use "
                                          "QDateTime(QDate(...), QTime(...), ...)")

    def scan(self, paths) -> list[Finding]:
        findings: list[Finding] = []
        for path in paths:
            path = Path(path)
            files = [path] if path.is_file() else sorted(
                p for p in path.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(path).parts))
            for f in files:
                findings += self.scan_file(f)
        return findings


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    scanner = Scanner()
    findings = scanner.scan(args or [DEFAULT])
    for f in findings:
        print(f)
    if scanner.note:
        print(scanner.note, file=sys.stderr)
    print(f"{len(findings)} Qt5-only / QGIS-3.22-only idiom(s) found", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
