"""Dock tab "Embeddings": model, time window, sensor and output -> a Processing algorithm -> layers.

The tab runs the algorithms of the toolbox's RS Embed group on the dock's region of interest:

- a rectangle or the map extent, grid output: ``rs_embed:embed_extent`` (EXTENT);
- a point (with its buffer), selected features, or any region with pooled output:
  ``rs_embed:embed_features`` on a layer of the ROIs (INPUT, BUFFER_FIELD, NAME_FIELD);
- *Inspect input*: ``rs_embed:inspect_patch`` on the region's extent.

It only turns widgets into the algorithm's parameters (``embed_parameters()``); the engine request,
the files and the layers (named, styled, grouped by the algorithm's post-processors) are the
algorithm's, so the dock, the toolbox, the modeller and ``qgis_process`` give the same results.
The model panel, the optional-package banner and the Earth Engine sign-in check live here too.
"""
from __future__ import annotations

import datetime as _dt
import html
import importlib
import json
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsProcessingContext, QgsProject
from qgis.gui import QgsFileWidget

from .. import settings as S
from ..engine import PointBuffer
from ..engine.errors import RsEmbedError
from ..engine.providers import list_providers
from ..i18n import tr
from ..results import Done, Failed, Result, log
from ..tasks import GeeStatusTask
from . import deps, icon, load_ui
from .alg_tab import AlgorithmTab, output_layer
from .dock import ROI_BUFFER, ROI_NAME
from .install_dialog import installs, show_installer

FORM, _BASE = load_ui("embed_tab")

EMBED_EXTENT = "rs_embed:embed_extent"
EMBED_FEATURES = "rs_embed:embed_features"
INSPECT_PATCH = "rs_embed:inspect_patch"


class EmbedTab(AlgorithmTab):
    """The Embeddings tab; ``dock`` gives the region of interest (``rois``, ``roi_kind``,
    ``roi_as_features()``) and the point buffer."""

    USES_ROI = True
    HIDE_IDLE_PROGRESS = True

    def __init__(self, iface, dock, parent=None):
        super().__init__(iface, parent)
        self.setObjectName("RsEmbedEmbedTab")
        self.dock = dock
        self.ui = FORM()
        self.ui.setupUi(self)
        u = self.ui
        self.btnRun, self.btnCancel, self.progress = u.btnRun, u.btnCancel, u.progressBar
        self.model_info: dict[str, Any] = {}
        self._gee_status: dict[str, Any] | None = None
        self._gee_task = None
        self._t0 = _dt.datetime.now()  # when the last run started
        u.btnRun.setIcon(icon("rs_embed.svg"))
        u.btnRun.clicked.connect(self.run)
        u.btnInspect.clicked.connect(self.inspect_input)
        u.btnCancel.clicked.connect(self.cancel)
        u.btnInstallDeps.clicked.connect(self.install_missing)
        installs.done.connect(self._packages_installed)
        u.rbRange.toggled.connect(self._sync_time_widgets)
        u.cmbOutputMode.currentTextChanged.connect(self._sync_output_widgets)
        u.cmbBackend.currentTextChanged.connect(self._on_backend)
        u.cmbModel.currentTextChanged.connect(self._on_model)
        u.chkRandomWeights.toggled.connect(lambda _checked: self._on_model(u.cmbModel.currentText()))
        for w in (u.fileDataFolder, u.fileOutDir):
            w.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.reload_settings()
        self._fill_models()
        self._sync_time_widgets()
        self._sync_output_widgets()

    # ------------------------------------------------------------------ base class hooks

    def run_buttons(self) -> list:
        return [self.ui.btnRun, self.ui.btnInspect]

    def show_status(self, text: str) -> None:
        self.ui.txtReport.setHtml(text)

    def show_result(self, result: Result) -> None:
        if isinstance(result, Failed):
            kind, _, text = result.error.partition(": ")
            if not text or " " in kind:
                kind, text = "", result.error
            self.show_status(f"<span style='color:#b00000'><b>{html.escape(kind)}</b>"
                             f"{': ' if kind else ''}{html.escape(text)}</span>")
        else:
            super().show_result(result)

    # ------------------------------------------------------------------ settings, catalog, backends, deps

    def reload_settings(self) -> None:
        u = self.ui
        u.fileDataFolder.setFilePath(S.local_data_folder())
        u.fileOutDir.setFilePath(S.output_dir())
        u.cmbDevice.setCurrentText(S.get("device", "auto"))
        self._gee_status = None  # the Earth Engine project may have changed: check again
        self._fill_backends(S.get("default_backend", "local"))
        if u.cmbModel.count():
            self._on_model(u.cmbModel.currentText())

    def output_folder(self) -> str:
        return self.ui.fileOutDir.filePath().strip() or S.output_dir()

    def _make_output_folder(self) -> Path:
        """The output folder, created if needed (an unwritable one: a SpecError naming it)."""
        from ..engine.io import make_folder

        out = Path(self.output_folder())
        make_folder(out)
        return out

    def _fill_models(self) -> None:
        from ..engine import list_models

        cmb = self.ui.cmbModel
        cmb.blockSignals(True)
        cmb.clear()
        for m in list_models():
            cmb.addItem(m)
        cmb.blockSignals(False)
        idx = cmb.findText("mosaiks")
        cmb.setCurrentIndex(idx if idx >= 0 else 0)
        self._on_model(cmb.currentText())

    def _fill_backends(self, preferred: str = "local") -> None:
        cmb = self.ui.cmbBackend
        cmb.blockSignals(True)
        cmb.clear()
        for p in list_providers():  # the engine's registry; what this QGIS's Python can import
            if p.available and all(deps.is_importable(m) for m in p.requires):
                cmb.addItem(p.name)
        cmb.blockSignals(False)
        i = cmb.findText(preferred)
        cmb.setCurrentIndex(i if i >= 0 else 0)
        self._on_backend(cmb.currentText())

    @staticmethod
    def ee_status_function():
        """The gee provider's ``ee_status(project=...)``, or a sentence saying why there is none."""
        if not deps.is_importable("ee"):
            return None, tr("unavailable: earthengine-api is not installed in QGIS's Python")
        try:
            mod = importlib.import_module("rs_embed_qgis.engine.providers.gee")
        except ImportError as exc:
            return None, tr("unavailable: the Earth Engine backend could not be loaded ({error})").format(error=exc)
        fn = getattr(mod, "ee_status", None)
        if fn is None:
            return None, tr("unavailable: this engine has no Earth Engine status check")
        return fn, ""

    def check_gee(self):
        """Start the (network) sign-in check in a task; the label says "checking" meanwhile."""
        fn, why = self.ee_status_function()
        if fn is None:
            self._show_gee_status({"ok": False, "message": why})
            return None
        if self._gee_task is not None:
            return self._gee_task
        self.ui.lblBackendInfo.setText(tr("Google Earth Engine: checking the sign-in…"))
        task = GeeStatusTask(fn, S.get("gee_project"), on_finished=self._gee_checked)
        self._gee_task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def _gee_checked(self, result: Result) -> None:
        self._gee_task = None
        if isinstance(result, Done):
            status = result.data
        else:
            status = {"ok": False, "message": getattr(result, "error", "") or tr("the check was cancelled")}
        self._show_gee_status(status)
        self.resultReady.emit(Done("gee_status", str(status.get("message") or ""), data=status))

    def _show_gee_status(self, st: dict[str, Any]) -> None:
        self._gee_status = st
        if self.ui.cmbBackend.currentText() != "gee":
            return
        how = st.get("how_to_sign_in") or tr("Sign in once with <code>earthengine authenticate</code> and set "
                                             "your Google Cloud project in the RS Embed settings.")
        head = tr("ready") if st.get("ok") else tr("not ready")
        self.ui.lblBackendInfo.setText(
            tr("Google Earth Engine: <b>{state}</b> — {message}").format(
                state=head, message=html.escape(str(st.get("message") or "")))
            + ("" if st.get("ok") else f"<br>{html.escape(how) if '<code>' not in how else how}"))

    def _on_backend(self, backend: str) -> None:
        u = self.ui
        local = backend == "local"
        u.fileDataFolder.setEnabled(local or backend == "stac")
        if local:
            u.lblBackendInfo.setText(tr("Local data: a folder (SAFE products, per-band files, GeoTIFF stacks, "
                                        "STAC items), a catalog.json, an ItemCollection or item JSON, or a "
                                        ".SAFE.zip (default: the bundled Sentinel-2 sample, 2022, lon 9.00-9.04, "
                                        "lat 47.83-47.85)."))
        elif backend == "stac":
            u.lblBackendInfo.setText(tr("STAC API: Earth Search (Sentinel-2 L2A, no account) unless the data "
                                        "field holds another API URL (https://...)."))
        elif self._gee_status is not None:
            self._show_gee_status(self._gee_status)
        else:
            self.check_gee()
        self._update_deps()

    def _on_model(self, model: str) -> None:
        if not model:
            return
        from ..engine import describe_model

        try:
            d = describe_model(model, weights_path=S.weights_path(model))
        except RsEmbedError as exc:
            self.ui.txtModelInfo.setHtml(f"<b>{html.escape(str(exc))}</b>")
            return
        self.model_info = d
        w = d["weights"]
        status = w.get("status", "?")
        if S.weights_path(model) is None and status == "missing" and self.ui.chkRandomWeights.isChecked():
            status = tr("missing (will run with RANDOM weights)")
        colour = {"found": "green", "not needed": "green"}.get(status, "#b00000")
        path = (w.get("resolved") or {}).get("path")
        rows = [
            (tr("Type"), html.escape(f"{d['type']} — {d['family']}")),
            (tr("Bands"), html.escape(", ".join(d["bands"]) or "—")),
            (tr("Temporal"), html.escape(d["temporal_mode"])),
            (tr("Outputs"), html.escape(", ".join(d["outputs"]))),
            (tr("Side inputs"), html.escape(", ".join(d["side_inputs"]) or tr("none"))),
            (tr("Dimension"), html.escape(str(d.get("embedding_dim") or "?"))),
            (tr("Weights"), f"<span style='color:{colour}'><b>{html.escape(status)}</b></span>"
                            + (f" ({html.escape(str(path))})" if path else "")
                            # weights behind a link only a person can follow: say where, once
                            + (" — " + tr("download by hand from <a href='{url}'>here</a>").format(
                                url=html.escape(w["manual_url"]))
                               if w.get("manual_url") and w.get("status") == "missing" else "")),
        ]
        if d.get("missing_requirements"):
            rows.append((tr("Needs"), "<span style='color:#b00000'>" + html.escape(
                ", ".join(d["missing_requirements"])) + " " + tr("(not installed)") + "</span>"))
        body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
        paper = f"<p><a href='{d['paper']}'>{tr('paper')}</a></p>" if d.get("paper") else ""
        self.ui.txtModelInfo.setHtml(f"<p>{html.escape(d['description'])}</p><table>{body}</table>{paper}")
        sensor = d.get("default_sensor") or {}
        u = self.ui
        if sensor:
            u.editCollection.setText(str(sensor.get("collection", "")))
            u.editBands.setText(", ".join(sensor.get("bands") or []))
            u.spinSensorScale.setValue(int(sensor.get("scale_m") or 10))
            u.spinCloud.setValue(int(sensor.get("cloudy_pct") or 30))
            u.cmbComposite.setCurrentText(str(sensor.get("composite") or "median"))
        u.lblTemporalMode.setText(
            tr("<i>{model}</i> uses the window as: {mode}. The window is half-open: [start, end).").format(
                model=html.escape(model), mode=html.escape(d["temporal_mode"])))
        for mode in ("grid", "pooled"):
            i = u.cmbOutputMode.findText(mode)
            item = u.cmbOutputMode.model().item(i)
            if item is not None:
                item.setEnabled(mode in d["outputs"])
        if u.cmbOutputMode.currentText() not in d["outputs"] and d["outputs"]:
            u.cmbOutputMode.setCurrentText(d["outputs"][0])
        self._update_deps()

    def selection_needs(self) -> list[str]:
        """What the chosen model and backend need but QGIS's Python lacks (import names)."""
        need = [m for m in self.model_info.get("requires", []) if not deps.is_importable(m)]
        if self.ui.cmbBackend.currentText() == "gee" and not deps.is_importable("ee"):
            need.append("ee")
        if self.ui.cmbBackend.currentText() == "stac" and not deps.is_importable("pystac_client"):
            need.append("pystac_client")
        return need

    def missing_dependencies(self) -> list[str]:
        """Every optional package QGIS's Python lacks, the current selection's first (import names)."""
        need = self.selection_needs()
        return need + [m for m in deps.missing() if m not in need]

    def _update_deps(self) -> None:
        u = self.ui
        need = self.missing_dependencies()
        model_need = [m for m in self.model_info.get("requires", []) if not deps.is_importable(m)]
        if need:
            txt = deps.describe_missing(need)
            u.lblDeps.setToolTip(deps.explain_missing(need))
            if not model_need:
                txt += " " + tr("The selected model ({model}) does not need it and works now.").format(
                    model=u.cmbModel.currentText())
            else:
                txt += " " + tr("{model} needs {packages}.").format(
                    model=u.cmbModel.currentText(), packages=", ".join(deps.pip_name(m) for m in model_need))
            u.lblDeps.setText(txt)
        u.lblDeps.setVisible(bool(need))
        u.btnInstallDeps.setVisible(bool(need))
        wanted = self.selection_needs()  # what the button ticks in the installer
        u.btnInstallDeps.setText(tr("Install {packages} into the plugin's folder…").format(
            packages=", ".join(deps.dist_name(deps.pip_name(m)) for m in wanted)) if wanted
            else tr("Install optional packages into the plugin's folder…"))
        u.btnRun.setEnabled(not model_need and self.task is None)
        u.btnRun.setToolTip("" if not model_need else tr("{model} needs {packages}; install it first").format(
            model=u.cmbModel.currentText(), packages=", ".join(model_need)))

    def install_missing(self):
        """The installer window, with what the current selection needs ticked (all missing if nothing)."""
        return show_installer(self.selection_needs() or self.missing_dependencies(), self)

    def _packages_installed(self, _plan=None) -> None:
        """The installer added packages: backends and models that needed them are offered again."""
        deps.add_to_path()
        self._fill_backends(self.ui.cmbBackend.currentText())
        self._on_model(self.ui.cmbModel.currentText())

    def _finish(self, result: Result) -> None:
        super()._finish(result)
        self._update_deps()

    def cleanup(self) -> None:
        try:
            installs.done.disconnect(self._packages_installed)
        except (TypeError, RuntimeError):  # never connected, or already gone
            pass
        super().cleanup()

    # ------------------------------------------------------------------ widgets -> parameters

    def _sync_time_widgets(self, *_a) -> None:
        u = self.ui
        rng = u.rbRange.isChecked()
        u.dateStart.setEnabled(rng)
        u.dateEnd.setEnabled(rng)
        u.spinYear.setEnabled(not rng)

    def _sync_output_widgets(self, *_a) -> None:
        u = self.ui
        grid = u.cmbOutputMode.currentText() == "grid"
        u.spinGridScale.setEnabled(grid)
        u.cmbPooling.setEnabled(not grid)

    def _time_and_data_parameters(self) -> dict[str, Any]:
        """The window, the data and the sensor, as every RS Embed algorithm reads them."""
        u = self.ui
        bands = [b.strip() for b in u.editBands.text().replace(";", ",").split(",") if b.strip()]
        if not bands:
            raise ValueError(tr("the band list is empty; enter bands such as 'B4, B3, B2'"))
        p: dict[str, Any] = {}
        if u.rbYear.isChecked():
            p["YEAR"] = int(u.spinYear.value())
        else:
            p["START"] = u.dateStart.date().toString("yyyy-MM-dd")
            p["END"] = u.dateEnd.date().toString("yyyy-MM-dd")
        backend = u.cmbBackend.currentText()
        p.update(BACKEND=backend, COLLECTION=u.editCollection.text().strip(), BANDS=",".join(bands),
                 SENSOR_SCALE=float(u.spinSensorScale.value()), CLOUDY_PCT=int(u.spinCloud.value()),
                 COMPOSITE=u.cmbComposite.currentText())
        if backend == "local":
            p["DATA_FOLDER"] = u.fileDataFolder.filePath().strip() or S.local_data_folder()
        elif backend == "stac" and u.fileDataFolder.filePath().strip().startswith(("http://", "https://")):
            p["DATA_FOLDER"] = u.fileDataFolder.filePath().strip()  # another STAC API than Earth Search
        return p

    def _run_name(self) -> str:
        u = self.ui
        when = (str(u.spinYear.value()) if u.rbYear.isChecked() else
                f"{u.dateStart.date().toString('yyyy-MM-dd')}_{u.dateEnd.date().toString('yyyy-MM-dd')}")
        return f"{u.cmbModel.currentText()}_{when}_{_dt.datetime.now().strftime('%Y%m%d_%H%M%S')}"

    def _extent(self) -> str:
        """The region's extent as an EXTENT parameter: the bbox, or the square a point buffer fetches."""
        sp = self.dock.rois[0][0]
        if isinstance(sp, PointBuffer):
            from ..engine.geo import roi_footprint

            fp = roi_footprint(sp)
            x0, y0, x1, y1 = fp.bounds
            return f"{x0!r},{x1!r},{y0!r},{y1!r} [{fp.crs}]"
        return f"{sp.minlon!r},{sp.maxlon!r},{sp.minlat!r},{sp.maxlat!r} [EPSG:4326]"

    def embed_parameters(self) -> tuple[str, dict[str, Any]]:
        """The algorithm to run for the dock's region and this form, and its parameters."""
        if not self.dock.rois:
            raise ValueError(tr("no region: draw a rectangle, click a point, use selected features or the "
                                "map extent"))
        u = self.ui
        model = u.cmbModel.currentText()
        options = {}
        if u.chkRandomWeights.isChecked() and (self.model_info.get("weights") or {}).get("needs_weights", True):
            options["allow_random_weights"] = True  # asked for explicitly; outputs say RANDOM WEIGHTS
        p = dict(self._time_and_data_parameters(), MODEL=model, DEVICE=u.cmbDevice.currentText(),
                 PRECISION=u.cmbPrecision.currentText(), INPUT_PREP=u.cmbInputPrep.currentText(),
                 MODEL_OPTIONS=json.dumps(options) if options else "")
        out = self._make_output_folder()
        name = self._run_name()
        grid = u.cmbOutputMode.currentText() == "grid"
        if grid and self.dock.roi_kind == "rectangle":
            p.update(EXTENT=self._extent(), GRID_SCALE=float(u.spinGridScale.value()),
                     OUTPUT=output_layer(out / f"{name}.tif"), PCA=output_layer(out / f"{name}_pca.tif"))
            return EMBED_EXTENT, p
        p.update(INPUT=self.dock.roi_as_features(), BUFFER=float(self.dock.ui.spinBuffer.value()),
                 BUFFER_FIELD=ROI_BUFFER, NAME_FIELD=ROI_NAME, INVALID_GEOMETRY="skip",
                 POOLING=u.cmbPooling.currentText(), GRID_SCALE=float(u.spinGridScale.value()))
        if grid:
            p.update(GRID_FOLDER=str(out / name), GRID_PCA=True, ADD_GRIDS=True)
        else:
            p.update(OUTPUT=output_layer(out / f"{name}.gpkg"))
        return EMBED_FEATURES, p

    def request(self):
        """The engine request the current form and region run (what the algorithm will compute)."""
        alg_id, params = self.embed_parameters()
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        return self.algorithm(alg_id).request(params, context)

    def size_request(self):
        """The run as the size estimate sees it: the region and the form, no model built (the
        GUI thread never waits; the run's own plan checks again with the model's facts)."""
        from ..engine import OutputSpec, SensorSpec
        from ..engine.pipeline import EmbedRequest

        u = self.ui
        bands = tuple(b.strip() for b in u.editBands.text().replace(";", ",").split(",") if b.strip())
        output = (OutputSpec.grid(scale_m=float(u.spinGridScale.value())) if u.cmbOutputMode.currentText() == "grid"
                  else OutputSpec.pooled())
        sensor = SensorSpec(collection=u.editCollection.text().strip(), bands=bands,
                            scale_m=float(u.spinSensorScale.value()))
        return EmbedRequest(model=u.cmbModel.currentText(), spatials=[sp for sp, _ in self.dock.rois], temporal=None,
                            output=output, sensor=sensor, input_prep=u.cmbInputPrep.currentText())

    def confirm_size(self) -> bool:
        """Ask before a run estimated over the "ask before" size (settings; ``engine/budget.py``).
        Over the limit itself the run's plan refuses it with the reason, so that is not asked."""
        from qgis.PyQt.QtWidgets import QMessageBox

        from ..engine import budget

        try:
            est, limits = budget.rough(self.size_request()), budget.Limits.from_env()
        except RsEmbedError as exc:
            self.refuse("embed", str(exc))
            return False
        peak = est.peak_bytes[est.largest]
        if peak <= limits.ask_memory_gb * budget.GiB or peak > limits.max_bytes:
            return True
        log(f"size estimate: {est.describe()}")
        answer = QMessageBox.question(self, tr("RS Embed: a large run"), tr(
            "This run is estimated to need about {peak} of memory ({what}).\n\nIt may take long and slow "
            "the computer down. Run it?").format(peak=budget.gb(peak), what=est.describe()),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ running

    def run(self):
        """Embed the dock's region with the form's settings; returns the task (or None if refused)."""
        try:
            alg_id, params = self.embed_parameters()
        except (ValueError, RsEmbedError) as exc:
            self.refuse("embed", str(exc))
            return None
        if not self.confirm_size():
            return None
        self._t0 = _dt.datetime.now()
        return self.start_algorithm(alg_id, params, "embed", self._embed_done, keep=[params.get("INPUT")])

    def _embed_done(self, results: dict[str, Any], load_layers) -> Done:
        from .. import layers as L

        meta = json.loads(results.get("METADATA") or "{}")
        run = L.run_name(meta)
        seconds = (_dt.datetime.now() - self._t0).total_seconds()
        tim = meta.get("timings") or {}
        files = [str(results[k]) for k in ("OUTPUT", "PCA", "GRID_FOLDER") if results.get(k)]
        report = (tr("<b>{run}</b>: done in {seconds:.1f} s (fetch {fetch:.1f} s, model {model:.1f} s).").format(
            run=html.escape(run), seconds=seconds, fetch=tim.get("fetch_s", 0), model=tim.get("embed_s", 0))
            + "<br>" + "<br>".join(html.escape(f) for f in files))
        random_w = bool(meta.get("random_weights"))
        warnings = [str(w) for w in meta.get("warnings") or []]  # e.g. an ROI partly covered by valid data
        if random_w:
            message = tr("{model} ran with RANDOM weights: the layer is not a pretrained embedding (see the "
                         "layer metadata).").format(model=meta.get("model"))
        else:
            message = tr("{run}: layers added.").format(run=run)
        if warnings:
            message += " " + tr("Warning: {warnings}").format(warnings="; ".join(warnings))
            report += "<br><span style='color:#b00000'>" + "<br>".join(html.escape(w) for w in warnings) + "</span>"
        return Done("embed", message, load_layers, data={"results": results, "meta": meta},
                    report_html=report, warning=random_w or bool(warnings))

    def inspect_input(self):
        """Fetch the input patch of the region (no model run): an RGB layer and statistics."""
        try:
            if not self.dock.rois:
                raise ValueError(tr("no region: draw one first"))
            params = dict(self._time_and_data_parameters(), EXTENT=self._extent(), RGB_BANDS="B4,B3,B2",
                          STRETCH="raw")
            stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
            stem = self._make_output_folder() / f"{self.ui.cmbModel.currentText()}_input_{stamp}"
        except (ValueError, RsEmbedError) as exc:
            self.refuse("inspect", str(exc))
            return None
        params.update(OUTPUT=output_layer(f"{stem}_rgb.tif"), REPORT=f"{stem}_report.json")
        return self.start_algorithm(INSPECT_PATCH, params, "inspect", self._inspect_done)

    def _inspect_done(self, results: dict[str, Any], load_layers) -> Done:
        report = json.loads(Path(results["REPORT"]).read_text(encoding="utf-8"))
        return Done("inspect", tr("Input patch added as an RGB layer; statistics are in the dock."), load_layers,
                    data={"results": results, "report": report, "rgb": report.get("rgb") or {}},
                    report_html=stats_html(report))


def stats_html(report: dict[str, Any]) -> str:
    """The engine's input report (``inspect_patch``) as a table: per band min, median, max, std,
    % NaN and % fill, the frames, and the issues found."""
    checks = report.get("report") or {}
    bands = checks.get("bands") or []
    fill = checks.get("band_fill_frac") or [None] * len(bands)
    rows = []
    for i, b in enumerate(bands):
        lo, med, hi, std = (checks.get(k, [None] * len(bands))[i] for k in ("band_min", "band_p50", "band_max",
                                                                              "band_std"))
        if lo is None:
            rows.append(f"<tr><td>{html.escape(str(b))}</td><td colspan=6>{tr('no valid pixel')}</td></tr>")
            continue
        nan = 100 * (checks.get("band_nan_frac") or [0] * len(bands))[i]
        fills = "—" if fill[i] is None else f"{100 * fill[i]:.1f}"
        rows.append(f"<tr><td>{html.escape(str(b))}</td><td>{lo:.4g}</td><td>{med:.4g}</td><td>{hi:.4g}</td>"
                    f"<td>{std:.4g}</td><td>{nan:.1f}</td><td>{fills}</td></tr>")
    patch = report.get("input") or {}
    frames = patch.get("frames") or []
    fr = "; ".join(f"{f.get('start')}..{f.get('end')} ({f.get('n_scenes', '?')} scenes)" for f in frames[:4])
    issues = list(checks.get("issues") or [])
    if issues:
        warn = "<p style='color:#b00000'>" + "<br>".join(html.escape(str(w)) for w in issues) + "</p>"
    else:
        warn = "<p style='color:green'>" + tr("The engine's input checks found no issue.") + "</p>"
    head = tr("Input {shape} (T,C,H,W) in {crs}; frames: {frames}").format(
        shape=patch.get("shape_tchw"), crs=html.escape(str(patch.get("crs"))), frames=html.escape(fr))
    columns = "".join(f"<th>{c}</th>" for c in (tr("band"), tr("min"), tr("median"), tr("max"), tr("std"),
                                                 tr("% NaN"), tr("% fill")))
    return f"<p>{head}</p>{warn}<table><tr>{columns}</tr>{''.join(rows)}</table>"

