"""One spelling for the QGIS enums whose home moved between QGIS 3.22 and QGIS 3.30+ / 4.x.

QGIS moved many enums into the ``Qgis`` namespace (3.30: geometry and WKB types, temporal
units; 3.34: layer filters; 3.36: the Processing enums) and keeps the old homes only as
deprecated aliases; QGIS 3.38 takes field types as ``QMetaType.Type`` (PyQt6 has no
``QVariant.Type``). Code that runs from 3.22 to 4.x names such a value once, here, and gets the
new spelling where this QGIS has it and the 3.22 one otherwise::

    from .. import compat
    QgsProcessingParameterNumber("N", "n", type=compat.NUMBER_INTEGER)

Every other enum is written scoped (``Qt.ItemFlag.ItemIsEditable``,
``Qgis.MessageLevel.Info``), which works on both. ``scripts/check_qt6.py`` refuses the old
homes named in :data:`MOVED` anywhere but here.
"""
from __future__ import annotations

from typing import Any

#: name -> (spelling in QGIS 3.30+/3.34+/3.36+ and 4.x, spelling in QGIS 3.22)
MOVED: dict[str, tuple[str, str]] = {
    "NUMBER_INTEGER": ("Qgis.ProcessingNumberParameterType.Integer", "QgsProcessingParameterNumber.Type.Integer"),
    "NUMBER_DOUBLE": ("Qgis.ProcessingNumberParameterType.Double", "QgsProcessingParameterNumber.Type.Double"),
    "PARAMETER_ADVANCED": ("Qgis.ProcessingParameterFlag.Advanced",
                           "QgsProcessingParameterDefinition.Flag.FlagAdvanced"),
    "SOURCE_VECTOR_ANY": ("Qgis.ProcessingSourceType.VectorAnyGeometry",
                          "QgsProcessing.SourceType.TypeVectorAnyGeometry"),
    "SOURCE_VECTOR_POLYGON": ("Qgis.ProcessingSourceType.VectorPolygon", "QgsProcessing.SourceType.TypeVectorPolygon"),
    "SOURCE_RASTER": ("Qgis.ProcessingSourceType.Raster", "QgsProcessing.SourceType.TypeRaster"),
    "FILE_PARAMETER_FILE": ("Qgis.ProcessingFileParameterBehavior.File", "QgsProcessingParameterFile.Behavior.File"),
    "FILE_PARAMETER_FOLDER": ("Qgis.ProcessingFileParameterBehavior.Folder",
                              "QgsProcessingParameterFile.Behavior.Folder"),
    "FIELD_NUMERIC": ("Qgis.ProcessingFieldParameterDataType.Numeric", "QgsProcessingParameterField.DataType.Numeric"),
    "SOURCE_SKIP_GEOMETRY_CHECKS": ("Qgis.ProcessingFeatureSourceFlag.SkipGeometryValidityChecks",
                                    "QgsProcessingFeatureSource.Flag.FlagSkipGeometryValidityChecks"),
    "GEOMETRY_POINT": ("Qgis.GeometryType.Point", "QgsWkbTypes.GeometryType.PointGeometry"),
    "GEOMETRY_POLYGON": ("Qgis.GeometryType.Polygon", "QgsWkbTypes.GeometryType.PolygonGeometry"),
    "WKB_POLYGON": ("Qgis.WkbType.Polygon", "QgsWkbTypes.Type.Polygon"),
    "LAYER_FILTER_RASTER": ("Qgis.LayerFilter.RasterLayer", "QgsMapLayerProxyModel.Filter.RasterLayer"),
    "LAYER_FILTER_VECTOR": ("Qgis.LayerFilter.VectorLayer", "QgsMapLayerProxyModel.Filter.VectorLayer"),
    "TEMPORAL_DAYS": ("Qgis.TemporalUnit.Days", "QgsUnitTypes.TemporalUnit.TemporalDays"),
    "SHADER_LINEAR": ("Qgis.ShaderInterpolationMethod.Linear", "QgsColorRampShader.Type.Interpolated"),
}

#: field types: ``QMetaType.Type`` from QGIS 3.38, ``QVariant.Type`` before
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "string": ("QMetaType.Type.QString", "QVariant.Type.String"),
    "double": ("QMetaType.Type.Double", "QVariant.Type.Double"),
    "int64": ("QMetaType.Type.LongLong", "QVariant.Type.LongLong"),
}
QMETATYPE_FIELDS_SINCE = 33800

_resolved: dict[str, Any] = {}


def _lookup(dotted: str) -> Any:
    """``A.B.C`` from qgis.core (or qgis.PyQt.QtCore for Qt names); AttributeError if this QGIS lacks it."""
    import qgis.core
    from qgis.PyQt import QtCore

    head, *rest = dotted.split(".")
    obj = getattr(qgis.core, head, None)
    if obj is None:
        obj = getattr(QtCore, head)
    for part in rest:
        obj = getattr(obj, part)
    return obj


def resolve(name: str) -> Any:
    """The value of :data:`MOVED` ``[name]`` in this QGIS."""
    if name not in _resolved:
        new, old = MOVED[name]
        try:
            _resolved[name] = _lookup(new)
        except AttributeError:  # QGIS before the move
            _resolved[name] = _lookup(old)
    return _resolved[name]


def field_type(kind: str) -> Any:
    """The type to build a ``QgsField`` of ``kind`` (``string``, ``double``, ``int64``) with."""
    from qgis.core import Qgis

    new, old = FIELD_TYPES[kind]
    return _lookup(new if Qgis.QGIS_VERSION_INT >= QMETATYPE_FIELDS_SINCE else old)


def __getattr__(name: str) -> Any:  # compat.NUMBER_INTEGER, resolved on first use
    if name in MOVED:
        return resolve(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
