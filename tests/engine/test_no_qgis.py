"""The engine imports and runs where qgis cannot be imported."""
import os
import subprocess
import sys

import pytest


def test_engine_imports_without_qgis():
    code = (
        "import sys, importlib.abc\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, n, p=None, t=None):\n"
        "        if n == 'qgis' or n.startswith('qgis.'): raise ImportError(n)\n"
        "sys.meta_path.insert(0, B())\n"
        "import rs_embed_qgis.engine as e\n"
        "from rs_embed_qgis.engine import api, catalog, io, specs\n"
        "from rs_embed_qgis.engine.providers import local\n"
        "from rs_embed_qgis.engine.embedders import mosaiks\n"
        "assert not any(m == 'qgis' or m.startswith('qgis.') for m in sys.modules)\n"
        "print(len(e.list_models()))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 1


@pytest.mark.skipif(os.environ.get("RS_EMBED_BLOCK_QGIS") != "1", reason="only under the qgis block")
def test_this_process_cannot_import_qgis():
    with pytest.raises(ImportError):
        import qgis.core  # noqa: F401
