"""The release zip in the real QGIS desktop, with QGIS's own Python, as a new user gets it.

Each test starts ``/usr/bin/qgis`` under Xvfb with a fresh profile (``--profiles-path``) and
``--code session.py``, which clicks through the plugin like a user and writes a JSON verdict.
QGIS runs on the system Python with no venv on any path, and with the packages a stock QGIS
does not ship hidden (stock_python/sitecustomize.py): only numpy, GDAL's ``osgeo``, PyQt and
QGIS's own dependencies remain.

- ``test_release_zip_on_a_stock_qgis``: the zip unpacked into the profile and enabled in its
  QGIS3.ini, as the Plugin Manager installs a zip; the dock runs MOSAIKS on the bundled sample
  (region from the map extent) and ``embed_raster`` runs from its Processing dialog.
- ``test_optional_packages_from_the_plugins_installer``: the plugin installed by QGIS's Plugin
  Manager from a custom repository (our plugins.xml); the dock's installer adds torch into the
  plugin's folder from the package registries reachable here, and RemoteCLIP runs on random weights.

The first takes about 1.5 minutes on this machine, the second about 4 (unpacking torch is most of it).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
import package  # noqa: E402 - scripts/package.py

QGIS = "/usr/bin/qgis"
# Importable here but not in a stock QGIS: what scripts/setup.sh installs from Debian for the
# venv (and what those bring), and the project's other Python dependencies (pyproject.toml).
# (matplotlib's mpl_toolkits namespace stays: a .pth file creates it before any import.)
HIDDEN_MODULES = (
    "rasterio", "affine", "snuggs", "cligj", "click_plugins", "pyproj", "scipy", "matplotlib",
    "pylab", "PIL", "contourpy", "kiwisolver", "fontTools", "cycler",
    "shapely", "xarray", "pandas", "pystac", "pystac_client", "tqdm", "safetensors", "huggingface_hub", "torch",
    "spyndex", "tensorboard", "ee", "dask", "distributed", "netCDF4", "h5netcdf", "h5py", "zarr", "pyarrow",
    "fiona", "pyogrio", "geopandas", "sklearn",
)
HIDDEN_DISTRIBUTIONS = ("Pillow", "earthengine-api", "scikit-learn")  # where the name differs from the module's
# ... of which this machine's system Python has these (Debian packages): the session checks they are absent
INSTALLED_BUT_HIDDEN = ("rasterio", "pyproj", "scipy", "matplotlib", "PIL")

pytestmark = pytest.mark.skipif(not (os.access(QGIS, os.X_OK) and os.access("/usr/bin/xvfb-run", os.X_OK)),
                                reason="needs the QGIS desktop and xvfb-run")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """``make package``: the zip and a plugins.xml whose download URL is the zip's folder."""
    dist = tmp_path_factory.mktemp("dist")
    zf = package.build(dist)
    (dist / "plugins.xml").write_text(package.plugins_xml(zf, dist.as_uri()), encoding="utf-8")
    return zf


def make_profile(root: Path, plugin_zip: Path | None = None, repository: str | None = None) -> Path:
    """A fresh QGIS profile folder: the plugin unpacked and enabled, or only a plugin repository."""
    profiles = root / "qgis-profiles"
    profile = profiles / "profiles" / "default"
    (profile / "QGIS").mkdir(parents=True)
    ini = ["[PythonPlugins]"]
    if plugin_zip is not None:  # what Plugins > Install from ZIP does
        package.install(plugin_zip, profile / "python" / "plugins")
        ini.append(f"{package.PLUGIN}=true")
    ini += ["", "[app]", r"plugin_installer\checkOnStart=false",
            r"plugin_installer\allowExperimental=true"]  # the plugin is marked experimental
    if repository is not None:
        ini += [rf"plugin_repositories\rs_embed\url={repository}", r"plugin_repositories\rs_embed\enabled=true",
                # no internet here: the official repository stays off
                r"plugin_repositories\official\url=https://plugins.qgis.org/plugins/plugins.xml",
                r"plugin_repositories\official\enabled=false"]
    (profile / "QGIS" / "QGIS3.ini").write_text("\n".join(ini) + "\n", encoding="utf-8")
    return profiles


def qgis_env(tmp: Path, config: Path) -> dict[str, str]:
    """QGIS's own Python: no venv anywhere, the stock-QGIS blocker on PYTHONPATH."""
    venv_bin = os.path.realpath(ROOT / ".venv" / "bin")
    keep = {"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}  # pip: this machine's registries
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if p and os.path.realpath(p) != venv_bin)
    env["XDG_RUNTIME_DIR"] = str(tmp / "xdg-runtime")
    (tmp / "xdg-runtime").mkdir(mode=0o700)
    env["PYTHONPATH"] = str(HERE / "stock_python")
    env["RS_EMBED_HIDDEN_MODULES"] = ",".join(HIDDEN_MODULES)
    env["RS_EMBED_HIDDEN_DISTRIBUTIONS"] = ",".join(HIDDEN_DISTRIBUTIONS)
    env["RS_EMBED_CACHE"] = str(tmp / "rs_embed_cache")
    env["RS_EMBED_DESKTOP_CONFIG"] = str(config)
    return env


def run_qgis(tmp: Path, profiles: Path, scenario: str, timeout_s: int, env_extra=None, **settings):
    """Run QGIS with session.py; returns (verdict or None, QGIS's exit code, its output)."""
    config = tmp / "session.json"
    verdict_path = tmp / "verdict.json"
    (tmp / "out").mkdir()
    config.write_text(json.dumps(dict(scenario=scenario, verdict=str(verdict_path), out_dir=str(tmp / "out"),
                                      timeout_s=timeout_s - 60, hidden_modules=HIDDEN_MODULES,
                                      installed_but_hidden=INSTALLED_BUT_HIDDEN, **settings)))
    env = qgis_env(tmp, config)
    env.update(env_extra or {})
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", QGIS, "--profiles-path", str(profiles),
           "--nologo", "--noversioncheck", "--code", str(HERE / "session.py")]
    log = tmp / "qgis-output.log"
    for _attempt in range(2):  # xvfb-run -a can lose a race for a display number to another X server
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
        output = log.read_text(errors="replace")
        if verdict_path.exists() or "Xvfb failed to start" not in output:
            break
    verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
    return verdict, rc, output


def explain(verdict, rc, output: str) -> str:
    """Everything needed to see why a desktop run failed, without rerunning it."""
    tail = "\n".join(output.splitlines()[-80:])
    if verdict is None:
        return f"QGIS wrote no verdict (exit code {rc}). Its output:\n{tail}"
    lines = [f"scenario {verdict['scenario']} failed after {verdict['seconds']} s (QGIS exit code {rc})", "steps:"]
    lines += [f"  [{'ok' if s['ok'] else 'FAILED'}] {s['t']:7.1f} s  {s['name']}" for s in verdict["steps"]]
    if verdict["failure"]:
        lines += [f"failure in {verdict['failure']['step']!r}: {verdict['failure']['error']}",
                  verdict["failure"]["traceback"]]
    lines += ["problems:"] + [f"  - {p}" for p in verdict["problems"]]
    for err in verdict["python_errors"]:
        lines += [f"Python error in {err['step']!r}:", err["traceback"]]
    lines += ["QGIS message log (RS Embed, Python, Processing):"]
    lines += [f"  {m['t']:7.1f} s [{m['tag']}/{m['level']}] {m['message'][:1500]}" for m in verdict["messages"]
              if m["tag"] in ("RS Embed", "Python error", "Python warning", "Processing", "Plugins")]
    lines += [f"facts: {json.dumps(verdict['facts'], indent=1, default=str)[:6000]}", f"QGIS output (last lines):\n{tail}"]
    return "\n".join(lines)


def test_release_zip_on_a_stock_qgis(tmp_path, release):
    profiles = make_profile(tmp_path, plugin_zip=release)
    verdict, rc, output = run_qgis(tmp_path, profiles, "stock", timeout_s=900)
    assert verdict is not None and verdict["ok"], explain(verdict, rc, output)
    assert "Traceback (most recent call last)" not in output, explain(verdict, rc, output)  # nothing on stderr
    facts = verdict["facts"]
    # the run really had QGIS's own Python, with the extra packages hidden
    assert facts["blocker_active"] and facts["hidden_modules_loaded"] == {}, facts
    assert facts["hidden_and_absent"] and all(facts["hidden_and_absent"].values()), facts["hidden_and_absent"]
    assert not any(".venv" in p for p in facts["python"]["path"]), facts["python"]["path"]
    assert facts["plugin_version"] == package.version()
    assert "rs_embed:embed_raster" in facts["algorithms"]
    assert rc == 0, explain(verdict, rc, output)  # and QGIS closed cleanly, plugin unloaded


def test_optional_packages_from_the_plugins_installer(tmp_path, release):
    profiles = make_profile(tmp_path, repository=(release.parent / "plugins.xml").as_uri())
    # The machine's registries hold one CPU build of torch (2.13.0+cpu); PyPI's Linux torch
    # wheels pull gigabytes of CUDA libraries, and download.pytorch.org (the installer's CPU
    # index for users) is not reachable here. pip's own configuration says so: no plugin code.
    pins = tmp_path / "pip-constraints.txt"
    pins.write_text("torch==2.13.0\n")
    verdict, rc, output = run_qgis(
        tmp_path, profiles, "optional_packages", timeout_s=1500,
        env_extra={"PIP_CONSTRAINT": str(pins), "RS_EMBED_TORCH_INDEX_URL": ""},
        install_from_repository=True, torch_model="remoteclip", install_timeout_s=1000)
    assert verdict is not None and verdict["ok"], explain(verdict, rc, output)
    assert "Traceback (most recent call last)" not in output, explain(verdict, rc, output)
    facts = verdict["facts"]
    assert facts["repository_plugin"]["version_available"] == package.version()
    assert ["torch", "2.13.0+cpu"] in facts["installed"]
    # the installer named the interpreter it used: QGIS's own, not the first python3 on PATH
    assert "QGIS runs Python" in facts["installer_log"] and "/usr/bin/python3" in facts["installer_log"]
    deps_dir = profiles / "profiles" / "default" / "python" / "rs_embed_qgis_deps"
    assert Path(facts["torch"]["file"]).resolve().is_relative_to(deps_dir.resolve())
    assert not [n for n in facts["hidden_modules_loaded"] if n != "torch" and n in ("rasterio", "pyproj", "shapely")]
    assert rc == 0, explain(verdict, rc, output)
    shutil.rmtree(deps_dir)  # 900 MB of torch: pytest keeps its last temporary folders
