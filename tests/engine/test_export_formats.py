"""The export format registry: the built-in formats with their facts, and a new format - one
module plus one ``register_format`` line - exported with ``export_batch`` and read back with
``load_export`` like the built-in ones, without touching the export code."""
from __future__ import annotations

import copy
import errno
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rs_embed_qgis.engine import OutputSpec, SpecError
from rs_embed_qgis.engine.errors import OutputError
from rs_embed_qgis.engine.export import FORMATS, load_export
from rs_embed_qgis.engine.export import formats as F
from rs_embed_qgis.engine.export.formats import VectorFormat
from rs_embed_qgis.engine.export.writers import EXT
from rs_embed_qgis.engine.io import atomic_path
from rs_embed_qgis.engine.names import sanitize_key

sys.path.insert(0, str(Path(__file__).parent))
import export_job  # noqa: E402

MODELS = ["mosaiks", "mosaiks_nir"]


@pytest.fixture(autouse=True, scope="module")
def _second_model():
    export_job.register_second_model()
    yield


@pytest.fixture
def registry(monkeypatch):
    """Formats registered by a test are gone after it."""
    for name in ("_entries", "_formats", "_classes"):
        monkeypatch.setattr(F, name, copy.copy(getattr(F, name)))
    return F


class JsonLinesFormat(VectorFormat):
    """A format made up for the test: one JSON object per ROI and line, ``embedding__<model>``
    a list of numbers (null where the model failed). Pooled vectors only (``VectorFormat``);
    the inputs go to the side ``<stem>.inputs.npz`` the export writes for such formats."""

    name = "jsonl"
    ext = ".jsonl"
    description = "JSON lines, one ROI per line"

    def write_rows(self, dst, rows, models, dims, file_meta):
        lines = [json.dumps({"name": r["name"], "index": r["index"], "status": r["status"],
                             **{f"embedding__{sanitize_key(m)}": None if r["emb"].get(m) is None
                                else np.asarray(r["emb"][m], np.float32).tolist() for m in models}})
                 for r in rows]

        def verify(p: Path) -> None:  # read back before the file gets its name
            if len(p.read_text().splitlines()) != len(rows):
                raise OutputError(errno.EIO, f"{str(dst)!r} reads back with the wrong number of lines")

        with atomic_path(dst, verify=verify) as tmp:
            tmp.write_text("\n".join(lines) + "\n")

    def read_rows(self, path):
        rows = sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["index"])
        keys = [k for k in rows[0] if k.startswith("embedding__")]
        return {k: [None if r[k] is None else np.asarray(r[k], np.float32) for r in rows] for k in keys}


def test_builtin_formats_are_listed_with_their_facts():
    infos = {f.name: f for f in F.list_formats()}
    assert tuple(FORMATS) == F.format_names() == ("npz", "geotiff", "netcdf", "zarr", "geoparquet", "gpkg")
    assert list(infos) == list(FORMATS) and all(f.available and f.error is None for f in infos.values())
    assert dict(EXT) == {"npz": ".npz", "geotiff": ".tif", "netcdf": ".nc", "zarr": ".zarr",
                         "geoparquet": ".parquet", "gpkg": ".gpkg"}
    assert infos["geotiff"].layouts == ("per_item",) and infos["geotiff"].outputs == ("grid",)
    assert infos["gpkg"].outputs == ("pooled",) and infos["gpkg"].saves_inputs is False
    assert infos["zarr"].requires == ("xarray", "zarr") and "zarr<3" in infos["zarr"].install
    assert all(f.description for f in infos.values())
    assert F.get_format(" NC ").name == "netcdf" and F.get_format("tif") is F.get_format("geotiff")
    with pytest.raises(SpecError, match="'xlsx'"):
        F.get_format("xlsx")


@pytest.mark.parametrize("layout", ["per_item", "combined"])
def test_a_format_registered_at_run_time_round_trips(registry, tmp_path, layout):
    registry.register_format("jsonl", JsonLinesFormat)
    assert "jsonl" in FORMATS and EXT["jsonl"] == ".jsonl"

    ref = export_job.run(str(tmp_path / "ref"), "per_item", 3, show_progress=False, resume=False)
    got = export_job.run(str(tmp_path / "x"), layout, 3, format="jsonl", show_progress=False, resume=False)

    if layout == "per_item":
        target = tmp_path / "x"
        assert sorted(p.name for p in target.glob("roi_000.*")) == [
            "roi_000.inputs.npz", "roi_000.json", "roi_000.jsonl"]
        line = json.loads((target / "roi_000.jsonl").read_text())
        assert line["name"] == "roi_000" and len(line["embedding__mosaiks"]) == 16
    else:
        target = Path(got["target"])
        assert target.name == "x.jsonl" and len(target.read_text().splitlines()) == 3
        assert (tmp_path / "x.inputs.npz").exists() and got["keys"]["embedding__mosaiks"] == {
            "column": "embedding__mosaiks"}
    back = load_export(str(target))
    assert back["format"] == "jsonl" and back.ok_models == MODELS
    for i, item in enumerate(ref):
        with np.load(tmp_path / "ref" / f"{item['name']}.npz") as z:
            for m in MODELS:
                assert np.array_equal(back["embeddings"][m][i], z[f"embedding__{m}"]), (m, i)
                assert np.array_equal(back["inputs"][m][i], z[f"input_chw__{m}"]), (m, i)

    if layout == "per_item":  # resume knows the new format's files like any other
        again = export_job.run(str(target), layout, 3, format="jsonl", show_progress=False, resume=True)
        assert [m["created_at"] for m in again] == [m["created_at"] for m in got]
        assert json.loads((target / "export_run.json").read_text())["summary"]["resumed"] == 3


def test_a_new_format_is_checked_by_its_facts_before_any_work(registry, tmp_path):
    registry.register_format("jsonl", JsonLinesFormat)
    with pytest.raises(SpecError, match=r"format='jsonl' stores pooled vectors.*'geotiff'"):
        export_job.run(str(tmp_path / "g"), "per_item", 2, format="JSONL", output=OutputSpec.grid(scale_m=60))
    with pytest.raises(SpecError, match=r"format='geotiff' writes grid embeddings.*'jsonl'"):
        export_job.run(str(tmp_path / "g"), "per_item", 2, format="geotiff")

    class CombinedOnly(JsonLinesFormat):
        name = "jsonl"
        per_item = False

    registry.register_format("jsonl", CombinedOnly)
    with pytest.raises(SpecError, match=r"format='jsonl' writes one file for every ROI; use layout='combined'"):
        export_job.run(str(tmp_path / "c"), "per_item", 2, format="jsonl")

    class NeedsLibrary(JsonLinesFormat):
        name = "jsonl"
        requires = ("rs_embed_no_such_module",)
        install = "pip install rs-embed-no-such-module"

    registry.register_format("jsonl", NeedsLibrary)
    with pytest.raises(SpecError, match="needs rs_embed_no_such_module: pip install rs-embed-no-such-module"):
        export_job.run(str(tmp_path / "n"), "per_item", 2, format="jsonl")
    info = {f.name: f for f in F.list_formats()}["jsonl"]
    assert not info.available and "rs_embed_no_such_module" in info.error
    assert not any((tmp_path / d).exists() for d in ("g", "c", "n"))


def test_a_format_whose_module_does_not_import_breaks_only_itself(registry, tmp_path, monkeypatch):
    (tmp_path / "rs_embed_broken_format.py").write_text(
        "raise ImportError('libfoo.so.3: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.register_format("broken", "rs_embed_broken_format:BrokenFormat")
    assert "rs_embed_broken_format" not in sys.modules  # registering imports nothing

    info = {f.name: f for f in F.list_formats()}
    assert not info["broken"].available and "libfoo.so.3" in info["broken"].error
    assert all(info[n].available for n in ("npz", "geotiff", "netcdf", "zarr", "geoparquet", "gpkg"))
    with pytest.raises(SpecError, match=r"format 'broken' could not be imported.*libfoo"):
        export_job.run(str(tmp_path / "b"), "per_item", 2, format="broken")
    assert F.get_format("nc").name == "netcdf"  # aliases still resolve past the broken one
    assert not (tmp_path / "b").exists()


def test_an_export_in_a_format_not_registered_here_says_so(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "export_run.json").write_text(json.dumps({"format": "jsonl", "names": [], "models": []}))
    with pytest.raises(SpecError, match=r"written in format 'jsonl', which cannot be read here.*register_format"):
        load_export(str(tmp_path / "x"))


def test_a_registered_target_must_be_a_format_of_that_name(registry):
    with pytest.raises(SpecError, match="package.module:Class"):
        registry.register_format("jsonl", "no_colon_here")
    registry.register_format("lines", JsonLinesFormat)
    with pytest.raises(SpecError, match=r"not a Format named 'lines'.*'jsonl'"):
        registry.get_format("lines")


@pytest.mark.slow  # ~20 s: two worker processes start and import the engine
@pytest.mark.timeout(120)
def test_dask_worker_processes_learn_a_format_registered_at_run_time(registry, tmp_path):
    from distributed import LocalCluster

    registry.register_format("jsonl", JsonLinesFormat)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # workers know only the built-in formats
        res = export_job.run(str(tmp_path / "dk"), "per_item", 4, format="jsonl", executor="dask",
                             scheduler_address=cluster.scheduler_address, show_progress=False)
    assert [m["status"] for m in res] == ["ok"] * 4
    assert sorted(p.name for p in (tmp_path / "dk").glob("*.jsonl")) == [f"roi_{i:03d}.jsonl" for i in range(4)]
    export_job.run(str(tmp_path / "ref"), "per_item", 4, format="jsonl", show_progress=False)
    a, b = load_export(str(tmp_path / "dk")), load_export(str(tmp_path / "ref"))
    for m in MODELS:
        assert np.array_equal(a["embeddings"][m], b["embeddings"][m])
