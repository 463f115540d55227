"""The code's own shape (issue 13): no module imports another module's private names, and the
modules' top-level imports form no circle. Read from the source (ast), nothing is imported."""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "rs_embed_qgis"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


MODULES = _modules()


def _target(module: str, node: ast.ImportFrom) -> str | None:
    """The absolute module an ``ImportFrom`` in ``module`` reads from."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]  # a plain module's relative imports start at its package
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _ours(name: str | None) -> bool:
    return bool(name) and (name == "rs_embed_qgis" or name.startswith("rs_embed_qgis."))


def test_the_module_list_is_read():
    assert "rs_embed_qgis.engine.pipeline" in MODULES and "rs_embed_qgis.engine.catalog" in MODULES
    assert len(MODULES) > 100


def test_no_module_imports_another_modules_private_names():
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                tgt = _target(name, node)
                if _ours(tgt) and tgt != name:
                    found += [f"{name}: from {tgt} import {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def test_top_level_imports_form_no_circle():
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # run at import time only
            if isinstance(node, ast.ImportFrom):
                tgt = _target(name, node)
                if _ours(tgt):
                    for a in node.names:  # "from . import x" imports the module x
                        sub = f"{tgt}.{a.name}"
                        graph[name].add(sub if sub in MODULES else tgt)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if _ours(a.name)}
    graph = {k: {d for d in v if d in MODULES and d != k} for k, v in graph.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_relative_imports_resolve_as_python_resolves_them():
    """The checks above read ``from ..x import y`` as Python does, in modules and in packages."""
    node = ast.parse("from ..engine.io import atomic_path").body[0]
    assert _target("rs_embed_qgis.processing.common", node) == "rs_embed_qgis.engine.io"
    node = ast.parse("from .local import LocalProvider").body[0]
    assert _target("rs_embed_qgis.engine.providers", node) == "rs_embed_qgis.engine.providers.local"
    node = ast.parse("from . import pipeline").body[0]
    assert _target("rs_embed_qgis.engine.api", node) == "rs_embed_qgis.engine"
