"""The optional-package installer: resolve with pip, check the set, install it pinned into the plugin's folder.

pip runs for real here, offline, on a wheelhouse of tiny wheels the tests build (pip's own
configuration is switched off, so nothing reaches an index).
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import site
import sys
import zipfile
from pathlib import Path

import pytest

from rs_embed_qgis.gui import deps


def make_wheel(house: Path, name: str, version: str, requires=(), module: str | None = None) -> Path:
    """A pure-Python wheel ``name==version`` whose module sets VALUE, in the layout pip installs."""
    module = module or name.replace("-", "_")
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": f"VALUE = {version!r}\n",
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\n" f"Name: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: rs-embed-tests\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
        f"{dist}.dist-info/top_level.txt": f"{module}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record + [f"{dist}.dist-info/RECORD,,"]) + "\n"
    whl = house / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return whl


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch):
    """pip offline: no configuration files, no index, only this folder of wheels."""
    house = tmp_path / "wheelhouse"
    house.mkdir()
    for var in [v for v in os.environ if v.startswith("PIP_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield house
    for m in [m for m in sys.modules if m.startswith("rsembedfake")]:
        del sys.modules[m]


@pytest.fixture
def fake_optional(monkeypatch):
    """Optional packages the tests' wheels provide, in place of torch & co."""
    table = {"rsembedfake_a": {"pip": "rsembedfake-a", "for": "a test feature"},
             "rsembedfake_geo": {"pip": "rsembedfake-geo", "for": "a feature that pulls in a GDAL wheel"}}
    monkeypatch.setattr(deps, "OPTIONAL", table)
    return table


def test_installer_resolves_checks_and_installs_the_pinned_set(wheelhouse, fake_optional, tmp_path):
    make_wheel(wheelhouse, "rsembedfake-a", "1.0", requires=["rsembedfake-b>=1"])
    make_wheel(wheelhouse, "rsembedfake-b", "1.2")
    target = tmp_path / "profile" / "python" / deps.DEPS_DIRNAME
    lines, steps = [], []
    assert not deps.is_importable("rsembedfake_a")
    plan = deps.install(["rsembedfake_a"], target, on_line=lines.append, progress=steps.append)
    assert sorted(plan.install) == [("rsembedfake-a", "1.0"), ("rsembedfake-b", "1.2")]
    assert sorted(plan.pins) == ["rsembedfake-a==1.0", "rsembedfake-b==1.2"]
    log = "\n".join(lines)
    assert f"QGIS runs Python {sys.version.split()[0]}" in log and str(target) in log
    assert "Successfully installed" in log and steps[-1] == 100
    assert (target / "rsembedfake_a" / "__init__.py").exists() and (target / "rsembedfake_b").is_dir()
    deps.add_to_path(target)
    assert importlib.import_module("rsembedfake_a").VALUE == "1.0"
    assert deps.restart_needed(plan, target) == []
    # pip sees what the folder holds: a second install has nothing to do
    again = deps.install(["rsembedfake_a"], target, on_line=lines.append)
    assert again.install == []


def test_a_raised_requirement_upgrades_and_replaces_the_old_version(wheelhouse, fake_optional, tmp_path):
    target = tmp_path / "deps"
    make_wheel(wheelhouse, "rsembedfake-a", "1.0")
    deps.install(["rsembedfake_a"], target)
    make_wheel(wheelhouse, "rsembedfake-a", "2.0")
    assert deps.install(["rsembedfake_a"], target).install == []  # 1.0 still satisfies the requirement
    fake_optional["rsembedfake_a"]["pip"] = "rsembedfake-a>=2"  # a plugin update that needs more
    plan = deps.install(["rsembedfake_a"], target)
    assert plan.install == [("rsembedfake-a", "2.0")]
    assert sorted(p.name for p in target.glob("*.dist-info")) == ["rsembedfake_a-2.0.dist-info"]
    assert "2.0" in (target / "rsembedfake_a" / "__init__.py").read_text()


def test_installer_refuses_a_set_that_brings_its_own_gdal(wheelhouse, fake_optional, tmp_path):
    # (a package the test's Python lacks: pip leaves out what is already installed, and so
    # does the installer - it only refuses what it would add)
    make_wheel(wheelhouse, "rsembedfake-geo", "1.0", requires=["pyogrio>=0.7"])
    make_wheel(wheelhouse, "pyogrio", "0.10.0")
    target = tmp_path / "deps"
    with pytest.raises(deps.DependencyError) as err:
        deps.install(["rsembedfake_geo"], target)
    msg = str(err.value)
    assert "pyogrio 0.10.0 (needed by rsembedfake-geo)" in msg and "GDAL/GEOS/PROJ" in msg
    assert not target.exists() or not any(target.iterdir())  # nothing installed


def test_check_refuses_what_qgis_owns_and_names_who_pulled_it():
    plan = deps.Plan(["rsembedfake-x"], install=[("rsembedfake-x", "1"), ("numpy", "2.1.0"), ("pyproj", "3.7.0")],
                     requires={"rsembedfake-x": ["numpy", "pyproj"]})
    with pytest.raises(deps.DependencyError) as err:
        deps.check(plan)
    msg = str(err.value)
    assert "numpy 2.1.0 (needed by rsembedfake-x): QGIS's own copy must stay" in msg
    assert "pyproj 3.7.0 (needed by rsembedfake-x)" in msg
    deps.check(deps.Plan(["torch"], install=[("torch", "2.13.0+cpu"), ("sympy", "1.14.0")]))  # fine


def test_pip_failure_is_a_dependency_error_with_pips_words(wheelhouse, fake_optional, tmp_path):
    make_wheel(wheelhouse, "rsembedfake-a", "1.0", requires=["rsembedfake-missing"])
    with pytest.raises(deps.DependencyError, match="pip exited with 1") as err:
        deps.install(["rsembedfake_a"], tmp_path / "deps")
    assert "rsembedfake-missing" in str(err.value)


def test_report_is_read_as_pip_writes_it(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"version": "1", "install": [
        {"metadata": {"name": "torch", "version": "2.13.0+cpu",
                      "requires_dist": ["sympy>=1.13.3", 'optree>=0.13.0; extra == "optree"']}, "requested": True},
        {"metadata": {"name": "sympy", "version": "1.14.0", "requires_dist": ["mpmath<1.4,>=1.1.0"]}}]}))
    plan = deps.read_report(report, ["torch>=2.1,<3"])
    assert plan.install == [("torch", "2.13.0+cpu"), ("sympy", "1.14.0")]
    assert plan.pins == ["torch==2.13.0+cpu", "sympy==1.14.0"]
    assert plan.requires["torch"] == ["sympy", "optree"] and plan.requires["sympy"] == ["mpmath"]


def test_commands_pin_numpy_and_take_the_cpu_torch_index(monkeypatch, tmp_path):
    import numpy

    cons = deps.constraints_file()
    try:
        assert f"numpy=={numpy.__version__}" in cons.read_text().splitlines()
    finally:
        cons.unlink()
    monkeypatch.delenv("RS_EMBED_TORCH_INDEX_URL", raising=False)
    cmd = deps.resolve_command(["torch>=2.1,<3"], tmp_path / "r.json", tmp_path / "c.txt", "/py")
    assert cmd[:5] == ["/py", "-m", "pip", "install", "--dry-run"] and cmd[cmd.index("--report") + 1] == str(
        tmp_path / "r.json")
    if sys.platform != "darwin":
        assert cmd[cmd.index("--extra-index-url") + 1] == deps.TORCH_CPU_INDEX
    cmd = deps.install_command(["torch==2.13.0+cpu", "sympy==1.14.0"], tmp_path / "deps", tmp_path / "c.txt", "/py")
    assert "--no-deps" in cmd and cmd[cmd.index("--target") + 1] == str(tmp_path / "deps")
    assert cmd[-2:] == ["torch==2.13.0+cpu", "sympy==1.14.0"]
    monkeypatch.setenv("RS_EMBED_TORCH_INDEX_URL", "")  # a PyPI mirror only: pip's own configuration decides
    assert "--extra-index-url" not in deps.resolve_command(["torch"], tmp_path / "r", tmp_path / "c", "/py")
    assert deps.index_options(["earthengine-api"]) == []


def test_qgis_python_is_this_interpreter():
    py = deps.qgis_python()
    assert py.version == sys.version.strip()
    assert os.path.realpath(py.prefix) == os.path.realpath(sys.prefix)
    assert f"Python {sys.version.split()[0]} at " in py.describe()


def test_dependency_folder_comes_before_the_site_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "deps"
    assert deps.add_to_path(folder) is None  # not there yet: nothing added
    folder.mkdir()
    assert deps.add_to_path(folder) == str(folder)
    sites = {os.path.realpath(p) for p in site.getsitepackages()}
    first_site = next(i for i, p in enumerate(sys.path) if p and os.path.realpath(p) in sites)
    assert sys.path.index(str(folder)) < first_site
    stdlib = os.path.dirname(os.__file__)
    assert sys.path.index(stdlib) < sys.path.index(str(folder))  # the standard library stays first
    deps.add_to_path(folder)
    assert sys.path.count(str(folder)) == 1


def test_install_dialog_installs_with_progress_and_pips_log(wheelhouse, fake_optional, tmp_path, qgis_app, qtbot):
    from rs_embed_qgis.gui.install_dialog import InstallDialog

    make_wheel(wheelhouse, "rsembedfake-a", "1.0")
    target = tmp_path / "deps"
    dlg = InstallDialog(preselect=["rsembedfake_a"], target=target)
    try:
        assert f"Python {sys.version.split()[0]}" in dlg.header.text() and str(target) in dlg.header.text()
        assert dlg.selected() == ["rsembedfake_a"]
        with qtbot.waitSignal(dlg.installed, timeout=120000) as sig:
            dlg.btn_install.click()
            assert dlg.state == "running" and not dlg.btn_install.isEnabled()
        assert dlg.state == "done" and sig.args[0].install == [("rsembedfake-a", "1.0")]
        assert "Successfully installed rsembedfake-a-1.0" in dlg.log_view.toPlainText()
        assert dlg.progress.value() == 100 and "Installed: rsembedfake-a 1.0" in dlg.status.text()
        assert str(target) in sys.path
        assert dlg.rows["rsembedfake_a"].text(1) == "installed 1.0" and dlg.selected() == []
    finally:
        dlg.close()
        dlg.deleteLater()


def test_install_dialog_shows_a_refusal(wheelhouse, fake_optional, tmp_path, qgis_app, qtbot):
    from rs_embed_qgis.gui.install_dialog import InstallDialog

    make_wheel(wheelhouse, "rsembedfake-geo", "1.0", requires=["fiona"])
    make_wheel(wheelhouse, "fiona", "1.10.1")
    dlg = InstallDialog(preselect=["rsembedfake_geo"], target=tmp_path / "deps")
    try:
        dlg.start()
        qtbot.waitUntil(lambda: dlg.state != "running", timeout=120000)
        assert dlg.state == "failed" and "refused" in dlg.status.text()
        assert "fiona 1.10.1 (needed by rsembedfake-geo)" in dlg.log_view.toPlainText()
    finally:
        dlg.close()
        dlg.deleteLater()


def test_an_error_that_lacks_a_package_points_to_the_installer(monkeypatch):
    from rs_embed_qgis.engine.errors import ModelError, SpecError
    from rs_embed_qgis.processing.common import engine_error

    monkeypatch.setattr(deps, "is_importable", lambda m: m not in ("torch", "zarr", "rsembedfake_absent"))
    err = ModelError("model 'remoteclip' needs torch which cannot be imported here; install it or pick another model")
    assert deps.missing_modules(err) == ["torch"]
    hint = deps.install_hint(err)
    assert hint.startswith("Install torch into the plugin's folder") and "Optional Python packages" in hint
    assert hint in engine_error(err).args[0]  # the Processing algorithms say the same
    assert deps.missing_modules(SpecError("format='zarr' needs zarr (pip install 'zarr<3')")) == ["zarr"]
    try:
        try:
            import rsembedfake_absent  # noqa: F401
        except ImportError as exc:
            raise SpecError("the export failed") from exc
    except SpecError as chained:
        assert deps.missing_modules(chained) == ["rsembedfake_absent"]
    assert deps.missing_modules(ModelError("model 'x' needs torchvision")) == []  # torch is not torchvision
    assert deps.missing_modules(SpecError("buffer_m must be > 0, got -5")) == []
    assert deps.install_hint(SpecError("buffer_m must be > 0, got -5")) == ""
    assert "Install" not in engine_error(SpecError("buffer_m must be > 0, got -5")).args[0]


def test_a_failure_for_a_missing_package_offers_the_installer(qgis_iface, qgis_app, monkeypatch, tmp_path):
    """Every face shows its failures through results.present: a missing package gets an
    Install… button on the message, which opens the installer with that package ticked."""
    from qgis.PyQt.QtWidgets import QPushButton

    from rs_embed_qgis.engine.errors import ModelError, SpecError
    from rs_embed_qgis.gui import install_dialog
    from rs_embed_qgis.results import Failed, present

    monkeypatch.setattr(deps, "is_importable", lambda m: m != "torch")
    monkeypatch.setattr(deps, "deps_dir", lambda profile_dir=None: tmp_path / deps.DEPS_DIRNAME)
    bar = qgis_iface.messageBar()
    bar.clearWidgets()
    install_dialog.close_installer()
    try:
        present(Failed.from_exception("embed", ModelError("model 'remoteclip' needs torch which cannot be "
                                                          "imported here")), qgis_iface)
        item = bar.currentItem()
        assert "needs torch" in item.text() and "Optional Python packages" in item.text()
        (button,) = [b for b in item.findChildren(QPushButton) if b.text() == "Install…"]
        button.click()
        assert install_dialog.current().isVisible() and install_dialog.current().selected() == ["torch"]
        # a Processing run leaves only text: the same sentence is recognised in it
        bar.clearWidgets()
        present(Failed("embed", "ModelError: model 'remoteclip' needs torch which cannot be imported here"), qgis_iface)
        assert [b for b in bar.currentItem().findChildren(QPushButton) if b.text() == "Install…"]
        # any other failure: the plain critical message, no button
        bar.clearWidgets()
        bar.clear_messages()
        present(Failed.from_exception("embed", SpecError("buffer_m must be > 0, got -5")), qgis_iface)
        assert any("buffer_m must be > 0" in m for m in bar.get_messages(2))  # Qgis.Critical
    finally:
        install_dialog.close_installer()
        bar.clearWidgets()


def test_install_dialog_lists_a_package_a_feature_asked_for(tmp_path, qgis_app):
    from rs_embed_qgis.gui.install_dialog import InstallDialog

    dlg = InstallDialog(preselect=["rsembedfake_extra", "numpy"], target=tmp_path)
    try:
        assert dlg.selected() == ["rsembedfake_extra"]  # numpy is there: never ticked
        row = dlg.rows["rsembedfake_extra"]
        assert row.text(1) == "missing" and row.text(2) == "the feature that asked for it"
        assert dlg.rows["numpy"].text(1).startswith("installed")
        assert set(deps.OPTIONAL) <= set(dlg.rows)
    finally:
        dlg.close()
        dlg.deleteLater()
