"""The STAC backend (``backend="stac"``) through the real pystac-client and GDAL /vsicurl/,
against the loopback STAC API + HTTP range server serving Earth Search's layout
(items and COGs built from the bundled sample).

The local backend reads the same files from disk (the item JSON with its downloaded
COGs), so both must give the same pixels.
"""
import sys

import numpy as np
import pytest
import s2_products as P
from stac_test_server import STACTestServer

from rs_embed_qgis.engine import (
    OutputSpec,
    PointBuffer,
    ProviderError,
    SensorSpec,
    SpecError,
    TemporalSpec,
    get_embedding,
)
from rs_embed_qgis.engine.providers.local import LocalProvider

pytest.importorskip("pystac_client")

S2 = "COPERNICUS/S2_SR_HARMONIZED"
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
ROI = PointBuffer(9.02, 47.84, 300)
SENSOR = SensorSpec(S2, ("B4", "B3", "B2", "B8", "B5", "B11"))
DATES = ("20220624", "20220715", "20220809")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("earth_search")
    srv = STACTestServer(root).start()
    srv.add_items(P.write_earth_search(root, DATES, base_url=srv.base))
    yield srv
    srv.stop()


@pytest.fixture
def stac(server):
    """``stac(**options)`` -> a STACProvider on the loopback API (no disk cache, fast backoff);
    GDAL's in-memory /vsicurl/ cache is emptied so every test really reads over HTTP."""
    from osgeo import gdal

    from rs_embed_qgis.engine.providers.stac import STACProvider

    gdal.VSICurlClearCache()
    server.reset()

    def make(**kw):
        opts = dict(url=server.url, cache_dir=None, retry_backoff_s=0.01, max_retries=3, timeout=5)
        opts.update(kw)
        return STACProvider(**opts)

    yield make
    server.reset()


def test_equals_the_local_backend_on_the_same_files(stac, server):
    prov = stac()
    patch = prov.fetch(ROI, SUMMER, SENSOR)
    local = LocalProvider(root=str(server.root)).fetch(ROI, SUMMER, SENSOR)
    np.testing.assert_array_equal(patch.data, local.data)
    f = patch.frames[0]
    assert patch.backend == "stac" and f["scenes"] == [P.earth_search_id(d) for d in DATES]
    assert "STAC raster scale 0.0001, offset -0.1" in f["radiometry"][0]
    assert patch.meta["stac_api"] == server.url and patch.meta["input_sanity"]["valid_fraction"] > 0.9


def test_search_and_range_reads_as_a_stac_client_does(stac, server):
    small = PointBuffer(9.005, 47.85, 100)  # a corner: a few COG tiles, not whole files
    stac().fetch(small, SUMMER, SensorSpec(S2, ("B4",)))
    (search,) = server.requests("/v1/search")
    import json

    body = json.loads(search["body"])
    assert body["collections"] == ["sentinel-2-l2a"] and body["query"] == {"eo:cloud_cover": {"lte": 30}}
    assert body["datetime"] == "2022-06-01T00:00:00Z/2022-08-31T23:59:59.999Z"
    lon0, lat0, lon1, lat1 = body["bbox"]
    assert lon0 < 9.005 < lon1 and lat0 < 47.85 < lat1
    reads = [r for r in server.requests("B04.tif") if r["method"] == "GET"]
    assert reads and all(r["range"] for r in reads)  # byte ranges only
    fetched = sum(int(r["range"].split("-")[1]) - int(r["range"].split("=")[1].split("-")[0]) + 1 for r in reads)
    size = sum((P.earth_search_dir(server.root, d) / "B04.tif").stat().st_size for d in DATES)
    assert fetched < size


def test_transient_faults_are_retried(stac, server):
    server.inject("20220715_0_L2A/B04.tif", status=500, times=2)
    server.inject("20220715_0_L2A/B03.tif", truncate=True, times=3)
    server.inject("/v1/search", status=503, times=1)
    prov = stac()
    patch = prov.fetch(ROI, SUMMER, SENSOR)
    np.testing.assert_array_equal(patch.data, LocalProvider(root=str(server.root)).fetch(ROI, SUMMER, SENSOR).data)
    assert prov.stats["retries"] >= 2


@pytest.mark.parametrize("fault,match", [
    (dict(status=404, times=99), r"reading asset of 'S2B_32TNT_20220715_0_L2A' at http://127\.0\.0\.1:\d+/"
                                 r"sentinel-s2-l2a-cogs/.*/B04\.tif failed \(HTTP 404"),
    (dict(status=500, times=99), r"B04\.tif failed after 3 attempts \(HTTP 500"),
    (dict(slow=2.5, times=99), r"B04\.tif failed after 3 attempts .*timed out"),
    (dict(truncate=True, times=99), r"B04\.tif failed after 3 attempts"),
])
def test_persistent_faults_are_reported_with_url_and_status(stac, server, fault, match):
    server.inject("20220715_0_L2A/B04.tif", **fault)
    prov = stac(timeout=1, max_retries=2)
    with pytest.raises(ProviderError, match=match):
        prov.fetch(ROI, SUMMER, SENSOR)
    assert prov.stats["retries"] == (0 if fault.get("status") == 404 else 2)  # a 404 is not retried


def test_search_failures_are_reported(stac, server):
    server.inject("/v1/search", status=500, times=99)
    with pytest.raises(ProviderError, match=r"searching 'sentinel-2-l2a' at http://127.*/v1/search failed after "
                                            r"4 attempts \(HTTP 500"):
        stac().fetch(ROI, SUMMER, SENSOR)
    server.reset()
    with pytest.raises(ProviderError, match=r"no item of 'sentinel-2-l2a' at .* in \[2021-06-01, 2021-09-01\)"):
        stac().fetch(ROI, TemporalSpec.range("2021-06-01", "2021-09-01"), SENSOR)
    with pytest.raises(SpecError, match="needs a temporal window"):
        stac().fetch(ROI, None, SENSOR)


def test_disk_cache_reads_nothing_again(stac, server, tmp_path):
    first = stac(cache_dir=str(tmp_path)).fetch(ROI, SUMMER, SENSOR)
    n = len(server.requests("/sentinel-s2-l2a-cogs/"))
    again = stac(cache_dir=str(tmp_path))
    second = again.fetch(ROI, SUMMER, SENSOR)
    np.testing.assert_array_equal(first.data, second.data)
    assert len(server.requests("/sentinel-s2-l2a-cogs/")) == n and again.stats["cache_hits"] == 3
    assert second.frames[0]["radiometry"] == first.frames[0]["radiometry"]


def test_a_batch_searches_once_and_reads_scene_major(stac, server):
    rois = [PointBuffer(9.006 + 0.004 * (i % 4), 47.832 + 0.005 * (i // 4), 80) for i in range(8)]
    prov = stac()
    patches = prov.fetch_many(rois, SUMMER, SENSOR, num_workers=2)
    assert prov.stats["searches"] == 1 and len(server.requests("/v1/search")) == 1
    local = LocalProvider(root=str(server.root))
    for r, p in zip(rois, patches, strict=True):
        np.testing.assert_array_equal(p.data, local.fetch(r, SUMMER, SENSOR).data)


def test_api_backend_stac(stac, server):
    stac()  # clears the caches of the loopback server
    opts = dict(url=server.url, cache_dir=None, retry_backoff_s=0.01)
    a = get_embedding("mosaiks", spatial=ROI, temporal=SUMMER, output=OutputSpec.pooled(), backend="stac",
                      provider_options=opts, model_options={"num_features": 16})
    b = get_embedding("mosaiks", spatial=ROI, temporal=SUMMER, output=OutputSpec.pooled(), backend="local",
                      provider_options={"root": str(server.root)}, model_options={"num_features": 16})
    np.testing.assert_allclose(a.array, b.array, rtol=1e-5)
    assert a.meta["backend"] == "stac" and a.meta["input"]["stac_api"] == server.url


def test_missing_packages_are_named(monkeypatch):
    from rs_embed_qgis.engine.providers.stac import STACProvider

    monkeypatch.setitem(sys.modules, "pystac_client", None)
    with pytest.raises(ProviderError, match=r"needs the package pystac-client \(pip install pystac-client\)"):
        STACProvider()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "planetary_computer", None)
    with pytest.raises(ProviderError, match=r"signed: .*needs the package planetary-computer"):
        STACProvider(url="planetary-computer")
    assert STACProvider(url="earth-search").sign is False  # Earth Search's COGs are public


def test_planetary_computer_items_are_signed(monkeypatch):
    pytest.importorskip("planetary_computer")
    from rs_embed_qgis.engine.providers.stac import PLANETARY_COMPUTER, STACProvider

    prov = STACProvider(url="planetary-computer", cache_dir=None)
    assert prov.url == PLANETARY_COMPUTER and prov.sign is True
    with pytest.raises(SpecError, match="url must be an http"):
        STACProvider(url="ftp://example.org/stac")


def test_faults_are_reported_alike_through_qgis_gdal(stac, server, monkeypatch):
    """geoio's gdal backend (QGIS) says less than rasterio: the status is still named."""
    monkeypatch.setenv("RS_EMBED_IO_BACKEND", "gdal")
    server.inject("20220715_0_L2A/B04.tif", status=404, times=99)
    with pytest.raises(ProviderError, match=r"B04\.tif failed \(HTTP 404"):
        stac().fetch(ROI, SUMMER, SENSOR)
    server.reset()
    server.inject("20220715_0_L2A/B04.tif", status=503, times=2)
    prov = stac()
    patch = prov.fetch(ROI, SUMMER, SENSOR)
    np.testing.assert_array_equal(patch.data, LocalProvider(root=str(server.root)).fetch(ROI, SUMMER, SENSOR).data)
    assert prov.stats["retries"] >= 1
