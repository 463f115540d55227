"""Optional Python packages: which are missing, and installing them into a folder the plugin owns.

What every QGIS ships (its Python, numpy, GDAL's ``osgeo``, PyQt) runs the core path: the
dock, the toolbox, MOSAIKS on local data and the bundled sample, GeoTIFF output. The packages
in :data:`OPTIONAL` add features; each feature checks for its own before it runs, and the
dock's banner lists what is missing. The installer (:class:`InstallDialog`, started from the
dock or from Raster > RS Embed) puts them into ``<QGIS profile>/python/rs_embed_qgis_deps``
with QGIS's own Python, in three steps:

1. **resolve**: ``pip install --dry-run --report`` lists every distribution the request
   needs that QGIS's Python (with the plugin's folder on its path) does not already have;
2. **check**: the set is refused if it holds a package QGIS owns (numpy, the GDAL bindings,
   PyQt) or a wheel that bundles its own GDAL, GEOS or PROJ (rasterio, shapely, pyproj,
   fiona, pyogrio): loaded into QGIS's process beside QGIS's copies they clash;
3. **install**: exactly that set, pinned, with ``--no-deps --target <folder>``.

The folder goes on ``sys.path`` ahead of the site folders (never ahead of the standard
library or QGIS's own Python folders), so what the installer added because QGIS lacked it or
had it too old is what gets imported. Deleting the folder removes everything it installed.
"""
from __future__ import annotations

import html
import importlib
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess  # nosec B404 - runs pip with QGIS's own Python; never a shell, never user text
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..i18n import tr, tr_noop

DEPS_DIRNAME = "rs_embed_qgis_deps"

# Every package a feature of the plugin imports beyond what QGIS ships: import name -> pip
# requirement, and what needs it (the dock's banner and the installer list exactly these).
OPTIONAL: dict[str, dict[str, str]] = {
    "torch": {"pip": "torch>=2.1,<3",
              "for": tr_noop("the deep-learning models (every model but MOSAIKS and the Google Satellite "
                             "Embedding), S2x10NetS super-resolution and forecasting")},
    "safetensors": {"pip": "safetensors", "for": tr_noop("reading .safetensors checkpoints")},
    "huggingface_hub": {"pip": "huggingface_hub", "for": tr_noop("downloading official weights")},
    "ee": {"pip": "earthengine-api", "for": tr_noop("the Google Earth Engine backend")},
    "pystac_client": {"pip": "pystac-client", "for": tr_noop("the STAC backend (Earth Search, Planetary Computer)")},
    "planetary_computer": {"pip": "planetary-computer", "for": tr_noop("signed Planetary Computer downloads")},
    "xarray": {"pip": "xarray", "for": tr_noop("NetCDF/Zarr exports, Embedding.to_xarray() and forecast minicubes")},
    "netCDF4": {"pip": "netCDF4", "for": tr_noop("NetCDF exports and GreenEarthNet minicubes")},
    "zarr": {"pip": "zarr<3", "for": tr_noop("Zarr exports")},
    "pyarrow": {"pip": "pyarrow", "for": tr_noop("GeoParquet exports")},
    "pandas": {"pip": "pandas", "for": tr_noop("forecast inputs and scores")},
    "spyndex": {"pip": "spyndex", "for": tr_noop("NDVI of the forecasts")},
    "distributed": {"pip": "dask[distributed]", "for": tr_noop("batch exports on a Dask cluster")},
    "scipy": {"pip": "scipy", "for": tr_noop("filling no-data pixels before super-resolution")},
    "PIL": {"pip": "pillow", "for": tr_noop("PNG quick-looks of embeddings and input patches")},
}
PIP_NAMES = {"ee": "earthengine-api", "pystac_client": "pystac-client", "sklearn": "scikit-learn",
             "PIL": "pillow", "yaml": "pyyaml"}

# Distributions QGIS's Python already has from QGIS itself: the installer never replaces them.
QGIS_OWNS = frozenset({"numpy", "gdal", "pyqt5", "pyqt5-sip", "pyqt5-qt5", "pyqt6", "pyqt6-sip", "pyqt6-qt6",
                       "sip", "qgis"})
# pip wheels that bundle their own GDAL, GEOS or PROJ: in QGIS's process they clash with QGIS's
# copies (seen: shapely's GEOS -> "GEOSException: WKT output dimension must be 2 or 3").
BUNDLES_GDAL_GEOS_PROJ = frozenset({"rasterio", "fiona", "pyogrio", "shapely", "pygeos", "pyproj"})
# Installed with NumPy 1, these fail at import although pip accepts them (no declared bound).
NUMPY1_CAPS = {"pyarrow": "pyarrow<17"}

# The CPU build of torch (PyPI's Linux wheels pull several GB of CUDA libraries). An empty
# RS_EMBED_TORCH_INDEX_URL leaves torch to the indexes pip is configured with (a mirror).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


class DependencyError(RuntimeError):
    """The installer cannot (or must not) install what was asked; the message says why."""


# ------------------------------------------------------------------ what is there, what is missing

def deps_dir(profile_dir: str | None = None) -> Path:
    """``<QGIS profile>/python/rs_embed_qgis_deps``."""
    if profile_dir is None:
        from qgis.core import QgsApplication

        profile_dir = QgsApplication.qgisSettingsDirPath()
    return Path(profile_dir) / "python" / DEPS_DIRNAME


def _site_dirs() -> set[str]:
    dirs = set(getattr(site, "getsitepackages", lambda: [])())
    if getattr(site, "ENABLE_USER_SITE", False):
        dirs.add(site.getusersitepackages())
    return {os.path.realpath(d) for d in dirs}


def add_to_path(folder: Path | None = None) -> str | None:
    """Put the plugin's dependency folder on ``sys.path``, right before the first site folder.

    The standard library and QGIS's own Python folders stay first; numpy, GDAL and PyQt are
    never in the folder (the installer refuses them), so nothing of QGIS's is shadowed.
    """
    folder = Path(folder) if folder is not None else deps_dir()
    if not folder.is_dir():
        return None
    p = str(folder)
    if p not in sys.path:
        sites = _site_dirs()
        at = next((i for i, e in enumerate(sys.path) if e and os.path.realpath(e) in sites), len(sys.path))
        sys.path.insert(at, p)
    importlib.invalidate_caches()
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


def describe_missing(needed: Sequence[str]) -> str:
    """The missing packages, named as pip knows them (for the banner)."""
    names = ", ".join(f"<b>{html.escape(dist_name(pip_name(m)))}</b>" for m in needed)
    return tr("Optional packages not in QGIS's Python: {names}.").format(names=names)


def purpose(module: str) -> str:
    """What needs ``module``, in the user's language."""
    return tr(OPTIONAL.get(module, {}).get("for", tr_noop("the feature that asked for it")))


def explain_missing(needed: Sequence[str]) -> str:
    """One line per missing package: what it is for (the banner's tooltip)."""
    return "\n".join(f"{dist_name(pip_name(m))}: {purpose(m)}" for m in needed)


def missing_modules(error: BaseException | str) -> list[str]:
    """The modules an error says are missing and are still missing: import errors anywhere in
    its chain, "No module named 'x'", or an optional package it names as needed ("... needs
    torch ..."). ``error`` may be the exception or the message a Processing run left."""
    found: list[str] = []
    texts: list[str] = []
    seen: set[int] = set()
    e: BaseException | None = None if isinstance(error, str) else error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ImportError) and e.name:
            found.append(e.name.partition(".")[0])
        texts.append(str(e))
        e = e.__cause__ or e.__context__
    if isinstance(error, str):
        texts.append(error)
    for text in texts:
        found += [m.partition(".")[0] for m in re.findall(r"No module named '([\w.]+)'", text)]
        if "need" not in text:
            continue
        for module, info in OPTIONAL.items():
            names = {module, dist_name(info["pip"])}
            if any(re.search(rf"\bneeds?\b[^.;:]*?(?<![\w.-]){re.escape(n)}(?![\w-])", text) for n in names):
                found.append(module)
    return [m for m in dict.fromkeys(found) if not is_importable(m)]


def install_hint(error: BaseException | str) -> str:
    """What to say to a QGIS user whose feature lacks an optional package ("" if it does not)."""
    return hint_for(missing_modules(error))


def hint_for(need: Sequence[str]) -> str:
    """Where the plugin installs these missing modules ("" for none)."""
    if not need:
        return ""
    return tr("Install {packages} into the plugin's folder with Raster > RS Embed > Optional Python "
              "packages…").format(packages=", ".join(dist_name(pip_name(m)) for m in need))


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(requirement: str) -> str:
    """The distribution name of a requirement string (``dask[distributed]>=1`` -> ``dask``)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return m.group(1) if m else requirement


# ------------------------------------------------------------------ QGIS's Python and pip

@dataclass
class PythonInfo:
    executable: str
    version: str
    prefix: str

    def describe(self) -> str:
        return tr("Python {version} at {executable} (prefix {prefix})").format(
            version=self.version.split()[0], executable=self.executable, prefix=self.prefix)


def _candidates() -> list[Path]:
    """Where QGIS's Python interpreter lives, per platform: ``sys.executable`` is ``qgis.bin``,
    ``qgis.exe`` or ``QGIS.app`` inside QGIS (or whatever ``python3`` was first on PATH)."""
    v = f"{sys.version_info[0]}.{sys.version_info[1]}"
    exe, pre = Path(sys.executable), Path(sys.exec_prefix)
    cands = [pre / "bin" / f"python{v}", pre / "bin" / "python3", pre / "python.exe", pre / "python3.exe",
             exe.parent / "bin" / "python3",  # macOS: QGIS.app/Contents/MacOS/bin/python3
             exe.parent / "python3", exe.parent / "python.exe"]
    if exe.name.lower().startswith("python"):
        cands.insert(0, exe)
    for name in (f"python{v}", "python3", "python"):
        found = shutil.which(name)
        if found:
            cands.append(Path(found))
    return cands


def qgis_python() -> PythonInfo:
    """The interpreter that is the Python QGIS runs (checked by running it: same version string
    and prefix), for pip. Runs subprocesses: call it off the GUI thread."""
    probe = "import sys; print(sys.version); print(sys.prefix)"
    want = (sys.version.strip(), os.path.realpath(sys.prefix))
    seen = set()
    for cand in _candidates():
        if str(cand) in seen or not cand.is_file():
            continue
        seen.add(str(cand))
        try:
            r = subprocess.run(  # nosec B603 - an interpreter found beside QGIS's, fixed arguments, no shell
                [str(cand), "-c", probe], capture_output=True, text=True, timeout=60, env=_pip_env(None))
        except (OSError, subprocess.SubprocessError):
            continue
        lines = r.stdout.strip().splitlines()
        if r.returncode == 0 and len(lines) >= 2 and ("\n".join(lines[:-1]).strip(),
                                                      os.path.realpath(lines[-1])) == want:
            return PythonInfo(str(cand), sys.version.strip(), sys.prefix)
    raise DependencyError(tr(
        "cannot find the Python interpreter QGIS runs (Python {version}, prefix {prefix}); looked at "
        "{places}. Install the packages with that interpreter's pip into the folder shown, or see "
        "docs/install.md.").format(version=sys.version.split()[0], prefix=sys.prefix, places=", ".join(seen) or "-"))


def _pip_env(target: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if target is not None:  # pip then counts what the folder already holds as installed
        env["PYTHONPATH"] = os.pathsep.join([str(target)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PIP_ROOT_USER_ACTION"] = "ignore"  # its warning only alarms a root user of QGIS
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("PYTHONHOME", None)  # QGIS on Windows/macOS sets it for its own embedded interpreter
    return env


def constraints_file() -> Path:
    """Pins that keep what QGIS owns: its numpy (and the caps some packages need beside NumPy 1)."""
    lines = []
    try:
        import numpy

        lines.append(f"numpy=={numpy.__version__}")
        if int(numpy.__version__.split(".")[0]) < 2:
            lines += list(NUMPY1_CAPS.values())
    except ImportError:
        pass
    fd, path = tempfile.mkstemp(prefix="rs_embed_constraints_", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return Path(path)


def requirements_for(modules: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(pip_name(m) for m in modules))


def index_options(requirements: Sequence[str]) -> list[str]:
    if "torch" not in {normalize(dist_name(r)) for r in requirements} or sys.platform == "darwin":
        return []  # macOS wheels on PyPI are the CPU/MPS build already
    url = os.environ.get("RS_EMBED_TORCH_INDEX_URL", TORCH_CPU_INDEX).strip()
    return ["--extra-index-url", url] if url else []


def _pip(python: str) -> list[str]:
    return [python, "-m", "pip"]


def resolve_command(requirements: Sequence[str], report: Path, constraints: Path, python: str) -> list[str]:
    """pip's dry run that writes the resolved set (nothing is installed)."""
    if not requirements:
        raise DependencyError(tr("nothing to install"))
    return (_pip(python) + ["install", "--dry-run", "--report", str(report), "--no-warn-script-location",
                            "-c", str(constraints)]
            + index_options(requirements) + list(requirements))


def install_command(pins: Sequence[str], target: Path, constraints: Path, python: str,
                    requirements: Sequence[str] = ()) -> list[str]:
    """pip's install of exactly the checked, pinned set into ``target`` (no resolution of its own)."""
    if not pins:
        raise DependencyError(tr("nothing to install"))
    return (_pip(python) + ["install", "--no-deps", "--upgrade", "--target", str(target),
                            "--no-warn-script-location", "-c", str(constraints)]
            + index_options(list(requirements) or pins) + list(pins))


@dataclass
class Plan:
    """What one install adds to the plugin's folder."""

    requirements: list[str]
    install: list[tuple[str, str]] = field(default_factory=list)     # (name, version)
    requires: dict[str, list[str]] = field(default_factory=dict)     # normalized name -> its dependencies

    @property
    def pins(self) -> list[str]:
        return [f"{n}=={v}" for n, v in self.install]


def read_report(path: Path, requirements: Sequence[str]) -> Plan:
    """The plan in pip's installation report (``--report``, pip 22.2+)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    plan = Plan(list(requirements))
    for item in data.get("install", []):
        meta = item.get("metadata") or {}
        name, ver = meta.get("name"), meta.get("version")
        if not name or not ver:
            continue
        plan.install.append((name, ver))
        plan.requires[normalize(name)] = [normalize(dist_name(r)) for r in meta.get("requires_dist") or []]
    return plan


def check(plan: Plan) -> None:
    """Refuse a set that would replace what QGIS owns or bring a second GDAL/GEOS/PROJ."""
    problems = []
    for name, ver in plan.install:
        n = normalize(name)
        if n in QGIS_OWNS or n in BUNDLES_GDAL_GEOS_PROJ:
            by = sorted(k for k, deps in plan.requires.items() if n in deps) or [tr("it was asked for")]
            why = (tr("QGIS's own copy must stay the one in use") if n in QGIS_OWNS else
                   tr("its pip wheel bundles its own GDAL/GEOS/PROJ, which clash with QGIS's in one process"))
            problems.append(tr("{package} {version} (needed by {by}): {why}").format(
                package=name, version=ver, by=", ".join(by), why=why))
    if problems:
        raise DependencyError(tr("refused to install into QGIS's Python: {problems}. Choose fewer packages, "
                                 "or see docs/install.md.").format(problems="; ".join(problems)))


def _stale_dist_infos(target: Path, plan: Plan) -> list[Path]:
    """Metadata folders of other versions of what is about to be installed (pip --target keeps them)."""
    new = {normalize(n): v for n, v in plan.install}
    stale = []
    for info in target.glob("*.dist-info"):
        name, _, ver = info.name[: -len(".dist-info")].rpartition("-")
        if normalize(name) in new and ver != new[normalize(name)]:
            stale.append(info)
    return stale


def run_pip(cmd: Sequence[str], env: dict[str, str], on_line: Callable[[str], None] | None = None,
            is_cancelled: Callable[[], bool] | None = None) -> str:
    """Run a pip command (in a task's worker thread), line by line to ``on_line``; raise on failure."""
    proc = subprocess.Popen(  # nosec B603 - pip of QGIS's Python, arguments built here, no shell
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = []
    for line in proc.stdout or []:
        out.append(line)
        if on_line:
            on_line(line.rstrip("\n"))
        if is_cancelled and is_cancelled():
            proc.kill()
            proc.wait()
            raise DependencyError(tr("installation cancelled"))
    rc = proc.wait()
    text = "".join(out)
    if rc != 0:
        tail = "".join(out[-30:])
        raise DependencyError(tr("pip exited with {rc}:\n{output}").format(rc=rc, output=tail))
    return text


def install(modules: Sequence[str], target: Path, on_line: Callable[[str], None] | None = None,
            progress: Callable[[float], None] | None = None,
            is_cancelled: Callable[[], bool] | None = None) -> Plan:
    """Resolve, check and install what ``modules`` (import names) need into ``target``."""
    say = on_line or (lambda _line: None)
    step = progress or (lambda _p: None)
    py = qgis_python()
    say(tr("QGIS runs {python}; packages go into {folder}").format(python=py.describe(), folder=target))
    pip_version = subprocess.run(  # nosec B603 - pip of QGIS's Python, fixed arguments, no shell
        _pip(py.executable) + ["--version"], capture_output=True, text=True, timeout=120, env=_pip_env(None))
    if pip_version.returncode != 0:
        raise DependencyError(tr("QGIS's Python has no pip ({python} -m pip: {error}); see docs/install.md").format(
            python=py.executable, error=(pip_version.stderr or pip_version.stdout).strip()[-300:]))
    say(pip_version.stdout.strip())
    requirements = requirements_for(modules)
    constraints = constraints_file()
    report = Path(tempfile.mkdtemp(prefix="rs_embed_pip_")) / "report.json"
    try:
        say("== " + tr("resolving {requirements}").format(requirements=", ".join(requirements)))
        step(5)
        run_pip(resolve_command(requirements, report, constraints, py.executable), _pip_env(target), say,
                is_cancelled)
        if not report.is_file():
            raise DependencyError(tr("pip wrote no installation report: QGIS's pip is older than 22.2; update "
                                     "it with {python} -m pip install --upgrade pip").format(python=py.executable))
        plan = read_report(report, requirements)
        check(plan)
        if not plan.install:
            say("== " + tr("nothing to install: QGIS's Python already has all of it"))
            step(100)
            return plan
        say("== " + tr("installing {packages}").format(packages=", ".join(f"{n} {v}" for n, v in plan.install)))
        step(20)
        target.mkdir(parents=True, exist_ok=True)
        for stale in _stale_dist_infos(target, plan):
            shutil.rmtree(stale, ignore_errors=True)
        done = 0

        def on_install_line(line: str) -> None:
            nonlocal done
            say(line)
            if line.startswith(("Collecting ", "Processing ")):
                done += 1
                step(20 + 70 * min(done, len(plan.install)) / len(plan.install))

        run_pip(install_command(plan.pins, target, constraints, py.executable, requirements),
                _pip_env(target), on_install_line, is_cancelled)
        step(100)
        return plan
    finally:
        shutil.rmtree(report.parent, ignore_errors=True)
        constraints.unlink(missing_ok=True)


def restart_needed(plan: Plan, target: Path) -> list[str]:
    """Modules of the plan that this process had already imported from elsewhere (QGIS keeps
    using those until it restarts). Private helpers (``_distutils_hack``, loaded by a .pth file
    at start-up) are left out: nothing imports them by name."""
    from importlib import metadata

    new = {normalize(n) for n, _ in plan.install}
    root = os.path.realpath(target)
    stale = []
    for dist in metadata.distributions(path=[str(target)]):
        if normalize(dist.metadata["Name"] or "") not in new:
            continue
        for top in _top_levels(dist):
            if top.startswith("_"):
                continue
            mod = sys.modules.get(top)
            where = os.path.realpath(getattr(mod, "__file__", None) or "")
            if mod is not None and os.path.commonpath([where, root]) != root:
                stale.append(top)
    return stale


def _top_levels(dist) -> list[str]:
    """The importable top-level names a distribution installed."""
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return listed
    tops = set()
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if parts and parts[0] != ".." and not parts[0].endswith((".dist-info", ".data")) and parts[0] != "__pycache__":
            tops.add(parts[0].split(".")[0] if len(parts) == 1 else parts[0])
    return sorted(tops)
