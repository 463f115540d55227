#!/usr/bin/env python
"""Build the installable QGIS plugin zip, and optionally install it into a QGIS profile.

The zip holds one folder, ``rs_embed_qgis/``, with ``metadata.txt``, the code
(engine included), ``resources/`` (icons, sample data) and ``ui/``: what QGIS's
"Install from ZIP" and plugins.qgis.org expect.

    python scripts/package.py              # -> dist/rs_embed_qgis-<version>.zip
    python scripts/package.py --install    # also unpack into the default profile
"""
from __future__ import annotations

import argparse
import configparser
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "rs_embed_qgis"
SKIP_DIRS = {"__pycache__", ".pytest_cache", "screenshots"}  # screenshots are for the README
SKIP_SUFFIXES = {".pyc", ".pyo"}


def version() -> str:
    cp = configparser.ConfigParser()
    cp.read(ROOT / "metadata.txt")
    return cp["general"]["version"]


def plugin_files():
    """(source path, path inside the zip) for every file of the plugin."""
    yield ROOT / "metadata.txt", f"{PLUGIN}/metadata.txt"
    for extra in ("LICENSE", "README.md"):
        if (ROOT / extra).exists():
            yield ROOT / extra, f"{PLUGIN}/{extra}"
    for src_dir, dst_dir in ((ROOT / PLUGIN, PLUGIN), (ROOT / "resources", f"{PLUGIN}/resources"),
                             (ROOT / "ui", f"{PLUGIN}/ui")):
        for path in sorted(src_dir.rglob("*")):
            if path.is_dir() or SKIP_DIRS & set(path.parts) or path.suffix in SKIP_SUFFIXES:
                continue
            yield path, f"{dst_dir}/{path.relative_to(src_dir).as_posix()}"


def build(dist: Path) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{PLUGIN}-{version()}.zip"
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=dist)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for src, arc in plugin_files():
                zf.write(src, arc)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def default_profile_plugins() -> Path:
    if os.environ.get("QGIS_PROFILE_DIR"):
        base = Path(os.environ["QGIS_PROFILE_DIR"])
    elif sys.platform == "win32":
        base = Path(os.environ["APPDATA"]) / "QGIS" / "QGIS3" / "profiles" / "default"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "QGIS" / "QGIS3" / "profiles" / "default"
    else:
        base = Path.home() / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default"
    return base / "python" / "plugins"


def install(zip_path: Path, plugins_dir: Path) -> Path:
    plugins_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=plugins_dir, prefix=".rs_embed_install_"))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
        target = plugins_dir / PLUGIN
        old = plugins_dir / f".{PLUGIN}.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            target.rename(old)
        (staging / PLUGIN).rename(target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", default=str(ROOT / "dist"))
    ap.add_argument("--install", action="store_true", help="install into the QGIS profile")
    ap.add_argument("--plugins-dir", default=None, help="override the profile's plugins folder")
    args = ap.parse_args()
    z = build(Path(args.dist))
    n = len(zipfile.ZipFile(z).namelist())
    print(f"[package] {z} ({z.stat().st_size / 1e6:.1f} MB, {n} files)")
    if args.install:
        target = install(z, Path(args.plugins_dir) if args.plugins_dir else default_profile_plugins())
        print(f"[package] installed into {target}; enable 'RS Embed' in Plugins > Manage and Install Plugins")


if __name__ == "__main__":
    main()
