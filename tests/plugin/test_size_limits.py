"""Size limits in the plugin (issue 17): the dock asks before a large run, a run over the
limit fails before any fetch with the reason, and the toolbox says the same."""
from __future__ import annotations

import pytest

WAIT_MS = 90_000


def test_dock_asks_before_a_large_run(dock, qtbot, monkeypatch, clean_settings):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle
    from qgis.PyQt.QtWidgets import QMessageBox

    from rs_embed_qgis import settings as S

    S.put("ask_memory_gb", 0.01)  # any run on the sample is "large" now
    S.apply_environment()
    asked = []
    no, yes = QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or no)
    dock.set_roi_rectangle(QgsRectangle(9.008, 47.832, 9.032, 47.848), QgsCoordinateReferenceSystem("EPSG:4326"))
    tab = dock.embed
    tab.ui.cmbModel.setCurrentText("mosaiks")
    assert tab.run() is None and not tab.is_running()  # the user said no: nothing started
    assert "estimated to need about" in asked[0] and "Mpx" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or yes)
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        assert tab.run() is not None
    assert sig.args == ["embed", True] and len(asked) == 2
    S.put("ask_memory_gb", 0)  # never ask
    S.apply_environment()
    assert tab.confirm_size() and len(asked) == 2


def test_dock_run_over_the_limit_fails_with_the_reason(dock, qtbot, monkeypatch, clean_settings, tmp_path):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    from rs_embed_qgis import settings as S

    S.put("max_memory_gb", 0.05)
    S.put("ask_memory_gb", 0)
    S.apply_environment()
    dock.set_roi_rectangle(QgsRectangle(9.001, 47.827, 9.039, 47.852), QgsCoordinateReferenceSystem("EPSG:4326"))
    dock.embed.ui.cmbModel.setCurrentText("mosaiks")
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.run()
    assert sig.args[1] is False
    report = dock.embed.ui.txtReport.toPlainText()
    assert "SpecError" in report and "over the limit of 0.05 GB" in report and "export_batch" in report
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []  # nothing written


@pytest.fixture(autouse=True)
def _limits_back():
    """apply_environment writes the limits into os.environ: give the next tests the defaults."""
    import os

    yield
    for var in ("RS_EMBED_MAX_MEMORY_GB", "RS_EMBED_ASK_MEMORY_GB"):
        os.environ.pop(var, None)


def test_toolbox_refuses_an_extent_over_the_limit_before_any_fetch(processing, monkeypatch):
    from qgis.core import QgsProcessingException

    from rs_embed_qgis.engine.providers.local import LocalProvider

    monkeypatch.setattr(LocalProvider, "fetch", lambda *a, **k: pytest.fail("fetched"))
    with pytest.raises(QgsProcessingException, match=r"SpecError: ROI #0 is too large.*over the limit of 4\.00 GB"):
        processing.run("rs_embed:embed_extent", {
            "EXTENT": "-180,180,-85,85 [EPSG:4326]", "MODEL": "mosaiks", "START": "2022-06-01", "END": "2022-09-01",
            "GRID_SCALE": 1000, "OUTPUT": "TEMPORARY_OUTPUT"})


def test_partial_coverage_warns_in_the_message_bar_the_log_and_the_layer_metadata(dock, qtbot, qgis_iface):
    """An ROI three quarters outside the data: the run goes on, says so in the message bar and
    the tab, and the layers' metadata give the share of valid data (issue 17)."""
    from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsRectangle

    dock.set_roi_rectangle(QgsRectangle(9.025, 47.83, 9.085, 47.85), QgsCoordinateReferenceSystem("EPSG:4326"))
    tab = dock.embed
    tab.ui.cmbModel.setCurrentText("mosaiks")
    tab.ui.spinGridScale.setValue(200)
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        tab.run()
    assert sig.args == ["embed", True]
    warnings = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert any("only 25% of ROI" in m and "fill value" in m for m in warnings), warnings
    assert "fill value" in tab.ui.txtReport.toPlainText()
    abstracts = [lyr.metadata().abstract() for lyr in tab.added_layers]
    assert abstracts and all("Valid data: 25% of the region" in a for a in abstracts), abstracts


def test_toolbox_reports_partial_coverage(processing):
    import json

    from qgis.core import QgsProcessingFeedback

    class Fb(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.errors = []

        def reportError(self, error, fatalError=False):  # noqa: N802,N803 - Qt naming
            self.errors.append(error)

    fb = Fb()
    res = processing.run("rs_embed:embed_extent", {
        "EXTENT": "9.025,9.085,47.83,47.85 [EPSG:4326]", "MODEL": "mosaiks", "START": "2022-06-01",
        "END": "2022-09-01", "GRID_SCALE": 200, "MODEL_OPTIONS": '{"num_features": 8}',
        "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=fb)
    meta = json.loads(res["METADATA"])
    assert 0.2 < meta["coverage"]["valid_fraction"] < 0.3 and meta["warnings"]
    assert any(e.startswith("WARNING: only 25% of ROI") for e in fb.errors), fb.errors
