"""What a user does in the QGIS desktop, run inside the real ``qgis`` binary by tests/desktop.

QGIS executes this file after start-up (``qgis --code session.py``); it must return at once and
work from the event loop, so each scenario is a generator that acts like a user (clicks the
dock's buttons, opens a Processing dialog and presses Run) and yields :class:`Until` objects:
conditions the session polls (with a timeout) before the scenario goes on. Everything QGIS
reports meanwhile is recorded: Python errors (QGIS's error hook, ``qgis.utils.showException``),
the message log, dialogs left open, and which hidden modules (see stock_python/sitecustomize.py)
were imported and from where. At the end the session writes a JSON verdict and quits QGIS.

The test passes its settings in the JSON file named by ``RS_EMBED_DESKTOP_CONFIG``.
"""
import json
import os
import site
import sys
import time
import traceback
from pathlib import Path

import qgis.utils
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRectangle, QgsSettings
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QApplication, QDialog, QMessageBox, QTextEdit
from qgis.utils import iface

PLUGIN = "rs_embed_qgis"
SAMPLE = "S2_L2A_20220715_sample.tif"
LEVELS = {int(Qgis.Info): "info", int(Qgis.Warning): "warning", int(Qgis.Critical): "critical",
          int(Qgis.Success): "success"}


class StepFailed(Exception):
    pass


class Until:
    """A condition to wait for (polled from the event loop), with what it is, for the verdict."""

    def __init__(self, condition, timeout_s, what):
        self.condition, self.timeout_s, self.what = condition, timeout_s, what
        self.since = time.monotonic()


class Session:
    def __init__(self, cfg):
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.steps = []
        self.facts = {}
        self.python_errors = []
        self.messages = []
        self.failure = None
        self.gen = None
        self.wait = None
        self.busy = False
        self.done = False
        self._show_exception = qgis.utils.showException
        qgis.utils.showException = self._record_exception  # QGIS's Python error hook calls it
        QgsApplication.messageLog().messageReceived.connect(self._record_message)
        self.timer = QTimer()
        self.timer.setInterval(200)
        self.timer.timeout.connect(self._tick)
        self.watchdog = QTimer()
        self.watchdog.setSingleShot(True)
        self.watchdog.timeout.connect(self._watchdog)

    # ------------------------------------------------------------------ recording

    def _record_exception(self, etype, value, tb, msg=None, *args, **kwargs):
        self.python_errors.append({
            "type": getattr(etype, "__name__", str(etype)), "value": str(value), "msg": msg,
            "traceback": "".join(traceback.format_exception(etype, value, tb)), "step": self._step_name()})
        return self._show_exception(etype, value, tb, msg, *args, **kwargs)

    def _record_message(self, message, tag, level):
        self.messages.append({"t": round(time.monotonic() - self.t0, 1), "tag": tag,
                              "level": LEVELS.get(int(level), str(int(level))), "message": message[:6000]})

    def _step_name(self):
        return self.steps[-1]["name"] if self.steps else "start-up"

    def step(self, name):
        """A new step of the scenario begins (the previous one passed)."""
        if self.steps:
            self.steps[-1]["ok"] = True
        self.steps.append({"name": name, "t": round(time.monotonic() - self.t0, 1), "ok": False})

    def check(self, condition, message):
        if not condition:
            raise StepFailed(message)

    def fact(self, key, value):
        self.facts[key] = value

    # ------------------------------------------------------------------ running

    def run(self, scenario):
        self.gen = scenario(self)
        self.watchdog.start(int(self.cfg["timeout_s"] * 1000))
        self.timer.start()
        QTimer.singleShot(0, self._advance)

    def _advance(self):
        self.busy = True  # a step may open a modal dialog: ticks must not re-enter the scenario
        try:
            self.wait = next(self.gen)
        except StopIteration:
            if self.steps:
                self.steps[-1]["ok"] = True
            self.finish()
        except Exception as exc:  # noqa: BLE001 - every failure ends in the verdict
            self.fail(exc)
        finally:
            self.busy = False

    def _tick(self):
        if self.busy or self.done or self.wait is None:
            return
        try:
            ok = self.wait.condition()
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        if ok:
            self.wait = None
            self._advance()
        elif time.monotonic() - self.wait.since > self.wait.timeout_s:
            self.fail(StepFailed(f"timed out after {self.wait.timeout_s} s waiting for {self.wait.what}"))

    def fail(self, exc):
        self.failure = {"step": self._step_name(), "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc() if not isinstance(exc, StepFailed) else ""}
        self.finish()

    def _watchdog(self):
        """The whole session took too long (a modal dialog may be stuck): verdict, then out."""
        self.failure = self.failure or {"step": self._step_name(), "error": "session timeout",
                                        "traceback": "".join(traceback.format_stack())}
        self.write_verdict()
        os._exit(3)

    # ------------------------------------------------------------------ the end

    def final_checks(self):
        hidden = set(self.cfg["hidden_modules"])
        site_dirs = [os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
        loaded = {}
        for name, mod in list(sys.modules.items()):
            if name.partition(".")[0] in hidden and "." not in name and mod is not None:
                loaded[name] = os.path.realpath(getattr(mod, "__file__", None) or "")
        self.fact("hidden_modules_loaded", loaded)
        self.fact("hidden_import_attempts", sorted({n for n, _ in getattr(sys, "rs_embed_hidden_attempts", [])}))
        self.fact("blocker_active", hasattr(sys, "rs_embed_hidden_attempts"))
        problems = []
        if not hasattr(sys, "rs_embed_hidden_attempts"):
            problems.append("the stock-Python blocker (sitecustomize) did not run")
        from_system = {n: f for n, f in loaded.items() if any(f.startswith(d + os.sep) for d in site_dirs)}
        if from_system:
            problems.append(f"hidden modules imported from the system's site folders: {from_system}")
        for err in self.python_errors:
            problems.append(f"Python error in step {err['step']!r}: {err['type']}: {err['value']}")
        for m in self.messages:
            if m["tag"] == "Python error" or (m["tag"] == "RS Embed" and m["level"] == "critical"):
                problems.append(f"{m['tag']} ({m['level']}): {m['message'][:500]}")
        left_open = [f"{type(w).__name__} {w.windowTitle()!r}: {getattr(w, 'text', lambda: '')()[:300]}"
                     for w in QApplication.topLevelWidgets() if w.isVisible() and isinstance(w, (QDialog, QMessageBox))]
        if left_open:
            problems.append(f"dialogs left open: {left_open}")
        return problems

    def write_verdict(self):
        verdict = {"scenario": self.cfg["scenario"], "steps": self.steps, "failure": self.failure,
                   "facts": self.facts, "python_errors": self.python_errors, "messages": self.messages,
                   "seconds": round(time.monotonic() - self.t0, 1)}
        try:
            verdict["problems"] = self.final_checks()
        except Exception:  # noqa: BLE001 - the verdict must be written whatever happens
            verdict["problems"] = [f"final checks failed: {traceback.format_exc()}"]
        verdict["ok"] = not verdict["problems"] and self.failure is None and all(s["ok"] for s in self.steps)
        path = Path(self.cfg["verdict"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(verdict, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)

    def finish(self):
        if self.done:
            return
        self.done = True
        self.timer.stop()
        self.write_verdict()
        self.watchdog.stop()
        # Quit as a user would, without QGIS's questions: layers under /tmp count as temporary
        # ("their contents will be lost"), and a changed project asks to be saved.
        QgsProject.instance().removeAllMapLayers()
        QgsProject.instance().setDirty(False)
        QTimer.singleShot(500, iface.actionExit().trigger)
        self.exit_guard = QTimer()
        self.exit_guard.setSingleShot(True)
        self.exit_guard.timeout.connect(self._exit_blocked)
        self.exit_guard.start(120000)

    def _exit_blocked(self):
        """QGIS did not close: say what held it, then leave (the test sees the exit code)."""
        open_windows = [f"{type(w).__name__} {w.windowTitle()!r}" for w in QApplication.topLevelWidgets()
                        if w.isVisible()]
        self.failure = self.failure or {"step": "quit QGIS", "error": f"QGIS did not close: {open_windows}",
                                        "traceback": ""}
        self.write_verdict()
        os._exit(4)


# ------------------------------------------------------------------ what a user does

def plugin_started(s):
    s.step("QGIS starts the plugin")
    yield Until(lambda: PLUGIN in qgis.utils.plugins, 180, "QGIS to start the plugin")
    mod = sys.modules[PLUGIN]
    s.fact("plugin_file", mod.__file__)
    s.fact("plugin_version", mod.__version__)
    s.fact("qgis", Qgis.QGIS_VERSION)
    s.fact("python", {"version": sys.version, "executable": sys.executable, "prefix": sys.prefix,
                      "path": sys.path})
    home = Path(QgsApplication.qgisSettingsDirPath()).resolve()
    s.check(Path(mod.__file__).resolve().is_relative_to(home / "python" / "plugins" / PLUGIN),
            f"the plugin was imported from {mod.__file__}, not from the profile {home}")
    # the blocker works: modules this machine's system Python has are absent, as in a stock QGIS
    import importlib.util

    present_here = [m for m in s.cfg["installed_but_hidden"] if m not in sys.modules]
    s.fact("hidden_and_absent", {m: importlib.util.find_spec(m) is None for m in present_here})
    s.check(all(s.facts["hidden_and_absent"].values()), f"hidden modules are importable: {s.facts['hidden_and_absent']}")
    prov = QgsApplication.processingRegistry().providerById("rs_embed")
    s.check(prov is not None, "no rs_embed Processing provider")
    algs = sorted(a.id() for a in prov.algorithms())
    s.fact("algorithms", algs)
    listed = sys.modules[f"{PLUGIN}.processing.provider"].ALGORITHMS
    s.check(len(algs) == len(listed), f"the toolbox has {algs}; the provider lists {len(listed)} (one failed to load?)")


def open_dock(s):
    s.step("open the dock from its toolbar button")
    action = iface.mainWindow().findChild(QAction, "rs_embed_dock_action")
    s.check(action is not None, "no RS Embed action in QGIS's main window")
    action.trigger()
    dock = qgis.utils.plugins[PLUGIN].dock
    yield Until(dock.isVisible, 30, "the dock to show")
    e = dock.embed.ui  # the Embeddings tab
    s.fact("banner", e.lblDeps.text() if e.lblDeps.isVisible() else "")
    return dock


def load_sample_and_zoom(s, half_size_m):
    s.step("add the bundled sample as a layer and zoom into it")
    path = Path(sys.modules[PLUGIN].__file__).parent / "resources" / "sample_data" / SAMPLE
    layer = iface.addRasterLayer(str(path), "S2 sample 2022-07-15")
    s.check(layer is not None and layer.isValid(), f"the sample {path} did not load as a layer")
    canvas = iface.mapCanvas()
    # the map in the sample's CRS (Project > Properties > CRS), as QGIS sets it for a first layer
    QgsProject.instance().setCrs(layer.crs())
    yield Until(lambda: canvas.mapSettings().destinationCrs() == layer.crs(), 30, "the map to take the sample's CRS")
    c = layer.extent().center()  # metres (UTM)
    canvas.setExtent(QgsRectangle(c.x() - half_size_m, c.y() - half_size_m, c.x() + half_size_m, c.y() + half_size_m))
    canvas.refresh()
    yield Until(lambda: not canvas.isDrawing(), 120, "the map to draw")
    s.check(layer.extent().contains(canvas.extent()), f"the view {canvas.extent().toString()} leaves the sample "
                                                       f"{layer.extent().toString()}")
    return layer


def region_from_map_extent(s, dock):
    s.step("set the region with the dock's Map extent button")
    dock.ui.btnCanvas.click()
    s.check(len(dock.rois) == 1, f"the Map extent button gave {len(dock.rois)} regions")
    s.fact("roi", dock.ui.lblRoi.text())


def run_dock(s, dock, what, timeout_s):
    s.step(f"run {what} with the dock's Run button")
    e = dock.embed.ui
    s.check(e.btnRun.isEnabled(), f"Run is disabled: {e.btnRun.toolTip()}")
    before = set(QgsProject.instance().mapLayers())
    finished = []
    dock.taskFinished.connect(lambda kind, ok: finished.append((kind, ok)))
    e.btnRun.click()
    yield Until(lambda: finished, timeout_s, f"the {what} task")
    report = e.txtReport.toPlainText()
    s.check(finished[0] == ("embed", True), f"the run ended with {finished[0]}: {report[:1500]}")
    added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
    s.check(added, "the run added no layer")
    s.check(all(lyr.isValid() and Path(lyr.source().split("|")[0]).exists() for lyr in added),
            f"invalid result layers: {[lyr.source() for lyr in added]}")
    s.fact(f"{what} layers", sorted(f"{lyr.name()} <- {lyr.source()}" for lyr in added))
    s.fact(f"{what} report", report)
    return added


def run_processing_dialog(s, alg_id, params, timeout_s):
    """As from the toolbox: the algorithm's dialog, its parameters filled in, Run pressed."""
    s.step(f"run {alg_id} from its Processing dialog")
    import processing

    dlg = processing.createAlgorithmDialog(alg_id, params)
    s.check(dlg is not None, f"no dialog for {alg_id}")
    dlg.show()
    before = set(QgsProject.instance().mapLayers())
    results = []
    dlg.algorithmFinished.connect(lambda ok, res: results.append((ok, res)))
    dlg.runButton().click()
    yield Until(lambda: results, timeout_s, f"{alg_id} to finish")
    log_widget = dlg.findChild(QTextEdit, "txtLog")  # the dialog's Log tab
    log_text = log_widget.toPlainText() if log_widget is not None else ""
    s.fact(f"{alg_id} log", log_text[-4000:])
    ok, res = results[0]
    s.check(ok, f"{alg_id} failed: {log_text[-2000:]}")
    yield Until(lambda: set(QgsProject.instance().mapLayers()) - before, 60, f"{alg_id}'s output layer")
    added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
    s.check(all(lyr.isValid() for lyr in added), f"invalid output layers {[lyr.source() for lyr in added]}")
    s.fact(f"{alg_id} outputs", {k: str(v) for k, v in res.items()})
    dlg.close()


def stock_qgis(s):
    """The release zip on a stock QGIS: MOSAIKS from the dock, embed_raster from the toolbox."""
    yield from plugin_started(s)
    dock = yield from open_dock(s)
    banner = s.facts["banner"]
    s.check("torch" in banner and "works now" in banner,
            f"the banner should list torch as missing and say MOSAIKS works now: {banner!r}")
    s.check(dock.embed.ui.cmbModel.currentText() == "mosaiks", f"default model {dock.embed.ui.cmbModel.currentText()!r}")
    layer = yield from load_sample_and_zoom(s, 600)
    region_from_map_extent(s, dock)
    yield from run_dock(s, dock, "mosaiks", 600)
    c = layer.extent().center()
    out = Path(s.cfg["out_dir"]) / "embed_raster.tif"
    yield from run_processing_dialog(s, "rs_embed:embed_raster", {
        "INPUT": layer, "MODEL": "mosaiks", "BAND_MAP": "B4=3,B3=2,B2=1", "GRID_SCALE": 100,
        "EXTENT": f"{c.x() - 500},{c.x() + 500},{c.y() - 500},{c.y() + 500} [{layer.crs().authid()}]",
        "OUTPUT": str(out)}, 600)
    s.check(out.exists(), f"{out} was not written")


def install_from_repository(s):
    s.step("install the plugin from the custom repository (Plugin Manager)")
    yield Until(lambda: iface.mainWindow().isVisible(), 180, "QGIS's main window")
    import pyplugin_installer
    from pyplugin_installer.installer_data import plugins, repositories

    installer = pyplugin_installer.instance()
    installer.fetchAvailablePlugins(reloadMode=True)  # what "Reload all repositories" does
    s.fact("repositories", {k: {"url": v["url"], "state": v["state"], "error": v["error"]}
                            for k, v in repositories.all().items()})
    found = plugins.all().get(PLUGIN)
    s.check(found is not None, f"{PLUGIN} is not listed by the repository: {s.facts['repositories']}")
    s.fact("repository_plugin", {k: found[k] for k in ("name", "version_available", "download_url", "status",
                                                        "status_exp", "experimental")})
    # an experimental plugin installs with "Install Experimental Plugin" (stable=False): the
    # zip is downloaded, unpacked into the profile, loaded and started
    installer.installPlugin(PLUGIN, quiet=True, stable=not found["experimental"])
    s.check(QgsSettings().value(f"PythonPlugins/{PLUGIN}", False, type=bool), "the plugin is not enabled")


def optional_packages(s):
    """The plugin's installer adds torch into its folder; a torch model then runs on random weights."""
    if s.cfg.get("install_from_repository"):
        yield from install_from_repository(s)
    yield from plugin_started(s)
    dock = yield from open_dock(s)
    model = s.cfg["torch_model"]
    e = dock.embed.ui
    s.step(f"choose {model}: it needs torch, which the banner offers to install")
    e.cmbModel.setCurrentText(model)
    s.check(e.cmbModel.currentText() == model, f"{model} is not in the model list")
    banner = e.lblDeps.text()
    s.fact("banner_before", banner)
    s.check(e.lblDeps.isVisible() and "torch" in banner, f"the banner does not offer torch: {banner!r}")
    s.check(not e.btnRun.isEnabled(), "Run is enabled although torch is missing")

    s.step("install the model's packages with the plugin's installer")
    e.btnInstallDeps.click()
    dlg = sys.modules[f"{PLUGIN}.gui.install_dialog"].current()
    s.check(dlg is not None and dlg.isVisible(), "the installer window did not open")
    s.check(dlg.selected() == ["torch"], f"the installer ticked {dlg.selected()}, expected torch")
    s.fact("installer_header", dlg.header.text())
    dlg.btn_install.click()
    yield Until(lambda: dlg.state != "running", s.cfg["install_timeout_s"], "the installer")
    log_text = dlg.log_view.toPlainText()
    s.fact("installer_log", log_text[-6000:])
    s.fact("installer_status", dlg.status.text())
    s.check(dlg.state == "done", f"the installer ended {dlg.state}: {dlg.status.text()}\n{log_text[-3000:]}")
    s.fact("installed", dlg.plan.install)
    dlg.close()
    s.check("torch" not in e.lblDeps.text(), f"the banner still lists torch: {e.lblDeps.text()!r}")

    e.chkRandomWeights.setChecked(True)
    yield from load_sample_and_zoom(s, 300)
    region_from_map_extent(s, dock)
    yield from run_dock(s, dock, model, 900)
    meta = dock.last_result.data["meta"]
    s.check(meta.get("random_weights") is True, f"the result does not say it came from random weights: {meta}")
    torch = sys.modules.get("torch")
    target = Path(QgsApplication.qgisSettingsDirPath()) / "python" / "rs_embed_qgis_deps"
    s.check(torch is not None and Path(torch.__file__).resolve().is_relative_to(target.resolve()),
            f"torch was imported from {getattr(torch, '__file__', None)}, not from {target}")
    s.fact("torch", {"version": torch.__version__, "file": torch.__file__})


SCENARIOS = {"stock": stock_qgis, "optional_packages": optional_packages}
_cfg = json.loads(Path(os.environ["RS_EMBED_DESKTOP_CONFIG"]).read_text(encoding="utf-8"))
rs_embed_desktop_session = Session(_cfg)  # a global: QGIS keeps this file's namespace alive
rs_embed_desktop_session.run(SCENARIOS[_cfg["scenario"]])
