"""The plugin zip is installable: unpacked into a plugins folder, QGIS loads it."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_zip_installs_and_qgis_process_finds_its_algorithms(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--dist", str(tmp_path / "dist"),
                        "--install", "--plugins-dir", str(tmp_path / "plugins")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    zf = next((tmp_path / "dist").glob("rs_embed_qgis-*.zip"))
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
