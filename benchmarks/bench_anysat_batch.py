"""Prints AnySat throughput: one batched call vs one call per ROI (same inputs, same model).

    python benchmarks/bench_anysat_batch.py [n_rois] [model_size] [torch_threads] [batch_size]

Random weights (pretrained=False): speed does not depend on the weights.
"""
from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))  # the working tree

from rs_embed_qgis.engine import api  # noqa: E402
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    if len(sys.argv) > 3:
        import torch

        torch.set_num_threads(int(sys.argv[3]))
    size = sys.argv[2] if len(sys.argv) > 2 else "tiny"
    rng = np.random.RandomState(0)
    arrays = [rng.uniform(0, 4000, (8, 10, 24, 24)).astype("f4") for _ in range(n)]
    rois = [PointBuffer(lon=9.0 + 0.001 * i, lat=47.84, buffer_m=120) for i in range(n)]
    t = TemporalSpec.range("2022-01-01", "2023-01-01")
    opts = {"model_size": size, "pretrained": False}
    if len(sys.argv) > 4:
        opts["batch_size"] = int(sys.argv[4])
    kw = dict(temporal=t, backend="local", device="cpu", output=OutputSpec.pooled(), model_options=opts)
    api.get_embedding("anysat", spatial=rois[0], input_chw=arrays[0], **kw)  # build + warm up
    t0 = time.perf_counter()
    for r, a in zip(rois, arrays, strict=True):
        api.get_embedding("anysat", spatial=r, input_chw=a, **kw)
    loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    api.get_embeddings_batch("anysat", spatials=rois, input_chws=arrays, **kw)
    batch = time.perf_counter() - t0
    print(f"anysat {size}: {n} ROIs, T=8, 24x24 px, patch 10 m")
    print(f"  one call per ROI : {loop:.2f} s ({loop / n * 1000:.1f} ms/ROI)")
    print(f"  batched          : {batch:.2f} s ({batch / n * 1000:.1f} ms/ROI)")
    print(f"  speed-up         : {loop / batch:.2f}x")


if __name__ == "__main__":
    main()
