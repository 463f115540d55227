"""Engine tests run in a process where ``qgis`` cannot be imported (scripts/run_tests.sh
sets RS_EMBED_BLOCK_QGIS=1): the engine must not need QGIS."""
from __future__ import annotations

import importlib.abc
import os
import sys


class _BlockQgis(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "qgis" or fullname.startswith("qgis."):
            raise ImportError(f"qgis is blocked in engine tests (tried to import {fullname!r})")
        return None


if os.environ.get("RS_EMBED_BLOCK_QGIS") == "1":
    sys.meta_path.insert(0, _BlockQgis())

# Earth Engine tests: the loopback EE REST server and its fixtures (tests/engine/ee_test_server.py)
try:
    from ee_test_server import ee_credentials, ee_env, ee_server, gee_options, make_gee  # noqa: F401 - fixtures
except ImportError:  # earthengine-api not installed: the gee tests are skipped by their own import
    pass


import pytest  # noqa: E402


@pytest.fixture
def anysat_env(monkeypatch):
    """No AnySat knobs from the environment, offline hub, one torch thread (tiny models)."""
    from anysat_util import A

    from rs_embed_qgis.engine import api

    for var in [v for _, v, _, _ in A.KNOBS.values() if v] + ["RS_EMBED_ANYSAT_CKPT"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    api.clear_caches()
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and robust on a busy machine
    yield
    torch.set_num_threads(n)
    api.clear_caches()


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest single-threaded; on a loaded 2-core machine threads only contend."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
