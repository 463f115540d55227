"""The layers a Processing run adds: the same from the toolbox, the modeller and the dock.

An output the caller asks to open (the toolbox's "Open output file after running", a
``QgsProcessingOutputLayerDefinition`` with a destination project as the dock passes it) is a
*layer to load on completion* of the run's ``QgsProcessingContext``. After the run, on the main
thread, QGIS (or :func:`load_outputs`, the dock's loader) opens it, adds it to the project and
calls its layer post-processor. The algorithms attach :class:`LayerStyler` post-processors in
``postProcessAlgorithm`` (main thread): each names its layer, styles it with the functions of
``rs_embed_qgis/layers.py``, writes the run's metadata into it and moves it into the run's
layer group (:class:`RunGroup`). So a run from any face ends with the same files and the same
layers, styled the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsLayerTreeLayer,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingUtils,
    QgsProject,
)

from ..i18n import tr

#: post-processors handed to QGIS stay referenced here until they ran (a Python object whose
#: last reference goes away would leave QGIS with a dangling pointer)
_KEEP: list = []


class RunGroup:
    """The layer-tree group ``RS Embed: <run name>`` that one run's layers go into.

    The group is made by the first layer placed, at the top of the layer tree; later layers of
    the same run join it (a second run with the same name gets its own group)."""

    def __init__(self, name: str):
        self.name = name
        self.group = None
        self.layers: list = []

    def place(self, layer, project, *, visible: bool = True, top: bool = False) -> None:
        root = project.layerTreeRoot()
        if self.group is None:
            self.group = root.insertGroup(0, tr("RS Embed: {run}").format(run=self.name))
        node = root.findLayer(layer.id())
        clone = node.clone() if node is not None else QgsLayerTreeLayer(layer)
        self.group.insertChildNode(0 if top else len(self.group.children()), clone)
        if node is not None:
            # inserted first, removed second: the layer always has a node, so it stays in the project
            node.parent().removeChildNode(node)
        clone.setItemVisibilityChecked(visible)
        self.layers.append(layer)


class LayerStyler(QgsProcessingLayerPostProcessorInterface):
    """Names and styles one output layer when QGIS loads it (main thread), and puts it into its
    run's group (``group``; None: it stays where QGIS put it)."""

    def __init__(self, name: str, style: Callable[[Any], None], group: RunGroup | None = None, *,
                 visible: bool = True, top: bool = False):
        super().__init__()
        self.name, self.style, self.run_group = name, style, group
        self.visible, self.top = visible, top

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        try:
            layer.setName(self.name)
            self.style(layer)
            if self.run_group is not None:
                project = context.project() if context.project() is not None else QgsProject.instance()
                self.run_group.place(layer, project, visible=self.visible, top=self.top)
        finally:
            if self in _KEEP:
                _KEEP.remove(self)


def style_on_load(context, source: str, styler: LayerStyler) -> bool:
    """Attach ``styler`` to the output ``source`` if the caller asked to load it; True if so."""
    if not source or not context.willLoadLayerOnCompletion(source):
        return False
    _KEEP.append(styler)
    context.layerToLoadOnCompletionDetails(source).setPostProcessor(styler)
    return True


def load_with_style(context, source: str, output_name: str, styler: LayerStyler) -> None:
    """Ask for the file ``source`` to be loaded into the context's project on completion (outputs
    that are not layer parameters, e.g. the GeoTIFFs in a folder), styled by ``styler``."""
    project = context.project()
    if project is None:  # qgis_process, or a run without a project: nothing to add layers to
        return
    context.addLayerToLoadOnCompletion(source, QgsProcessingContext.LayerDetails(styler.name, project, output_name))
    style_on_load(context, source, styler)


def load_outputs(context, feedback=None) -> list:
    """Open the context's layers to load on completion, add them to their projects and run their
    post-processors: what QGIS's Processing dialog does after a run (main thread only).

    Returns the layers added. Raises ``RuntimeError`` naming an output QGIS cannot open."""
    added = []
    for source, details in context.layersToLoadOnCompletion().items():
        layer = QgsProcessingUtils.mapLayerFromString(source, context, True, details.layerTypeHint)
        if layer is None:
            raise RuntimeError(tr("QGIS could not open the output {source!r} as a layer").format(source=source))
        details.setOutputLayerName(layer)
        taken = context.temporaryLayerStore().takeMapLayer(layer)
        layer = taken if taken is not None else layer
        (details.project or QgsProject.instance()).addMapLayer(layer)
        if details.postProcessor() is not None:
            details.postProcessor().postProcessLayer(layer, context, feedback)
        added.append(layer)
    return added


# ------------------------------------------------------------------ what each algorithm's layers look like

def style_grid(context, written: dict[str, Any], *, roi_name: str = "", group: RunGroup | None = None,
               output_name: str = "") -> None:
    """The embedding grid ``written`` (``engine.io.save_grid``'s result plus ``meta``) and its PCA:
    ``<run> [<roi>] embedding`` (hidden: D bands, for analysis and the similarity tool) and
    ``<run> [<roi>] PCA RGB`` (shown), in the run's group.

    Layer outputs are styled when the caller loads them; with ``output_name`` (files that are no
    layer output, e.g. the grids in a folder) they are also asked to be loaded."""
    from .. import layers as L

    meta = written["meta"]
    run = L.run_name(meta)
    group = group or RunGroup(run)
    name = f"{run} {roi_name}".strip()
    emb_path, pca_path = written["geotiff"], written.get("pca")
    emb_name = tr("{name} embedding").format(name=name)
    todo = [(emb_path, LayerStyler(emb_name, lambda lyr: L.style_embedding(lyr, meta, emb_name), group, visible=False))]
    if pca_path:
        info = written["pca_info"]
        title = tr("{name} PCA RGB (first three principal components)").format(name=name)
        todo.append((pca_path, LayerStyler(tr("{name} PCA RGB").format(name=name),
                                           lambda lyr: L.style_pca(lyr, meta, info, emb_path, title), group, top=True)))
    for source, styler in todo:
        if output_name:
            load_with_style(context, source, output_name, styler)
        else:
            style_on_load(context, source, styler)


def style_pooled(context, source: str, meta: dict[str, Any], group: RunGroup) -> None:
    """The pooled vectors of ``embed_features``: ``<run> pooled``, in the run's group."""
    from .. import layers as L

    run = L.run_name(meta)
    title = tr("{run} pooled embedding").format(run=run)
    style_on_load(context, source, LayerStyler(
        tr("{run} pooled").format(run=run), lambda lyr: L.style_pooled(lyr, meta, title), group, top=True))


def style_input(context, source: str, rgb: dict[str, Any], report: dict[str, Any]) -> None:
    """The RGB of ``inspect_patch``: ``RS Embed input <bands>``, at the top of the layer tree."""
    from .. import layers as L

    title = tr("RS Embed input {bands}").format(bands="/".join(rgb["bands"]))
    style_on_load(context, source, LayerStyler(title, lambda lyr: L.style_input(lyr, rgb, report, title)))

