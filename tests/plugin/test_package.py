"""The release: a zip plugins.qgis.org accepts, installable and loadable the way QGIS loads plugins."""
import configparser
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import package  # noqa: E402 - scripts/package.py

import rs_embed_qgis  # noqa: E402


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """``make package`` into a temporary dist folder, served from there as a repository."""
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--dist", str(dist),
                        "--repo-url", dist.as_uri()], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return dist


def test_zip_installs_and_qgis_process_finds_its_algorithms(tmp_path, release):
    zf = next(release.glob("rs_embed_qgis.*.zip"))
    target = package.install(zf, tmp_path / "plugins")
    assert target == tmp_path / "plugins" / "rs_embed_qgis"
    names = zipfile.ZipFile(zf).namelist()
    assert "rs_embed_qgis/metadata.txt" in names and "rs_embed_qgis/__init__.py" in names
    assert any(n.startswith("rs_embed_qgis/resources/sample_data/") for n in names)
    assert any(n.startswith("rs_embed_qgis/resources/icons/") for n in names)
    assert not any("__pycache__" in n for n in names)
    plugin = tmp_path / "plugins" / "rs_embed_qgis"
    assert (plugin / "metadata.txt").read_text().count("qgisMinimumVersion=3.22") == 1

    site = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, QGIS_PLUGINPATH=str(tmp_path / "plugins"), PYTHONPATH=site,
               QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"))
    subprocess.run(["/usr/bin/qgis_process.bin", "plugins", "enable", "rs_embed_qgis"], env=env,
                   capture_output=True, text=True, timeout=120)
    out = subprocess.run(["/usr/bin/qgis_process.bin", "list"], env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert "rs_embed:embed_extent" in out


def test_zip_passes_the_repository_checks_and_ships_only_the_plugin(release):
    zf = release / f"rs_embed_qgis.{rs_embed_qgis.__version__}.zip"
    assert package.check_zip(zf) == []
    assert zf.stat().st_size < package.MAX_ZIP_BYTES
    assert zf.stat().st_mode & 0o044 == 0o044  # readable by the web server that serves it
    names = zipfile.ZipFile(zf).namelist()
    assert "rs_embed_qgis/LICENSE" in names
    assert "GNU GENERAL PUBLIC LICENSE" in zipfile.ZipFile(zf).read("rs_embed_qgis/LICENSE").decode()
    for not_shipped in ("tests/", "scripts/", "requirements/", "benchmarks/", "screenshots/", ".pyc"):
        assert not any(not_shipped in n for n in names), not_shipped
    # the bundled sample is the default demo path's data: it ships
    assert "rs_embed_qgis/resources/sample_data/catalog.json" in names


def test_metadata_version_and_changelog_come_from_one_place(release):
    zf = release / f"rs_embed_qgis.{rs_embed_qgis.__version__}.zip"
    meta = package.read_metadata(zipfile.ZipFile(zf).read("rs_embed_qgis/metadata.txt").decode())
    ver = rs_embed_qgis.__version__
    assert meta["version"] == ver
    date, lines = package.changelog_entry(ver)
    assert meta["changelog"].splitlines()[0] == f"{ver} ({date})"
    assert "Added:" in meta["changelog"]  # a '### Added' heading survives as text, not as an INI comment
    assert not re.search(r"^version\s*=", (ROOT / "metadata.txt").read_text(), flags=re.M)
    from rs_embed_qgis.engine import __version__ as engine_version

    assert engine_version == ver
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'attr = "rs_embed_qgis.__version__"' in pyproject and '\nversion = "' not in pyproject


def test_a_version_without_changelog_entry_is_refused(tmp_path):
    log = tmp_path / "CHANGELOG.md"
    log.write_text("# Changelog\n\n## [Unreleased]\n- something\n\n## [0.0.9] - 2026-01-01\n### Fixed\n- x\n")
    with pytest.raises(package.ReleaseError, match=r"no '## \[0.1.0\]"):
        package.changelog_entry("0.1.0", log)
    assert package.changelog_entry("0.0.9", log) == ("2026-01-01", ["### Fixed", "- x"])
    log.write_text("## [0.1.0]\n- undated\n")
    with pytest.raises(package.ReleaseError, match="no release date"):
        package.changelog_entry("0.1.0", log)


def test_check_zip_names_what_the_repository_would_refuse(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("rs_embed_qgis/__init__.py", "")
        zf.writestr("rs_embed_qgis/__pycache__/x.cpython-311.pyc", b"\0")
        zf.writestr("rs_embed_qgis/metadata.txt", "[general]\nname=RS Embed\nabout=100% sure\n")
        zf.writestr("other/readme.txt", "")
    problems = "\n".join(package.check_zip(bad))
    assert "compiled Python" in problems and "forbidden folder" in problems
    assert "rs_embed_qgis/LICENSE is missing" in problems
    assert "expected the one folder rs_embed_qgis/" in problems
    assert "cannot be read as QGIS reads it" in problems  # '%' breaks QGIS's ConfigParser


def test_plugins_xml_points_qgis_at_the_zip(release):
    xml = ET.parse(release / "plugins.xml").getroot()
    (p,) = xml.findall("pyqgis_plugin")
    ver = rs_embed_qgis.__version__
    assert p.get("version") == ver and p.findtext("version") == ver
    # QGIS's installer names the plugin folder after the file name up to its first dot
    assert p.findtext("file_name").partition(".")[0] == "rs_embed_qgis"
    url = p.findtext("download_url")
    assert url == (release / p.findtext("file_name")).as_uri() and Path(url[len("file://"):]).exists()
    assert p.findtext("qgis_minimum_version") == "3.22"
    assert p.findtext("changelog").startswith(ver)


LOADER = r"""
import sys
from pathlib import Path
# pytest-qgis's stand-in iface, imported before the application as pytest-qgis does
# (its layersAdded slot does not connect otherwise)
from pytest_qgis.mock_qgis_classes import MockMessageBar
from pytest_qgis.qgis_interface import QgisInterface
from qgis.core import QgsApplication
app = QgsApplication([], True)
app.initQgis()
sys.path.append(QgsApplication.pkgDataPath() + "/python")  # where QGIS keeps its Plugin Manager
from qgis.gui import QgsMapCanvas
from qgis.PyQt.QtWidgets import QMainWindow
import qgis.utils
main = QMainWindow()
qgis.utils.iface = QgisInterface(QgsMapCanvas(main), MockMessageBar(), main)
plugins_dir = sys.argv[1]
qgis.utils.plugin_paths[:] = [plugins_dir]
sys.path.insert(0, plugins_dir)
qgis.utils.updateAvailablePlugins()
assert "rs_embed_qgis" in qgis.utils.available_plugins, qgis.utils.available_plugins
from pyplugin_installer.installer_data import plugins
info = plugins.getInstalledPlugin("rs_embed_qgis", path=plugins_dir + "/rs_embed_qgis", readOnly=False)
assert not info["error"], (info["error"], info["error_details"])
print("manager:", info["name"], info["version_installed"])
assert qgis.utils.loadPlugin("rs_embed_qgis")
assert qgis.utils.startPlugin("rs_embed_qgis")
import rs_embed_qgis
assert Path(rs_embed_qgis.__file__).resolve().is_relative_to(Path(plugins_dir).resolve()), rs_embed_qgis.__file__
prov = QgsApplication.processingRegistry().providerById("rs_embed")
print("algorithms:", len(prov.algorithms()))
assert qgis.utils.unloadPlugin("rs_embed_qgis")
assert QgsApplication.processingRegistry().providerById("rs_embed") is None
print("unloaded")
app.exitQgis()
"""


def test_zip_loads_with_the_plugin_managers_loader(tmp_path, release):
    """Installed into a fresh profile, QGIS's Plugin Manager finds nothing broken, and
    qgis.utils.loadPlugin/startPlugin (what QGIS runs for an enabled plugin) start it."""
    zf = release / f"rs_embed_qgis.{rs_embed_qgis.__version__}.zip"
    plugins_dir = tmp_path / "profile" / "python" / "plugins"
    package.install(zf, plugins_dir)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"))
    r = subprocess.run([sys.executable, "-c", LOADER, str(plugins_dir)], capture_output=True, text=True,
                       timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"manager: RS Embed {rs_embed_qgis.__version__}" in r.stdout
    assert "algorithms: 7" in r.stdout and "unloaded" in r.stdout


def test_metadata_txt_has_what_the_plugin_manager_shows():
    cp = configparser.ConfigParser()
    cp.read_string(package.metadata_text())
    g = cp["general"]
    assert g["version"] == rs_embed_qgis.__version__
    assert all(g.get(k) for k in package.REQUIRED_METADATA)
