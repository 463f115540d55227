"""``format="npz"``: numpy's uncompressed zip of named arrays, rs-embed's own format. Also the
side file of formats that hold no inputs (``<stem>.inputs.npz``) and the per-ROI shards of a
combined export."""
from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import numpy as np

from ...errors import OutputError
from ...io import atomic_path, check_not_empty
from .base import ArrayFormat


def write_npz(dst: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz``, atomically; its member list is read back first."""
    names = sorted(f"{k}.npy" for k in arrays)

    def verify(p: Path) -> None:
        check_not_empty(p)
        try:
            with zipfile.ZipFile(p) as z:  # the member list is the zip's last part: written last
                got = sorted(z.namelist())
        except (OSError, zipfile.BadZipFile) as exc:
            raise OutputError(errno.EIO, f"{str(dst)!r} does not read back after writing: {exc}") from exc
        if got != names:
            raise OutputError(errno.EIO, f"{str(dst)!r} reads back with members {got}, written {names}")

    with atomic_path(dst, suffix=".npz", verify=verify) as tmp:
        np.savez(tmp, **arrays)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name (never unpickled)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files}


class NpzFormat(ArrayFormat):
    name = "npz"
    ext = ".npz"
    description = ("numpy arrays, as rs-embed writes them: embedding__<model>, input_chw__<model> per ROI; "
                   "embeddings__<model> (N, ...) combined")

    def write_arrays(self, dst, arrays, manifest):
        write_npz(dst, arrays)

    def write_stacked(self, dst, arrays, kmap, items, manifest):
        write_npz(dst, arrays)

    def read_arrays(self, path):
        return read_npz(path)
