<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" sourcelanguage="en">
    <context>
        <name>RsEmbed</name>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>  land cover (stack)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>  weather CSV (stack)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source> (set INVALID_GEOMETRY=skip to skip such features)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>% NaN</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>% fill</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>(not installed)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>(pip's log is below)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>; skipped</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>&lt;b&gt;{run}&lt;/b&gt;: done in {seconds:.1f} s (fetch {fetch:.1f} s, model {model:.1f} s).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>&lt;i&gt;{model}&lt;/i&gt; uses the window as: {mode}. The window is half-open: [start, end).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>&gt;= 10 Sentinel-2 rasters on one grid, one per date about 5 days apart (bands B02, B03, B04, B8A; date from a 'date' tag or a YYYY-MM-DD file name)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>A .safetensors file, the index json or any shard of a sharded checkpoint. Empty: the weights/s2x10 setting, then RS_EMBED_S2X10_WEIGHTS.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>A run is already going; cancel it or wait.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Acquisition date YYYY-MM-DD (for models that use time; empty: none)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Add the frames to the project (temporal layers)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Add the grid GeoTIFFs to the project when the run finishes</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Also write NDVI frames</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Also write and add NDVI frames</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Also write each grid's first three principal components (&lt;name&gt;_pca.tif)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Arithmetic (fp32: exact; fast: bf16 or int8 for this device, about 1.5-3x faster for the ViT models, within cosine 0.999 of fp32; recorded in the metadata)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Backend</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Band mapping MODEL_BAND=LAYER_BAND (e.g. B4=3,B3=2,B2=1; empty: automatic)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Band numbers of the source bands for {bands}, in this order, e.g. 2,3,4,5,6,7,8,9,12,13. The baselines interpolate the bands listed.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Bands</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Bands shown as red, green, blue</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Bicubic interpolation (baseline, no model)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>Cancel</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>Cancelled.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Cancelled: no output was written.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/results.py" />
            <source>Cancelled; nothing was written and no layer was added.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Checkpoint</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>Choose a vector layer with selected features first.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>Click on an embedding grid layer (a grid result of RS Embed).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Collection (empty: the model's, e.g. COPERNICUS/S2_SR_HARMONIZED)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Compositing over the window (empty: the model's)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>Computes a foundation-model embedding grid over an extent and writes it as a float32 GeoTIFF (one band per embedding dimension) that lands exactly on the region, in the region's UTM zone, with its first three principal components as a 3-band PCA GeoTIFF on the same grid (shown as RGB when loaded). The time window is half-open: [start, end); YEAR, when set, takes the whole calendar year instead. The advanced sensor parameters (input pixel size, bands, cloud cover, compositing, collection) override the model's defaults.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (bundled sample, qgis_process):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:embed_extent -- EXTENT="9.005,9.035,47.83,47.85 [EPSG:4326]" MODEL=mosaiks START=2022-06-01 END=2022-09-01 GRID_SCALE=100 OUTPUT=/tmp/emb.tif PCA=/tmp/emb_pca.tif&lt;/code&gt;&lt;br&gt;&lt;br&gt;Models without weights (MOSAIKS) run at once; others need their checkpoint (plugin settings, MODEL_OPTIONS {"weights": path}, or the model's environment variable).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Continue when a ROI fails (recorded in its manifest)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Daily E-OBS weather CSV (date, tg, tn, tx, rr, pp, hu, qq) for a raster stack (optional; without it the weather anomalies are zero)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Daily E-OBS weather CSV (for a raster stack)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Device</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Dimension</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>ESA WorldCover land cover (for a raster stack)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>ESA WorldCover raster for a raster stack (optional)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/plugin.py" />
            <source>Embed a region with a remote-sensing foundation model</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>Embed extent (grid raster)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Embed features (vector layer of ROIs)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Embed raster layer (your own pixels)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Embedding grid</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Embedding shape</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>Embedding {roi} with {model} ({backend}), window {window}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Embeddings</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Embeddings (pooled vectors)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Embeds the pixels of a raster layer you already have (no download) into a grid GeoTIFF on the layer's CRS.&lt;br&gt;&lt;b&gt;Band mapping&lt;/b&gt;: MODEL_BAND=LAYER_BAND pairs, e.g. &lt;code&gt;B4=3,B3=2,B2=1&lt;/code&gt; (1-based layer bands). Empty: matched by the layer's band descriptions (B04 = B4), else the layer's bands in order when it has exactly the model's count.&lt;br&gt;&lt;b&gt;Units&lt;/b&gt;: models expect Sentinel-2 L2A reflectance x 10000; a layer in reflectance 0..1 needs SCALE_FACTOR=10000. No-data pixels are filled with 0.&lt;br&gt;A layer in degrees is warped to its UTM zone so GRID_SCALE is in metres.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (a bundled sample scene; paths relative to the plugin folder):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:embed_raster -- INPUT=resources/sample_data/S2_L2A_20220715_sample.tif MODEL=mosaiks BAND_MAP=B4=3,B3=2,B2=1 GRID_SCALE=100 OUTPUT=/tmp/raster_emb.tif&lt;/code&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Empty: &lt;output folder setting&gt;/&lt;layer&gt;_sr_1m.tif</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Empty: &lt;output folder setting&gt;/forecast_&lt;input name&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>End date (excluded, YYYY-MM-DD)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Expected value range min,max (flags values outside; empty: no check)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Export batch (ROIs x models, resumable)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Export folder</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Exports inputs and embeddings for every feature of a vector layer and every chosen model into a folder: one file per ROI (named after NAME_FIELD, made file-safe and unique) with its JSON manifest, and a run manifest. Points become square ROIs of half-side BUFFER metres, polygons their bounding box; any CRS.&lt;br&gt;Each file is written atomically; a cancelled run keeps the finished ROIs and RESUME (on by default) continues from them. CONTINUE_ON_ERROR records failing ROIs in the manifests instead of stopping.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (bundled sample; paths relative to the plugin folder):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:export_batch -- INPUT=resources/examples/sample_points.geojson BUFFER_FIELD=buffer_m NAME_FIELD=label MODELS=mosaiks START=2022-06-01 END=2022-09-01 OUTPUT_FOLDER=/tmp/export&lt;/code&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Features embedded</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Features skipped</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Fetches the input patch for a region and time window, as a model would get it, without running any model. Writes three bands as an RGB GeoTIFF on the patch's UTM grid (&lt;i&gt;percentile&lt;/i&gt;: 8-bit, stretched 2-98 % per band; &lt;i&gt;raw&lt;/i&gt;: float values as fetched, e.g. reflectance x 10000, bands named) and the engine's JSON report (inspect_provider_patch): per-band min/max/mean/std/percentiles, NaN and fill fractions, near-constant bands, values outside VALUE_RANGE, scenes per frame, and the issues found (OK is false when there are any).&lt;br&gt;The sensor is the chosen model's, else Sentinel-2 L2A B2,B3,B4,B8 at 10 m; the advanced sensor parameters override it.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (bundled sample):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:inspect_patch -- EXTENT="9.005,9.035,47.83,47.85 [EPSG:4326]" START=2022-06-01 END=2022-09-01 OUTPUT=/tmp/patch_rgb.tif REPORT=/tmp/patch_report.json&lt;/code&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>File format</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>First input frame of a minicube (0 = day 4, the GreenEarthNet setup)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Folder of grid GeoTIFFs (one per feature)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>Forecast</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecast NDVI frames</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Forecast Sentinel-2 reflectance (B02, B03, B04, B8A) for the next 100 days, 20 frames 5 days apart, played by the Temporal Controller. Same algorithm as Processing → RS Embed → Forecasting.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecast layers added; open View &gt; Panels &gt; Temporal Controller and press play.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecast manifest (JSON)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecast reflectance frames</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecast vegetation reflectance</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecasting</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Forecasts Sentinel-2 reflectance (B02, B03, B04, B8A) for the 100 days after the input with a ConvLSTM + Fourier-harmonics model trained on GreenEarthNet, writing 20 dated GeoTIFFs (one every 5 days) and their NDVI (spyndex), added as layers the Temporal Controller can play.

Input either a GreenEarthNet minicube (.nc: s2_B02..s2_B8A, s2_dlmask/s2_SCL, eobs_*, esawc_lc), or a stack of at least 10 Sentinel-2 rasters on one grid, one per date about 5 days apart (bands B02, B03, B04, B8A and optionally SCL; dates from a 'date' tag or a YYYY-MM-DD file name), with an optional ESA WorldCover raster and an optional daily E-OBS weather CSV (date, tg, tn, tx, rr, pp, hu, qq). Without weather, the anomalies are set to zero (climatology).

Checkpoint: a .safetensors written by scripts/train_forecast.py. Left empty, the model runs with RANDOM weights: outputs are tagged RANDOM_WEIGHTS=true and are not a forecast.

Example (qgis_process):
qgis_process run rs_embed:forecast_reflectance -- MINICUBE=/data/greenearthnet/val_chopped/32UNU/cube.nc CHECKPOINT=/models/model_best.safetensors OUTPUT_FOLDER=/tmp/forecast</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Frame dates (ISO, ';'-separated)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>GeoParquet exports</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Google Earth Engine: &lt;b&gt;{state}&lt;/b&gt; — {message}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Google Earth Engine: checking the sign-in…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>GreenEarthNet minicube (.nc)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Grid cell size (m) of the grid GeoTIFFs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>Grid cell size (m) of the output</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Grid cell size (m) when the shape is grid</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Grid cell size (m, or layer units) of the output</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>Grid {shape} in {crs} written to {path}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Half-side (m) of the square ROI around each point</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>In QGIS's Python</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Input bands, comma-separated (empty: the model's, e.g. B4,B3,B2)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Input patch added as an RGB layer; statistics are in the dock.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Input patch as fetched (no model run): bands {bands} as RGB ({stretch} values).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Input pixel size (m) (empty: the model's)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Input preparation (resize: whole ROI at the model's input size; tile: native resolution in tiles)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Input raster (10 m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Input {shape} (T,C,H,W) in {crs}; frames: {frames}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Inspect input patch (RGB + quality report)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Install</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Install optional packages into the plugin's folder…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/plugin.py" />
            <source>Install torch, earthengine-api, ... into a folder this plugin owns</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>Install {packages} into the plugin's folder with Raster &gt; RS Embed &gt; Optional Python packages…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Install {packages} into the plugin's folder…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Installation stopped (pip was killed); install again to complete it.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>Installed: {packages}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Installing {packages}…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/results.py" />
            <source>Install…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Invalid or empty geometries</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Issues (one per line)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Lanczos-3 interpolation (baseline, no model)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Local data: a folder (SAFE products, per-band files, GeoTIFF stacks, STAC items), a catalog.json, an ItemCollection or item JSON, or a .SAFE.zip (default: the bundled Sentinel-2 sample, 2022, lon 9.00-9.04, lat 47.83-47.85).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Local data: folder, STAC catalog.json / ItemCollection / item JSON or .SAFE.zip (backend stac: a STAC API URL, empty: Earth Search); empty: settings, then bundled sample</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Maximum scene cloud cover % (empty: the model's)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Method</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>Minicube (.nc)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Model</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Model checkpoint (.safetensors; empty = random weights)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Model options (JSON, e.g. {"weights": "/path/ckpt.safetensors"}; with several models keyed by model id)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Model ran with random weights</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Model: {model} ({family}), device {device}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Models</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Multiply pixel values by (to reach reflectance x 10000)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>NDVI of the forecasts</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Name field (names outputs; empty: the feature id)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Needed for</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Needs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>NetCDF exports and GreenEarthNet minicubes</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>NetCDF/Zarr exports, Embedding.to_xarray() and forecast minicubes</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>No checkpoint: running with RANDOM weights. The frames are tagged RANDOM_WEIGHTS=true and are not a forecast.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>No checkpoint: the model runs with RANDOM weights; the frames are tagged as such and are not a forecast.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>No feature of '{layer}' is selected; select some first.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>No issue found</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>No region yet: draw one on the map.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>One embedding per feature. Points become square ROIs of half-side BUFFER metres (or BUFFER_FIELD per point); polygons and lines their bounding box in EPSG:4326. Layers in any CRS are reprojected.&lt;br&gt;&lt;b&gt;Outputs&lt;/b&gt;: a polygon layer in the input layer's CRS (each ROI's pixel footprint) with fields &lt;i&gt;input_fid&lt;/i&gt;, &lt;i&gt;name&lt;/i&gt;, &lt;i&gt;model&lt;/i&gt; and &lt;i&gt;e0..eN&lt;/i&gt; (the pooled vector), and/or a folder of grid GeoTIFFs, one per feature, named after NAME_FIELD (made file-safe and unique; with GRID_PCA each also gets &lt;i&gt;&amp;lt;name&amp;gt;_pca.tif&lt;/i&gt;, its first three principal components). ADD_GRIDS adds the grids to the project when the run finishes. Invalid or empty geometries are skipped with a warning or fail the run (INVALID_GEOMETRY). Cancelling leaves no partial outputs.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (bundled sample; paths relative to the plugin folder):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:embed_features -- INPUT=resources/examples/sample_points.geojson BUFFER_FIELD=buffer_m NAME_FIELD=label MODEL=mosaiks START=2022-06-01 END=2022-09-01 OUTPUT=/tmp/points_emb.gpkg GRID_FOLDER=/tmp/point_grids GRID_SCALE=50&lt;/code&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Only this extent (empty: whole layer)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/plugin.py" />
            <source>Optional Python packages…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>Optional packages not in QGIS's Python: {names}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Output GeoTIFF</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>Output folder</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Output: grid at {scale} m</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Output: pooled ({pooling})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Outputs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Overlap</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <source>PCA RGB (first three principal components)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>PCA quick-look (PNG)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>PNG quick-looks of embeddings and input patches</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Package</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Parallel fetches</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Per-point half-side (m) from this field (overrides the buffer)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Pooling of the vector</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>Python {version} at {executable} (prefix {prefix})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>QGIS could not open the output {source!r} as a layer</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>QGIS could not open the written GeoTIFF {path!r}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>QGIS runs &lt;b&gt;Python {version}&lt;/b&gt; (prefix &lt;code&gt;{prefix}&lt;/code&gt;). The packages you tick are installed with that Python's pip into &lt;code&gt;{folder}&lt;/code&gt;, a folder only this plugin uses (delete it to remove them). MOSAIKS, local data and the bundled sample need none of them. Packages whose pip wheels bundle their own GDAL, GEOS or PROJ (rasterio, shapely, pyproj, fiona, pyogrio) are never installed into QGIS.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>QGIS runs {python}; packages go into {folder}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>QGIS's Python has no pip ({python} -m pip: {error}); see docs/install.md</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>QGIS's own copy must stay the one in use</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>RANDOM WEIGHTS: not a super-resolved image.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>RANDOM WEIGHTS: this model ran with randomly initialised weights; the values are NOT a pretrained embedding.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>RANDOM weights (no checkpoint): the frames are not a forecast. </source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>RANDOM weights: the output only tests the plumbing and is not a super-resolved image.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>RGB patch</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>RGB values</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>RGB_BANDS must name 3 bands, got {rgb}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>ROIs (points or polygons)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>ROIs exported</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>ROIs failed</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>ROIs per chunk</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <location filename="../../rs_embed_qgis/plugin.py" />
            <location filename="../../rs_embed_qgis/processing/provider.py" />
            <source>RS Embed</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>RS Embed input {bands}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/plugin.py" />
            <source>RS Embed settings…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>RS Embed: a large run</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>RS Embed: check Earth Engine sign-in</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>RS Embed: install Python packages</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>RS Embed: optional Python packages</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/provider.py" />
            <source>RS Embed: remote-sensing foundation-model embeddings</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>RS Embed: similarity</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>RS Embed: {run}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>Raster layer</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Region (extent)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Report (JSON)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Restart QGIS to use the new {modules} (QGIS has the old one loaded).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Resume: keep finished ROIs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>Run</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Run manifest (JSON)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Run metadata (JSON)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>Running {name}…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>S2x10NetS learned model (needs your weights)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>S2x10NetS with RANDOM weights (tests the plumbing only)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>STAC API: Earth Search (Sentinel-2 L2A, no account) unless the data field holds another API URL (https://...).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Save the embeddings</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>Save the input patches</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Sensor: {collection} bands {bands} at {scale} m, cloud &lt;= {cloud} %, {composite} composite.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Sentinel-2 raster (10 m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Side inputs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Sign in once with &lt;code&gt;earthengine authenticate&lt;/code&gt; and set your Google Cloud project in the RS Embed settings.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Skip features the engine cannot embed (e.g. outside the data), with a warning</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Source bands</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Source bands for {bands} (in this order; empty: by name or in order)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Start date (included, YYYY-MM-DD)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Stop</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Super-resolution</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Super-resolve a Sentinel-2 raster 10x (10 m → 1 m). Same algorithm as Processing → RS Embed → Super-resolution.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Super-resolve raster layer</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Super-resolved raster (1 m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Super-resolves a Sentinel-2 raster 10x (10 m pixels -&gt; 1 m) with the S2x10NetS network, or with a bicubic/Lanczos interpolation baseline. Rasters of any size are processed in overlapping tiles blended with a cosine ramp and written block by block, so memory stays flat. The output has the same CRS and origin, one tenth of the pixel size, the band names, the input's nodata, and tags recording the method and whether weights were your file, random or not needed (baseline).&lt;br&gt;&lt;br&gt;&lt;b&gt;Bands&lt;/b&gt;: the learned model takes {bands}, in this order. Leave the band list empty to find them by band name, or to take a 10-band raster in order; otherwise pick the 10 source bands in that order. The baselines take those ten bands when the raster names them (a class band such as SCL is not interpolated), else every band, or the bands you pick.&lt;br&gt;&lt;b&gt;Weights&lt;/b&gt;: a .safetensors file, the model.safetensors.index.json or any one shard of a sharded checkpoint, or a folder of .safetensors chunks (loaded streamed, one tensor at a time). None are downloaded: no public weights exist. Empty: the plugin setting weights/s2x10, then RS_EMBED_S2X10_WEIGHTS.&lt;br&gt;&lt;b&gt;Tile size / overlap&lt;/b&gt; are in input pixels; the output of one tile is 100x its area, and the full network needs a few GB per 128x128 tile on CPU.&lt;br&gt;&lt;br&gt;&lt;b&gt;Example&lt;/b&gt; (qgis_process, baseline on the bundled sample):&lt;br&gt;&lt;code&gt;qgis_process run rs_embed:superresolve_raster -- INPUT=resources/sample_data/S2_L2A_20220624_sample.tif METHOD=1 TILE=384 OVERLAP=24 OUTPUT=/tmp/sr_1m.tif&lt;/code&gt; (bands found by name; or list them: BANDS=1 BANDS=2 ... BANDS=10)&lt;br&gt;With your weights: METHOD=0 WEIGHTS=/path/to/s2x10_chunks/</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Temporal</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>The engine's input checks found no issue.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>The selected features of '{layer}' have no geometry.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>The selected model ({model}) does not need it and works now.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>This run is estimated to need about {peak} of memory ({what}).

It may take long and slow the computer down. Run it?</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>Tick the packages to install first.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Tile (input pixels)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Tile overlap (input pixels, &lt; half the tile)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Tile size (input pixels)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Time window: [{start}, {end}).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Timings: {timings}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Type</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>Use the input sensor of this model (empty: Sentinel-2 L2A B2,B3,B4,B8, 10 m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>VALUE_RANGE must be 'min,max', got {vr!r}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Valid data: {valid:.0%} of the region (below {least:.0%} the run fails).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>Vector as fields e0..eN (columns) or one JSON array field 'embedding' (json)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>WARNING: RANDOM weights: the output only tests the plumbing and is not a super-resolved image.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>WARNING: this model ran with RANDOM weights; the output is not a pretrained embedding.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>WARNING: {warning}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Warning: {warnings}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>Weights</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>Weights (.safetensors file, index json, or folder of chunks; learned model)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Weights file</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Weights: {status} from {source}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/layers.py" />
            <source>Weights: {status}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>Whole year instead of start/end (empty: use start/end)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>Wrote {path}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>Zarr exports</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>band</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>batch exports on a Dask cluster</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_extent.py" />
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>cancelled; nothing was written</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>cannot find the Python interpreter QGIS runs (Python {version}, prefix {prefix}); looked at {places}. Install the packages with that interpreter's pip into the folder shown, or see docs/install.md.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_export_batch.py" />
            <source>choose at least one model (MODELS)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>choose at least one output: OUTPUT (vector layer) or GRID_FOLDER (grid GeoTIFFs)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>could not write feature {fid} ({name}) to the output: {error}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>download by hand from &lt;a href='{url}'&gt;here&lt;/a&gt;</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>downloading official weights</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>empty: found by name (or all bands in order)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>feature {fid} ({name}): {error}; skipped</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>feature {fid}: {why}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>fetching {roi} bands {bands} at {scale} m, window {window} ({backend})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>field {field!r} is not in the input layer (fields: {fields})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>filling no-data pixels before super-resolution</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>forecast inputs and scores</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>give either a minicube (.nc) or a stack of Sentinel-2 rasters (got minicube={minicube!r} and {n} rasters)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>give either a minicube (.nc) or a stack of Sentinel-2 rasters, got minicube={minicube!r} and {n} rasters</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>installation cancelled</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>installed</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>installed {version}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>installer failed: {error}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>installer: {result}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>installing {packages}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>invalid parameters</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_inspect_patch.py" />
            <source>issue: {line}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>it was asked for</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>its pip wheel bundles its own GDAL/GEOS/PROJ, which clash with QGIS's in one process</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>lon {x0:.5f} … {x1:.5f}, lat {y0:.5f} … {y1:.5f}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>max</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>median</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>min</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>missing</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>missing (will run with RANDOM weights)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>model options must be a JSON object, got {text!r}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>model options must be a JSON object, got {text!r}: {error}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>no feature could be embedded (see the warnings above)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>no input raster: add a Sentinel-2 raster layer and pick it</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>no region: draw a rectangle, click a point, use selected features or the map extent</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>no region: draw one first</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>no valid pixel</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>none</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>none of the {n} input features gave a usable ROI (see the warnings above)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>not ready</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>nothing (all present)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>nothing to install</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>nothing to install: QGIS's Python already has all of it</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>or S2 raster stack</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_forecast.py" />
            <source>or: Sentinel-2 rasters, one per date (&gt;= 10)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>paper</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>pip exited with {rc}:
{output}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>pip wrote no installation report: QGIS's pip is older than 22.2; update it with {python} -m pip install --upgrade pip</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/install_dialog.py" />
            <source>pip's output appears here.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>point</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>point lon {lon:.5f}, lat {lat:.5f}, buffer {buffer:.0f} m</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>reading .safetensors checkpoints</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>ready</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>rectangle</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>refused to install into QGIS's Python: {problems}. Choose fewer packages, or see docs/install.md.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>replacing {n} existing GeoTIFF(s) in {folder}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>resolving {requirements}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>signed Planetary Computer downloads</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>similarity to cell r{row} c{col}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>source band {band!r} is not a band number (expected numbers 1..{count}, comma separated)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>source band {band} does not exist: the layer has bands 1..{count}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>std</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>the Google Earth Engine backend</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>the STAC backend (Earth Search, Planetary Computer)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>the algorithm returned no output file ({path!r})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>the algorithm returned {n} frames and {m} dates</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>the band list is empty; enter bands such as 'B4, B3, B2'</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>the band list {bands!r} names no band; leave it empty for the model's bands or give e.g. B4,B3,B2</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>the check was cancelled</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>the deep-learning models (every model but MOSAIKS and the Google Satellite Embedding), S2x10NetS super-resolution and forecasting</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_raster.py" />
            <source>the extent does not overlap the layer</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>the extent is empty; draw or choose a region first</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>the feature that asked for it</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>the input layer has no CRS; its coordinates are taken as EPSG:4326</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/common.py" />
            <source>the input layer {name!r} has no features; add points or polygons (or clear 'selected features only')</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>the input layer {name!r} is a {provider!r} layer; save it as a GeoTIFF first (super-resolution reads files through GDAL)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>the rectangle is empty; drag on the map to draw a region</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>the {dim}-dimensional vectors need {n} fields, more than this output format holds ({limit}); choose VECTOR_LAYOUT=json (one JSON array field), another format (e.g. a memory layer or GeoParquet), or the grid/export outputs</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>unavailable: earthengine-api is not installed in QGIS's Python</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>unavailable: the Earth Engine backend could not be loaded ({error})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>unavailable: this engine has no Earth Engine status check</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/results.py" />
            <source>{error} (details in the RS Embed log tab)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>{kind} embeddings...</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>{layer} 1 m ({method})</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>{layer} 1 m ({method}) added ({seconds} s).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/superres_tab.py" />
            <source>{layer} 1 m ({method}): ran with RANDOM weights, the output only tests the plumbing.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_superres.py" />
            <source>{layer} 1 m ({method}, RANDOM weights)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>{model} needs {packages}.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>{model} needs {packages}; install it first</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>{model} ran with RANDOM weights: the layer is not a pretrained embedding (see the layer metadata).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>{name} PCA RGB</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>{name} PCA RGB (first three principal components)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>{name} cancelled; no layer was added.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>{name} embedding</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/alg_tab.py" />
            <source>{name} failed</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>{n} ROI(s) from {n_in} feature(s); {model} ({backend}), window {window}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>{n} feature(s) of {layer}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>{n} forecast frames added ({first} .. {last}); open View → Panels → Temporal Controller and press play.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/forecast_tab.py" />
            <source>{n} frames {first} .. {last} in {folder}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>{n} grid GeoTIFF(s) written to {folder}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/alg_embed_features.py" />
            <source>{ok} feature(s) embedded, {skipped} skipped</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/deps.py" />
            <source>{package} {version} (needed by {by}): {why}</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>{run} pooled</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/processing/outputs.py" />
            <source>{run} pooled embedding</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/embed_tab.py" />
            <source>{run}: layers added.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/tasks.py" />
            <source>{title} added.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../rs_embed_qgis/gui/dock.py" />
            <source>… and {n} more</source>
            <translation type="unfinished" />
        </message>
    </context>
    <context>
        <name>RsEmbedDockForm</name>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>1. Region of interest</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Click a cell of an embedding grid layer to map the cosine similarity of every cell to it</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Click a point; the ROI is the square of half-side 'Point buffer' around it</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Drag a rectangle on the map</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Each tab runs a Processing algorithm of the RS Embed toolbox (Embeddings, Super-resolution, Forecast).</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Map extent</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>No region yet: draw one on the map.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>One ROI per selected feature of the vector layer below (its bounding box)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Point</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Point buffer (m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>RS Embed</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Rectangle</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Selection</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Settings</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Similarity</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Use the current map extent</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>Vector layer</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/dock.ui" />
            <source>…</source>
            <translation type="unfinished" />
        </message>
    </context>
    <context>
        <name>RsEmbedEmbedTabForm</name>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>2. Model</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>3. Time window</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>4. Sensor and output</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Arithmetic</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Backend</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Bands</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Cancel</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Cancel the running task</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Collection</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Comma-separated, in the model's order</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Composite</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Data folder</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Dates</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Device</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>End date, excluded: the window is [start, end)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Fetch the input patch without running the model (Processing → RS Embed → Inspect input patch) and show it as an RGB layer with its statistics</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Grid cell size (m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Input pixel size (m)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Input preparation</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Inspect input</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Install missing packages…</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Max. cloud (%)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Output</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Output folder</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Pooling</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Run</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Run Processing → RS Embed → Embed extent (a rectangle or the map extent, grid output) or Embed features (points, selected features, pooled output)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Run reports and input statistics appear here.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Run with RANDOM weights when no checkpoint is found (testing only)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Without its checkpoint a model refuses to run. Tick this to run it randomly initialised; every output is then marked RANDOM WEIGHTS.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>Year</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>auto</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>bf16</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>cpu</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>cuda</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>fast</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>fp16</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>fp32</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>fp32: exact. fast: the fast path this device has (bf16 on CPUs with AVX512-BF16 or AMX and on GPUs, else int8 on the CPU): about 1.5-3x faster for the ViT models, pooled vectors within cosine 0.999 of fp32. Recorded in each output's metadata.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>grid</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>int8</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>max</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>mean</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>median</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>mosaic</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>pooled</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>resize</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>tile</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/embed_tab.ui" />
            <source>yyyy-MM-dd</source>
            <translation type="unfinished" />
        </message>
    </context>
    <context>
        <name>RsEmbedSettingsForm</name>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>A region whose share of pixels with valid data (after cloud masking, inside the scenes) is below this fails with the reason; above it and below 90 % the run warns. 0: never fails.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>A run whose largest region is estimated to need more is refused before any download, with what to do instead. 0: no limit.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Ask before runs over (GB)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Cache folder (weights)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Default backend</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Device</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Earth Engine project</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Empty: RS_EMBED_CACHE or ~/.cache/rs_embed_qgis</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Empty: the sample bundled with the plugin</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Full provenance in outputs (absolute paths of data and weights in GeoTIFF tags and manifests)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Google Cloud project id registered for Earth Engine</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Least valid data in a region</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Local data folder / STAC catalog</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Memory limit per run (GB)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Model</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Output folder</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Per-model weight files (safetensors or PyTorch state dict; empty = environment variable, cache, then download)</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>RS Embed settings</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>The dock asks before it starts a run estimated to need more memory than this. 0: never asks.</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>Weights file</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>auto</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>cpu</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>cuda</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>gee</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>local</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>never ask</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>no limit</source>
            <translation type="unfinished" />
        </message>
        <message>
            <location filename="../../ui/settings.ui" />
            <source>stac</source>
            <translation type="unfinished" />
        </message>
    </context>
</TS>
