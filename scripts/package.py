#!/usr/bin/env python
"""Build the release: the plugin zip plugins.qgis.org accepts and a ``plugins.xml`` for a custom repository.

The zip holds one folder, ``rs_embed_qgis/``: ``metadata.txt`` (its ``version`` from
``rs_embed_qgis/__init__.py``, its ``changelog`` from that version's entry in
``CHANGELOG.md``), ``LICENSE``, the code (engine included), ``resources/`` (icons, the
example layers and the bundled Sentinel-2 sample, which the default demo path reads) and
``ui/``. No tests, scripts, requirements or screenshots. The zip is checked against the
rules plugins.qgis.org applies to uploads before it is published under its final name.

    python scripts/package.py                          # -> dist/rs_embed_qgis.<version>.zip + dist/plugins.xml
    python scripts/package.py --repo-url https://host/qgis/   # where the zip will be served
    python scripts/package.py --install                # also unpack into the default profile
    python scripts/package.py --metadata OUT           # only write the rendered metadata.txt
"""
from __future__ import annotations

import argparse
import ast
import configparser
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "rs_embed_qgis"
SKIP_DIRS = {"__pycache__", ".pytest_cache", "screenshots"}  # screenshots are for the README
SKIP_SUFFIXES = {".pyc", ".pyo"}
# plugins.qgis.org refuses larger uploads (PLUGIN_MAX_UPLOAD_SIZE, 25 MB)
MAX_ZIP_BYTES = 25_000_000
# metadata plugins.qgis.org requires of every upload
REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
                     "tracker", "repository")


class ReleaseError(RuntimeError):
    """The release cannot be built as asked (missing changelog entry, a zip the repository would refuse)."""


def version() -> str:
    """``__version__`` of ``rs_embed_qgis/__init__.py``, read without importing the package."""
    tree = ast.parse((ROOT / PLUGIN / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise ReleaseError(f"no __version__ in {PLUGIN}/__init__.py")


def changelog_entry(ver: str, changelog: Path = ROOT / "CHANGELOG.md") -> tuple[str, list[str]]:
    """(date, lines) of the ``## [ver] - date`` section of a Keep-a-Changelog file."""
    head = re.compile(r"^## \[(?P<ver>[^\]]+)\](?:\s*-\s*(?P<date>\S+))?")
    date, lines, inside = None, [], False
    for line in changelog.read_text(encoding="utf-8").splitlines():
        m = head.match(line)
        if m and inside:
            break
        if m:
            inside, date = m["ver"] == ver, m["date"]
        elif inside and line.strip():
            lines.append(line.rstrip())
    if not lines:
        raise ReleaseError(f"{changelog.name} has no '## [{ver}] - <date>' entry with changes: "
                           f"add one before releasing {ver}")
    if not date:
        raise ReleaseError(f"the {changelog.name} entry of {ver} has no release date ('## [{ver}] - YYYY-MM-DD')")
    return date, lines


def metadata_text() -> str:
    """``metadata.txt`` as shipped: the repository's file plus ``version`` and ``changelog``."""
    base = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    if re.search(r"^(version|changelog)\s*=", base, flags=re.M):
        raise ReleaseError("metadata.txt must not set version or changelog: they come from "
                           f"{PLUGIN}/__init__.py and CHANGELOG.md")
    ver = version()
    date, lines = changelog_entry(ver)
    # An INI value continues on indented lines, but a line starting with '#' is a comment
    # even there, and indentation is stripped: '### Added' becomes 'Added:', one line per item.
    items: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#"):
            items.append(text.lstrip("#").strip() + ":")
        elif text.startswith(("- ", "* ")) or not items:
            items.append(text)
        else:  # a wrapped item continues
            items[-1] += " " + text
    changelog = "\n".join([f"changelog={ver} ({date})"] + [f"    {item}" for item in items])
    return base.rstrip("\n") + f"\nversion={ver}\n{changelog}\n"


def read_metadata(text: str) -> dict[str, str]:
    """The [general] section, parsed as QGIS's Plugin Manager and plugins.qgis.org parse it
    (ConfigParser with its default interpolation: a stray '%' is an error there too)."""
    cp = configparser.ConfigParser()
    cp.optionxform = str  # keys are case-sensitive (qgisMinimumVersion)
    cp.read_string(text)
    return dict(cp["general"])


def zip_name(ver: str | None = None) -> str:
    # QGIS's plugin manager takes a repository plugin's folder name from the zip's name up
    # to the first dot: "rs_embed_qgis.0.1.0.zip" -> rs_embed_qgis (as plugins.qgis.org names them)
    return f"{PLUGIN}.{ver or version()}.zip"


def plugin_files():
    """(source path, path inside the zip) for every file of the plugin but metadata.txt."""
    for extra in ("LICENSE", "CHANGELOG.md", "README.md"):
        yield ROOT / extra, f"{PLUGIN}/{extra}"
    for src_dir, dst_dir in ((ROOT / PLUGIN, PLUGIN), (ROOT / "resources", f"{PLUGIN}/resources"),
                             (ROOT / "ui", f"{PLUGIN}/ui")):
        for path in sorted(src_dir.rglob("*")):
            if path.is_dir() or SKIP_DIRS & set(path.parts) or path.suffix in SKIP_SUFFIXES:
                continue
            yield path, f"{dst_dir}/{path.relative_to(src_dir).as_posix()}"


def check_zip(path: Path) -> list[str]:
    """What plugins.qgis.org would refuse in this zip (its upload checks, written here): [] if nothing."""
    problems = []
    if path.stat().st_size > MAX_ZIP_BYTES:
        problems.append(f"{path.stat().st_size / 1e6:.1f} MB is over the repository's {MAX_ZIP_BYTES / 1e6:.0f} MB")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        for n in names:
            parts = n.split("/")
            if ".." in parts or n.startswith("/") or "\\" in n:
                problems.append(f"path information in {n!r}")
            if ".pyc" in n:
                problems.append(f"compiled Python {n!r}")
            if {"__MACOSX", ".git", "__pycache__"} & set(parts):
                problems.append(f"forbidden folder in {n!r}")
        bad = zf.testzip()
        if bad is not None:
            problems.append(f"bad CRC in {bad!r}")
        tops = {n.split("/")[0] for n in names}
        if tops != {PLUGIN}:
            problems.append(f"top-level entries {sorted(tops)}: expected the one folder {PLUGIN}/")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", PLUGIN):
            problems.append(f"folder name {PLUGIN!r} is not PEP 8 (lowercase, underscores)")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{PLUGIN}/{required}" not in names:
                problems.append(f"{PLUGIN}/{required} is missing")
        try:
            meta = read_metadata(zf.read(f"{PLUGIN}/metadata.txt").decode("utf-8"))
        except (KeyError, UnicodeDecodeError, configparser.Error) as exc:
            problems.append(f"metadata.txt cannot be read as QGIS reads it: {exc}")
            meta = None
        if meta is not None:
            problems += [f"metadata.txt lacks {k}" for k in REQUIRED_METADATA if not meta.get(k, "").strip()]
            if "/" in meta.get("author", ""):
                problems.append("metadata.txt: the author may not contain '/'")
            if meta.get("icon") and f"{PLUGIN}/{meta['icon'].removeprefix('./')}" not in names:
                problems.append(f"metadata.txt names the icon {meta['icon']!r}, which is not in the zip")
    return problems


def build(dist: Path) -> Path:
    """Write ``dist/rs_embed_qgis.<version>.zip`` (checked first, published atomically)."""
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / zip_name()
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=dist)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{PLUGIN}/metadata.txt", metadata_text())
            for src, arc in plugin_files():
                zf.write(src, arc)
        problems = check_zip(Path(tmp))
        if problems:
            raise ReleaseError("plugins.qgis.org would refuse the zip: " + "; ".join(problems))
        os.chmod(tmp, 0o644)  # a release file, not mkstemp's private 0600
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def plugins_xml(zip_path: Path, repo_url: str) -> str:
    """A QGIS plugin repository listing (the format plugins.qgis.org serves) for this zip."""
    with zipfile.ZipFile(zip_path) as zf:
        meta = read_metadata(zf.read(f"{PLUGIN}/metadata.txt").decode("utf-8"))
    ver = meta["version"]
    today = dt.datetime.fromtimestamp(zip_path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = ET.Element("plugins")
    p = ET.SubElement(root, "pyqgis_plugin", name=meta["name"], version=ver)
    fields = {
        "description": meta["description"], "about": meta["about"], "version": ver,
        "qgis_minimum_version": meta["qgisMinimumVersion"],
        "qgis_maximum_version": meta.get("qgisMaximumVersion", meta["qgisMinimumVersion"].split(".")[0] + ".99"),
        "homepage": meta.get("homepage", ""), "file_name": zip_path.name,
        "author_name": meta["author"], "author_email": meta["email"],
        "download_url": repo_url.rstrip("/") + "/" + zip_path.name,
        "uploaded_by": meta["author"], "create_date": today, "update_date": today,
        "experimental": meta.get("experimental", "False"), "deprecated": meta.get("deprecated", "False"),
        "tracker": meta["tracker"], "repository": meta["repository"], "tags": meta.get("tags", ""),
        "category": meta.get("category", ""), "changelog": meta.get("changelog", ""),
        "server": meta.get("server", "False"),
    }
    for key, value in fields.items():
        ET.SubElement(p, key).text = value
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def default_repo_url(ver: str) -> str:
    """The project's release downloads (GitHub release assets of tag v<version>)."""
    repository = read_metadata((ROOT / "metadata.txt").read_text(encoding="utf-8"))["repository"]
    return f"{repository.rstrip('/')}/releases/download/v{ver}"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    """Unpack the zip into a profile's plugins folder, as QGIS's Plugin Manager does (old copy replaced)."""
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
    ap.add_argument("--repo-url", default=None,
                    help="URL of the folder the zip is served from (plugins.xml's download_url); "
                         "default: the GitHub release of this version")
    ap.add_argument("--install", action="store_true", help="install into the QGIS profile")
    ap.add_argument("--plugins-dir", default=None, help="override the profile's plugins folder")
    ap.add_argument("--metadata", default=None, help="only write the rendered metadata.txt to this path")
    args = ap.parse_args()
    try:
        if args.metadata:
            write_atomic(Path(args.metadata), metadata_text())
            return
        z = build(Path(args.dist))
        xml = Path(args.dist) / "plugins.xml"
        write_atomic(xml, plugins_xml(z, args.repo_url or default_repo_url(version())))
    except ReleaseError as exc:
        sys.exit(f"[package] {exc}")
    n = len(zipfile.ZipFile(z).namelist())
    print(f"[package] {z} ({z.stat().st_size / 1e6:.1f} MB, {n} files); {xml}")
    if args.install:
        target = install(z, Path(args.plugins_dir) if args.plugins_dir else default_profile_plugins())
        print(f"[package] installed into {target}; enable 'RS Embed' in Plugins > Manage and Install Plugins")


if __name__ == "__main__":
    main()
