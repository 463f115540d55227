"""Translations: one ``tr()`` for the plugin's user-visible strings, and the ``.qm`` for the
user's locale.

Every string the GUI and the Processing algorithms show goes through :func:`tr` (context
``RsEmbed``) or, in ``.ui`` forms, through Qt Designer's own ``translate(<form class>, ...)``.
``scripts/update_translations.py`` collects both into ``resources/i18n/rs_embed_qgis.ts``;
a translator's ``rs_embed_qgis_<lang>.ts``, compiled to ``rs_embed_qgis_<lang>.qm`` beside it,
is loaded at plugin start for QGIS's user locale.
"""
from __future__ import annotations

import logging
from pathlib import Path

CONTEXT = "RsEmbed"
_log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """``text`` in the user's language (itself when there is no translation)."""
    from qgis.PyQt.QtCore import QCoreApplication

    return QCoreApplication.translate(CONTEXT, text)


def tr_noop(text: str) -> str:
    """Marks ``text`` (in a table, translated later with :func:`tr`) for the ``.ts`` file."""
    return text


def i18n_dir() -> Path:
    """``resources/i18n`` of the plugin (repository layout or installed plugin folder)."""
    from .gui import find_resource

    return Path(find_resource("resources", "i18n") or Path(__file__).resolve().parent / "resources" / "i18n")


def user_locale() -> str:
    """QGIS's user locale (``de``, ``pt_BR``, ...), from ``locale/userLocale``."""
    from qgis.core import QgsSettings
    from qgis.PyQt.QtCore import QLocale

    value = QgsSettings().value("locale/userLocale", "") or QLocale.system().name()
    return str(value)


def qm_file(locale: str, folder: Path | None = None) -> Path | None:
    """The compiled translation for ``locale`` (``pt_BR`` falls back to ``pt``), if shipped."""
    folder = folder or i18n_dir()
    for code in dict.fromkeys((locale, locale.split("_")[0])):
        path = folder / f"rs_embed_qgis_{code}.qm"
        if code and path.is_file():
            return path
    return None


def install_translator(locale: str | None = None, folder: Path | None = None):
    """Install the translator for ``locale`` (default: QGIS's) into the application; returns it
    (keep it, and hand it to :func:`remove_translator` on unload), or None when there is no
    translation for that language."""
    from qgis.PyQt.QtCore import QCoreApplication, QTranslator

    path = qm_file(locale or user_locale(), folder)
    if path is None:
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        _log.warning("the translation %s could not be loaded", path)
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def remove_translator(translator) -> None:
    if translator is not None:
        from qgis.PyQt.QtCore import QCoreApplication

        QCoreApplication.removeTranslator(translator)
