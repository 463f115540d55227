"""Optional Python dependencies: what is missing, and installing it into a folder the plugin owns.

QGIS on Windows and macOS ships its own Python, where users cannot (or must not)
``pip install`` into site-packages. The plugin installs into
``<QGIS profile>/python/rs_embed_qgis_deps`` with ``pip install --target`` and
puts that folder on ``sys.path`` at start, so the plugin loads whatever is
missing, and models that do not need a missing package keep working.

Nothing here runs pip by itself: :func:`install_command` builds the command (the
tests check it, dry run); the dock runs it in a ``QgsTask`` only when the user
confirms.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..i18n import tr, tr_noop

DEPS_DIRNAME = "rs_embed_qgis_deps"

# import name -> pip requirement, and what needs it
OPTIONAL: dict[str, dict[str, str]] = {
    "torch": {"pip": "torch",
              "for": tr_noop("deep-learning models (AnySat, Prithvi, SatMAE, ScaleMAE, RemoteCLIP, ...)")},
    "ee": {"pip": "earthengine-api", "for": tr_noop("the Google Earth Engine backend")},
    "pystac_client": {"pip": "pystac-client",
                      "for": tr_noop("the STAC backend (Earth Search, Planetary Computer)")},
    "safetensors": {"pip": "safetensors", "for": tr_noop("reading .safetensors checkpoints")},
    "huggingface_hub": {"pip": "huggingface_hub", "for": tr_noop("downloading official weights")},
    "dask": {"pip": "dask", "for": tr_noop("batch exports on a Dask cluster")},
}
PIP_NAMES = {"ee": "earthengine-api", "pystac_client": "pystac-client", "sklearn": "scikit-learn",
             "PIL": "pillow", "yaml": "pyyaml"}


def deps_dir(profile_dir: str | None = None) -> Path:
    """``<QGIS profile>/python/rs_embed_qgis_deps``."""
    if profile_dir is None:
        from qgis.core import QgsApplication

        profile_dir = QgsApplication.qgisSettingsDirPath()
    return Path(profile_dir) / "python" / DEPS_DIRNAME


def add_to_path(folder: Path | None = None) -> str | None:
    """Put the plugin's dependency folder on ``sys.path`` (after QGIS's own packages)."""
    folder = Path(folder) if folder is not None else deps_dir()
    if not folder.is_dir():
        return None
    p = str(folder)
    if p not in sys.path:
        sys.path.append(p)  # appended: never shadow QGIS's numpy/GDAL builds
    return p


def is_importable(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(modules: Sequence[str] | None = None) -> list[str]:
    """Import names (of ``modules``, default all optional ones) that cannot be imported here."""
    return [m for m in (modules or list(OPTIONAL)) if not is_importable(m)]


def pip_name(module: str) -> str:
    return OPTIONAL.get(module, {}).get("pip") or PIP_NAMES.get(module, module)


def python_executable() -> str:
    """The Python interpreter of QGIS (``sys.executable`` is qgis.exe / QGIS.app on Windows/macOS)."""
    exe = Path(sys.executable)
    if exe.name.lower().startswith("python"):
        return str(exe)
    cands = [Path(sys.exec_prefix) / "python.exe", Path(sys.exec_prefix) / "python3.exe",
             Path(sys.exec_prefix) / "bin" / "python3", Path(sys.exec_prefix) / "bin" / "python",
             exe.parent / "python3", exe.parent / "python.exe"]
    for c in cands:
        if c.exists():
            return str(c)
    return str(exe)


def constraints_file(repo_constraints: str | None = None) -> Path:
    """Pins that protect QGIS's own packages (numpy, GDAL bindings) plus the project's constraints."""
    lines = []
    try:
        import numpy

        lines.append(f"numpy=={numpy.__version__}")
    except ImportError:
        pass
    src = repo_constraints or _find_repo_constraints()
    if src and Path(src).exists():
        for line in Path(src).read_text(encoding="utf-8").splitlines():
            s = line.split("#", 1)[0].strip()
            if s and not s.lower().startswith("numpy"):
                lines.append(s)
    fd, path = tempfile.mkstemp(prefix="rs_embed_constraints_", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return Path(path)


def _find_repo_constraints() -> str | None:
    from . import find_resource

    return find_resource("requirements", "constraints.txt") or None


def install_command(modules: Sequence[str], target: Path, constraints: Path | None = None,
                    python: str | None = None) -> list[str]:
    """The pip command that installs ``modules`` into ``target`` (nothing is run)."""
    if not modules:
        raise ValueError("nothing to install")
    cmd = [python or python_executable(), "-m", "pip", "install", "--upgrade", "--target", str(target),
           "--no-warn-script-location", "--disable-pip-version-check"]
    if constraints is not None:
        cmd += ["-c", str(constraints)]
    pkgs = [pip_name(m) for m in modules]
    if "torch" in pkgs and sys.platform != "darwin":
        cmd += ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]  # CPU build, not multi-GB CUDA
    return cmd + pkgs


def run_install(cmd: Sequence[str], is_cancelled=None) -> str:
    """Run the pip command (in a QgsTask's worker thread); returns its output, raises on failure."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    out = []
    for line in proc.stdout or []:
        out.append(line)
        if is_cancelled and is_cancelled():
            proc.kill()
            raise RuntimeError(tr("installation cancelled"))
    rc = proc.wait()
    text = "".join(out)
    if rc != 0:
        raise RuntimeError(tr("pip exited with {rc}:\n{output}").format(rc=rc, output=text[-4000:]))
    return text


def describe_missing(needed: Sequence[str]) -> str:
    """One sentence per missing module: what it is for and how it will be installed."""
    parts = []
    for m in needed:
        why = tr(OPTIONAL.get(m, {}).get("for", tr_noop("a model's code")))
        parts.append(tr("<b>{package}</b> (import {module}) — needed for {why}").format(
            package=pip_name(m), module=m, why=why))
    return tr("Missing in QGIS's Python: {packages}.").format(packages="; ".join(parts))
