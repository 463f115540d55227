"""Load, run and unload the plugin, exit QGIS, leave Python: exit code 0 (issue 17).

The session runs in a subprocess (``qgis_exit_job.py``) because what is tested is the
process's own end: a Qt object the plugin left for Python to delete after ``exitQgis()``
crashes QGIS there (a segfault, exit code -11), after every assertion has passed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

JOB = Path(__file__).with_name("qgis_exit_job.py")


def test_a_whole_session_exits_cleanly(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RS_EMBED_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, str(JOB), str(tmp_path / "out")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, f"exit code {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    assert "left for Python to delete after exitQgis(): []" in r.stdout, r.stdout
    assert list((tmp_path / "out").glob("*.tif")), "the session's runs wrote nothing"
