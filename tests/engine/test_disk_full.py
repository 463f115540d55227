"""A full disk during an export, for every output format: an error reaches the caller, the run
manifest says ``failed``, no file that does not read is left under a final name, and
``export_batch(resume=True)`` then completes with the same result as a clean run.

The full disk is real to the libraries: the job runs in a subprocess whose files cannot grow
past a limit (``RLIMIT_FSIZE``), so numpy, GDAL, HDF5, Arrow and SQLite each meet a failing
write (EFBIG) exactly where they would meet ENOSPC. The limit sits between the sizes of the
small JSON manifests and of the format's data file, so the data write is the one that fails.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rs_embed_qgis.engine.errors import OutputError
from rs_embed_qgis.engine.export import load_export

sys.path.insert(0, str(Path(__file__).parent))
import export_job  # noqa: E402
from disk_full_job import output  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("disk_full_job.py")

@pytest.fixture(autouse=True, scope="module")
def _second_model():
    export_job.register_second_model()
    yield


def _limited_run(out: Path, layout: str, fmt: str, mode: str, limit: int, save_inputs: bool = True) -> dict:
    r = subprocess.run([sys.executable, str(JOB), str(out), layout, fmt, mode, str(limit),
                        "1" if save_inputs else "0"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0 and lines, r.stdout + r.stderr
    return json.loads(lines[-1])


def _reads(p: Path) -> None:
    """Read a file completely, by format (raises if it is cut or corrupt)."""
    import xarray as xr

    from rs_embed_qgis.engine.export.formats.gpkg import read_gpkg
    from rs_embed_qgis.engine.geoio import open_raster

    if p.suffix == ".json":
        json.loads(p.read_text())
    elif p.suffix == ".npz":
        with np.load(p) as z:
            [z[k] for k in z.files]
    elif p.suffix == ".tif":
        with open_raster(p) as r:
            r.read()
    elif p.suffix == ".nc":
        with xr.open_dataset(p) as ds:
            ds.load()
    elif p.suffix == ".zarr":
        with xr.open_zarr(str(p)) as ds:
            ds.load()
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.read_table(p)
    elif p.suffix == ".gpkg":
        read_gpkg(p)
    else:
        raise AssertionError(f"unexpected file {p.name}")


def _every_final_file_reads(folder: Path) -> list[str]:
    names = []
    for p in sorted(folder.iterdir()):
        assert not p.name.startswith("."), f"temporary file left behind: {p.name}"
        _reads(p)
        names.append(p.name)
    return names


def _same_embeddings(a: dict, b: dict) -> None:
    assert a["names"] == b["names"]
    for m in export_job.OPTIONS:
        for x, y in zip(a["embeddings"][m], b["embeddings"][m], strict=True):  # per ROI (grids differ in size)
            np.testing.assert_array_equal(x, y)


CASES = [  # format, output mode, RLIMIT_FSIZE in bytes, the file whose write fails
    ("npz", "pooled", 12000, "roi_000.npz"),
    ("geotiff", "grid", 12000, "roi_000.mosaiks.tif"),
    ("netcdf", "grid", 12000, "roi_000.nc"),
    ("zarr", "grid", 11000, "roi_000.zarr"),
    ("geoparquet", "pooled", 12000, "roi_000.parquet"),
    ("gpkg", "pooled", 12000, "roi_000.gpkg"),
]


@pytest.mark.parametrize("fmt,mode,limit,target", CASES, ids=[c[0] for c in CASES])
def test_disk_full_per_format_then_resume(tmp_path, fmt, mode, limit, target):
    out = tmp_path / "out"
    res = _limited_run(out, "per_item", fmt, mode, limit)
    assert res["error"], "a failed write must reach the caller"
    assert target in res["error"] and res["type"] == "OutputError", res["error"]
    run = json.loads((out / "export_run.json").read_text())
    assert run["status"] == "failed" and target in run["error"]
    files = _every_final_file_reads(out)
    assert target not in files and "roi_000.json" not in files  # the item is not marked done

    export_job.run(str(out), "per_item", 2, format=fmt, output=output(mode), resume=True,
                   show_progress=False)
    assert json.loads((out / "export_run.json").read_text())["status"] == "complete"
    _every_final_file_reads(out)
    clean = tmp_path / "clean"
    export_job.run(str(clean), "per_item", 2, format=fmt, output=output(mode), show_progress=False)
    _same_embeddings(load_export(str(out)), load_export(str(clean)))


def test_disk_full_item_manifest(tmp_path):
    """Small data files, a bigger item manifest: the JSON write is the one that fails."""
    out = tmp_path / "out"
    res = _limited_run(out, "per_item", "npz", "pooled", 6000, save_inputs=False)
    assert res["type"] == "OutputError" and "roi_000.json" in res["error"]
    assert json.loads((out / "export_run.json").read_text())["status"] == "failed"
    files = _every_final_file_reads(out)
    assert "roi_000.json" not in files
    export_job.run(str(out), "per_item", 2, format="npz", output=output("pooled"), save_inputs=False,
                   resume=True, show_progress=False)
    assert json.loads((out / "export_run.json").read_text())["status"] == "complete"


def test_disk_full_combined_file(tmp_path):
    """The one combined file is assembled last: its failed write leaves the parts for resume."""
    out = tmp_path / "all.npz"
    res = _limited_run(out, "combined", "npz", "pooled", 30000)
    assert res["type"] == "OutputError" and "all.npz" in res["error"]
    assert not out.exists()
    man = json.loads(out.with_suffix(".json").read_text())
    assert man["status"] == "failed" and "all.npz" in man["error"]
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir())
    back = export_job.run(str(out), "combined", 2, format="npz", output=output("pooled"), resume=True,
                          show_progress=False)
    assert back["status"] == "complete" and out.exists()


def test_when_even_the_failed_manifest_cannot_be_written_the_error_names_both(tmp_path, monkeypatch):
    """A data write fails, then so does the run manifest's: the raised error names both."""
    from rs_embed_qgis.engine.export import batch
    from rs_embed_qgis.engine.export.formats import npz

    def full_disk(dst, arrays):
        raise OSError(errno.ENOSPC, "No space left on device (data)")

    real_write = batch.atomic_write_text

    def manifest_write(path, text):
        if '"status": "failed"' in text:
            raise OSError(errno.ENOSPC, "No space left on device (manifest)")
        return real_write(path, text)

    monkeypatch.setattr(npz, "write_npz", full_disk)  # the npz format's own write
    monkeypatch.setattr(batch, "atomic_write_text", manifest_write)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as ei:
        export_job.run(str(out), "per_item", 2, format="npz", executor="serial", show_progress=False)
    msg = str(ei.value)
    assert "(data)" in msg and "(manifest)" in msg and "export_run.json" in msg
    assert isinstance(ei.value.__cause__, OSError) and "(data)" in str(ei.value.__cause__)
    monkeypatch.undo()
    export_job.run(str(out), "per_item", 2, format="npz", resume=True, show_progress=False)
    assert json.loads((out / "export_run.json").read_text())["status"] == "complete"
