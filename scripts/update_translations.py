#!/usr/bin/env python
"""Collect the plugin's user-visible strings into Qt Linguist files (``.ts``), and compile them.

Sources of strings (no QGIS needed to run this):

- Python: ``tr("...")`` and ``tr_noop("...")`` of ``rs_embed_qgis.i18n`` (context ``RsEmbed``), and
  ``QCoreApplication.translate("<context>", "...")``, in every module of the QGIS face (the engine
  shows no GUI strings). A ``tr()`` of an f-string cannot be translated and is an error.
- Qt Designer forms ``ui/*.ui``: every ``<string>`` not marked ``notr="true"``, in the context
  of the form's class (what ``uic`` passes to ``translate`` in ``retranslateUi``).

    python scripts/update_translations.py            # write resources/i18n/rs_embed_qgis.ts (the source
                                                     # file) and refresh every rs_embed_qgis_<lang>.ts
    python scripts/update_translations.py --lang de  # start or refresh the German file
    python scripts/update_translations.py --release  # also compile each <lang>.ts to .qm (lrelease)
    python scripts/update_translations.py --check    # exit 1 if the source file is out of date

A refreshed ``<lang>.ts`` keeps every translation whose source string is still used and drops
the rest. The plugin loads ``rs_embed_qgis_<lang>.qm`` for QGIS's user locale
(``rs_embed_qgis/i18n.py``). Locations name the file only (no line numbers), so the source file
changes only when strings do.
"""
from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rs_embed_qgis"
UI_DIR = ROOT / "ui"
OUT_DIR = ROOT / "resources" / "i18n"
STEM = "rs_embed_qgis"
CONTEXT = "RsEmbed"  # rs_embed_qgis.i18n.CONTEXT


class ExtractError(ValueError):
    pass


def python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if "engine" not in p.relative_to(PACKAGE).parts and "__pycache__" not in p.parts)


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def strings_in_python(path: Path) -> list[tuple[str, str]]:
    """``(context, source)`` of every translatable string of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in ("tr", "tr_noop") and node.args:
            text = _literal(node.args[0])
            if text is not None:
                out.append((CONTEXT, text))
            elif isinstance(node.args[0], ast.JoinedStr):
                where = path.relative_to(ROOT) if ROOT in path.parents else path
                raise ExtractError(f"{where}:{node.lineno}: tr() of an f-string cannot be "
                                   "translated; use tr('... {name} ...').format(name=...)")
            # a name or an expression: a string marked with tr_noop() where it is defined
        elif name == "translate" and len(node.args) >= 2:
            ctx, text = _literal(node.args[0]), _literal(node.args[1])
            if ctx is not None and text is not None:
                out.append((ctx, text))
    return out


def strings_in_ui(path: Path) -> list[tuple[str, str]]:
    root = ET.parse(path).getroot()
    context = (root.findtext("class") or path.stem).strip()
    return [(context, el.text) for el in root.iter("string")
            if el.text and el.text.strip() and el.get("notr") != "true"]


def collect() -> dict[str, dict[str, list[str]]]:
    """context -> source string -> files (relative to resources/i18n) it appears in."""
    found: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for path, strings in [(p, strings_in_python(p)) for p in python_files()] + \
                         [(p, strings_in_ui(p)) for p in sorted(UI_DIR.glob("*.ui"))]:
        rel = Path("..", "..", path.relative_to(ROOT)).as_posix()
        for ctx, text in strings:
            files = found[ctx].setdefault(text, [])
            if rel not in files:
                files.append(rel)
    return found


def read_translations(ts: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(context, source) -> (translation, type) of an existing .ts file."""
    out = {}
    for ctx in ET.parse(ts).getroot().iter("context"):
        name = ctx.findtext("name") or ""
        for msg in ctx.iter("message"):
            tr = msg.find("translation")
            if tr is not None and (tr.text or "").strip():
                out[(name, msg.findtext("source") or "")] = (tr.text, tr.get("type"))
    return out


def render(found, language: str | None = None, translations=None) -> str:
    """The .ts XML, contexts and messages sorted so the file is stable."""
    translations = translations or {}
    ts = ET.Element("TS", {"version": "2.1", "sourcelanguage": "en"} | ({"language": language} if language else {}))
    for ctx in sorted(found):
        c = ET.SubElement(ts, "context")
        ET.SubElement(c, "name").text = ctx
        for text in sorted(found[ctx]):
            m = ET.SubElement(c, "message")
            for f in found[ctx][text]:
                ET.SubElement(m, "location", {"filename": f})
            ET.SubElement(m, "source").text = text
            done = translations.get((ctx, text))
            t = ET.SubElement(m, "translation", {} if done and done[1] != "unfinished" else {"type": "unfinished"})
            t.text = done[0] if done else None
    ET.indent(ts, space="    ")
    return '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + ET.tostring(ts, encoding="unicode") + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def release(ts: Path) -> Path:
    """Compile ``ts`` to ``.qm`` with Qt's ``lrelease`` (Debian: qttools5-dev-tools)."""
    exe = shutil.which("lrelease") or shutil.which("lrelease-qt5") or shutil.which("lrelease6")
    if exe is None:
        raise SystemExit("lrelease not found: install Qt's linguist tools (Debian: qttools5-dev-tools)")
    qm = ts.with_suffix(".qm")
    subprocess.run([exe, "-silent", str(ts), "-qm", str(qm)], check=True)
    return qm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", action="append", default=[], help="start or refresh rs_embed_qgis_<LANG>.ts")
    ap.add_argument("--release", action="store_true", help="compile every rs_embed_qgis_<lang>.ts to .qm")
    ap.add_argument("--check", action="store_true", help="exit 1 if the source .ts is not up to date")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="folder of the .ts files (default resources/i18n)")
    args = ap.parse_args(argv)
    try:
        found = collect()
    except ExtractError as exc:
        print(exc, file=sys.stderr)
        return 1
    source = args.out / f"{STEM}.ts"
    text = render(found)
    if args.check:
        current = source.read_text(encoding="utf-8") if source.exists() else ""
        if current != text:
            print(f"{source} is out of date: run python scripts/update_translations.py", file=sys.stderr)
            return 1
        return 0
    n = sum(len(v) for v in found.values())
    print(f"{source}: {n} strings in {len(found)} contexts" + (" (updated)" if write_if_changed(source, text) else ""))
    langs = set(args.lang) | {p.stem.removeprefix(f"{STEM}_") for p in args.out.glob(f"{STEM}_*.ts")}
    for lang in sorted(langs):
        ts = args.out / f"{STEM}_{lang}.ts"
        known = read_translations(ts) if ts.exists() else {}
        write_if_changed(ts, render(found, lang, known))
        done = sum(1 for ctx in found for s in found[ctx] if (ctx, s) in known)
        print(f"{ts}: {done} of {n} translated")
        if args.release:
            print(f"  -> {release(ts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
