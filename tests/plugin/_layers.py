"""Small vector layers on the bundled sample (lon 9.005-9.035, lat 47.83-47.85) for the tests."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

POINTS_4326 = [(9.012, 47.836, "field A", 300.0), (9.025, 47.842, "field/B", 200.0),
               (9.030, 47.846, "field A", 250.0)]
# rectangles (lon/lat) written in EPSG:3857 to exercise reprojection
BOXES_4326 = [(9.006, 47.832, 9.016, 47.838, "north farm"), (9.020, 47.840, 9.034, 47.849, "lake")]


def to_3857(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)


def points_layer(crs: str = "EPSG:4326", extra: Iterable = ()):  # (lon, lat, name, buf)
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    lyr = QgsVectorLayer(f"Point?crs={crs}&field=label:string&field=buf:double", "pts", "memory")
    feats = []
    for lon, lat, name, buf in list(POINTS_4326) + list(extra):
        f = QgsFeature(lyr.fields())
        if lon is not None:
            x, y = (lon, lat) if crs == "EPSG:4326" else to_3857(lon, lat)
            f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        f.setAttributes([name, buf])
        feats.append(f)
    assert lyr.dataProvider().addFeatures(feats)
    return lyr


def boxes_layer(crs: str = "EPSG:3857", wkt_extra: Sequence[tuple[str, str]] = ()):
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    lyr = QgsVectorLayer(f"Polygon?crs={crs}&field=label:string", "boxes", "memory")
    feats = []
    for x0, y0, x1, y1, name in BOXES_4326:
        if crs == "EPSG:3857":
            (x0, y0), (x1, y1) = to_3857(x0, y0), to_3857(x1, y1)
        f = QgsFeature(lyr.fields())
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(x0, y0, x1, y1)))
        f.setAttributes([name])
        feats.append(f)
    for wkt, name in wkt_extra:
        f = QgsFeature(lyr.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        f.setAttributes([name])
        feats.append(f)
    assert lyr.dataProvider().addFeatures(feats)
    return lyr


def write_gpkg(layer, path: Path) -> Path:
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    err = QgsVectorFileWriter.writeAsVectorFormatV2(layer, str(path), QgsCoordinateTransformContext(), opts)
    assert err[0] == QgsVectorFileWriter.NoError, err
    return path


def engine_vectors(spatials, pooling: str = "mean", output=None, num_features: int = 32):
    """The same embeddings straight from the engine, to compare values with."""
    from rs_embed_qgis.engine import OutputSpec, TemporalSpec, get_embeddings_batch
    from rs_embed_qgis.engine.providers.local import bundled_sample_dir

    return get_embeddings_batch(
        "mosaiks", spatials=list(spatials), temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
        output=output or OutputSpec.pooled(pooling), backend="local",
        model_options={"num_features": num_features},
        provider_options={"root": str(bundled_sample_dir())})


MOSAIKS_32 = '{"num_features": 32}'


def vector_rows(layer) -> list:
    return [dict(zip(layer.fields().names(), f.attributes(), strict=True), _geom=f.geometry())
            for f in layer.getFeatures()]


def feedback_cancelling_after(n_progress: int):
    from qgis.core import QgsProcessingFeedback

    class _Fb(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.progressChanged.connect(self._tick)

        def _tick(self, _):
            self.calls += 1
            if self.calls >= n_progress:
                self.cancel()

    return _Fb()


def optional(x: str | None) -> str:
    return x or ""
