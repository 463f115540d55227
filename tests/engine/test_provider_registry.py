"""The provider registry: backends by name, imported when used, with availability and the
reason when a backend cannot be used; a new backend is one module + one register line."""
import copy

import numpy as np
import pytest

from rs_embed_qgis.engine import OutputSpec, PointBuffer, ProviderError, get_embedding
from rs_embed_qgis.engine import providers as R
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.providers.base import Patch, Provider


@pytest.fixture
def registry(monkeypatch):
    """Backends registered by a test are gone after it."""
    for name in ("_entries", "_classes", "_instances"):
        monkeypatch.setattr(R, name, copy.copy(getattr(R, name)))
    return R


class ConstantProvider(Provider):
    """A backend made up for the test: every band of every pixel is ``value``."""

    name = "constant"

    def __init__(self, value: float = 1000.0) -> None:
        self.value = float(value)

    def fetch(self, spatial, temporal, sensor, *, frames=None):
        spatial, sensor, grid = self.checked(spatial, sensor)
        data = np.full((frames or 1, len(sensor.bands), grid.height, grid.width), self.value, np.float32)
        return Patch(data, sensor.bands, grid, [{"mid": "2022-07-15"}] * (frames or 1), sensor=sensor,
                     temporal=temporal, backend=self.name)


def test_builtin_backends_are_listed_with_their_availability():
    infos = {p.name: p for p in R.list_providers()}
    assert list(R.provider_names())[:2] == ["local", "gee"]
    assert infos["local"].available and infos["local"].error is None and infos["local"].requires == ()
    assert infos["gee"].requires == ("ee",) and infos["gee"].available  # earthengine-api is installed here
    assert all(p.description for p in infos.values())


def test_unknown_backend_names_the_choices():
    with pytest.raises(ProviderError) as e:
        R.get_provider("s3")
    assert "'s3'" in str(e.value) and "'local'" in str(e.value) and "'gee'" in str(e.value)


def test_one_cached_instance_per_backend_and_options(sample_dir):
    a = R.get_provider("local", {"root": str(sample_dir)})
    assert R.get_provider(" LOCAL ", {"root": str(sample_dir)}) is a
    assert R.get_provider("local") is not a


def test_a_backend_whose_import_fails_is_listed_with_its_error_and_named_when_used(registry, tmp_path,
                                                                                      monkeypatch):
    (tmp_path / "rs_embed_broken_backend.py").write_text(
        "raise ImportError('libfoo.so.3: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.register_provider("broken", "rs_embed_broken_backend:BrokenProvider")
    info = {p.name: p for p in registry.list_providers()}["broken"]
    assert not info.available and "ImportError" in info.error and "libfoo" in info.error
    with pytest.raises(ProviderError) as e:
        registry.get_provider("broken")
    assert "'broken'" in str(e.value) and "libfoo" in str(e.value)
    # the library gets installed: the next use imports it again, and the error is gone
    (tmp_path / "rs_embed_broken_backend.py").write_text(
        "from rs_embed_qgis.engine.providers.local import LocalProvider as BrokenProvider  # noqa: F401\n")
    import importlib

    importlib.invalidate_caches()
    assert registry.get_provider("broken").name == "local"
    assert {p.name: p for p in registry.list_providers()}["broken"].available


def test_a_backend_needing_a_missing_module_says_what_to_install(registry):
    registry.register_provider("needs_x", f"{R.__name__}.local:LocalProvider",
                               requires=("rs_embed_no_such_module",), install="pip install no-such-module")
    info = {p.name: p for p in registry.list_providers()}["needs_x"]
    assert not info.available and "rs_embed_no_such_module" in info.error and "pip install" in info.error
    with pytest.raises(ProviderError, match="'needs_x' needs rs_embed_no_such_module"):
        registry.get_provider("needs_x")


def test_a_new_backend_is_one_class_and_one_register_line(registry, summer):
    registry.register_provider("constant", ConstantProvider, description="constant pixels (test)")
    roi = PointBuffer(9.02, 47.84, 200)
    emb = get_embedding("mosaiks", spatial=roi, temporal=summer, output=OutputSpec.grid(scale_m=40),
                        backend="constant", provider_options={"value": 1200}, model_options={"num_features": 16})
    assert emb.meta["backend"] == "constant" and emb.meta["input"]["backend"] == "constant"
    assert emb.meta["crs"] == roi_grid(roi, 10).crs
    assert np.allclose(emb.array, emb.array[:, :1, :1])  # constant input: the same vector in every cell
    assert registry.get_provider("constant", {"value": 1200}).value == 1200.0
