"""Translations: the .ts source file is generated from the code and the forms and kept current,
and a translation a translator adds reaches the plugin's strings through the user's locale."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ._scripts import load

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "update_translations.py"


def _script():
    return load("update_translations")


def test_the_source_ts_file_is_current():
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_strings_come_from_tr_calls_and_from_the_forms():
    found = _script().collect()
    assert "Embed extent (grid raster)" in found["RsEmbed"]                    # a Processing algorithm
    assert "no region: draw one first" in found["RsEmbed"]                     # a dock message
    assert "S2x10NetS learned model (needs your weights)" in found["RsEmbed"]  # a table marked tr_noop
    assert "Similarity" in found["RsEmbedDockForm"] and "Inspect input" in found["RsEmbedEmbedTabForm"]
    assert "Earth Engine project" in found["RsEmbedSettingsForm"]
    # a style sheet is marked notr in the form, so translators never see it
    assert not [s for s in found["RsEmbedEmbedTabForm"] if s.startswith("QLabel {")]


def test_an_f_string_in_tr_is_refused(tmp_path, monkeypatch):
    mod = _script()
    bad = tmp_path / "bad.py"
    bad.write_text("from rs_embed_qgis.i18n import tr\nname = 'x'\nmsg = tr(f'hello {name}')\n")
    with pytest.raises(mod.ExtractError, match="f-string"):
        mod.strings_in_python(bad)


@pytest.mark.skipif(not (shutil.which("lrelease") or shutil.which("lrelease-qt5")), reason="needs Qt's lrelease")
def test_a_translation_reaches_the_plugin_for_the_users_locale(qgis_app, tmp_path):
    from qgis.PyQt.QtCore import QCoreApplication

    from rs_embed_qgis import i18n

    mod = _script()
    assert mod.main(["--out", str(tmp_path), "--lang", "de"]) == 0   # a translator starts German
    ts = tmp_path / "rs_embed_qgis_de.ts"
    tree = ET.parse(ts)
    wanted = {("RsEmbed", "Embed extent (grid raster)"): "Ausschnitt einbetten (Rasterraster)",
              ("RsEmbedDockForm", "Similarity"): "Ähnlichkeit"}
    for ctx in tree.getroot().iter("context"):
        for msg in ctx.iter("message"):
            key = (ctx.findtext("name"), msg.findtext("source"))
            if key in wanted:
                t = msg.find("translation")
                t.text = wanted[key]
                t.attrib.pop("type", None)
    tree.write(ts, encoding="utf-8", xml_declaration=True)
    assert mod.main(["--out", str(tmp_path), "--release"]) == 0      # kept on refresh, compiled to .qm
    assert mod.read_translations(ts)[("RsEmbedDockForm", "Similarity")][0] == "Ähnlichkeit"
    assert i18n.qm_file("de_AT", tmp_path) == tmp_path / "rs_embed_qgis_de.qm"  # de_AT falls back to de
    assert i18n.install_translator("fr", tmp_path) is None              # no French: English stays
    translator = i18n.install_translator("de_AT", tmp_path)
    try:
        assert i18n.tr("Embed extent (grid raster)") == "Ausschnitt einbetten (Rasterraster)"
        assert QCoreApplication.translate("RsEmbedDockForm", "Similarity") == "Ähnlichkeit"  # what uic asks
        assert i18n.tr("Run") == "Run"                                  # not translated yet: English
    finally:
        i18n.remove_translator(translator)
    assert i18n.tr("Embed extent (grid raster)") == "Embed extent (grid raster)"
