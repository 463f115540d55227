"""Sentinel-2 in the layouts users download, built from the bundled sample (tests and
benchmarks import this).

The sample holds reflectance x 10000 without offset (B2, B3, B4, B8 real, from spyndex;
placed in EPSG:32632 at UL 500000/5300000, 10 m). From it:

- :func:`write_safe`: an L2A (or L1C) ``.SAFE`` folder or ``.SAFE.zip`` in ESA's
  structure (``MTD_MSIL2A.xml`` with ``PRODUCT_START_TIME``, ``PROCESSING_BASELINE``,
  ``BOA_QUANTIFICATION_VALUE``, ``BOA_ADD_OFFSET_VALUES_LIST``, ``IMAGE_FILE`` list,
  ``Cloud_Coverage_Assessment``; ``GRANULE/L2A_T32TNT_.../MTD_TL.xml`` with
  ``Tile_Geocoding``; ``IMG_DATA/R10m|R20m|R60m`` band files as lossless JPEG2000 or
  GeoTIFF), the 04.00 offset added to the stored numbers;
- :func:`write_earth_search`: Earth Search's per-band COG folders with their item JSON
  (asset keys ``blue``/``red``/``nir``/``rededge1``/``scl``/``visual``..., ``eo:bands``
  name/common_name, ``raster:bands`` scale 0.0001 / offset -0.1, ``proj:epsg``,
  ``eo:cloud_cover``, ``earthsearch:boa_offset_applied``);
- :func:`write_planetary_computer` and :func:`write_cdse`: the same scene as the
  Planetary Computer (keys ``B04``..., no scale/offset, ``s2:processing_baseline``) and
  the Copernicus Data Space (STAC 1.1, keys ``B04_10m``, ``raster:scale``/``raster:offset``)
  deliver it, downloaded next to the item JSON;
- :func:`write_stack`: the scene (or some of its columns) as a GeoTIFF stack, also in
  another UTM zone.

20 m and 60 m bands are block means of the 10 m sample (SCL: the top-left pixel of
each block), as ESA derives its coarser products.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample_data"
TILE = "T32TNT"
UL = (500000.0, 5300000.0)
CRS = "EPSG:32632"
ES_BAND_FILES = {  # Earth Search asset key -> (file, band, resolution)
    "coastal": ("B01", "B1", 60), "blue": ("B02", "B2", 10), "green": ("B03", "B3", 10),
    "red": ("B04", "B4", 10), "rededge1": ("B05", "B5", 20), "rededge2": ("B06", "B6", 20),
    "rededge3": ("B07", "B7", 20), "nir": ("B08", "B8", 10), "nir08": ("B8A", "B8A", 20),
    "nir09": ("B09", "B9", 60), "swir16": ("B11", "B11", 20), "swir22": ("B12", "B12", 20),
    "scl": ("SCL", "SCL", 20)}
COMMON = {"B1": "coastal", "B2": "blue", "B3": "green", "B4": "red", "B5": "rededge", "B6": "rededge",
          "B7": "rededge", "B8": "nir", "B8A": "nir08", "B9": "nir09", "B11": "swir16", "B12": "swir22"}
ESA_NAME = {"B1": "B01", "B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B6": "B06", "B7": "B07",
            "B8": "B08", "B8A": "B8A", "B9": "B09", "B11": "B11", "B12": "B12", "SCL": "SCL"}
BAND_ID = {b: i for i, b in enumerate(["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10",
                                       "B11", "B12"])}
# what ESA puts in each resolution folder of an L2A product (10 m bands only at 10 m)
L2A_FOLDERS = {10: ["B2", "B3", "B4", "B8"],
               20: ["B2", "B3", "B4", "B5", "B6", "B7", "B8A", "B11", "B12", "SCL"],
               60: ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8A", "B9", "B11", "B12", "SCL"]}
NATIVE = {"B1": 60, "B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20, "B8": 10, "B8A": 20,
          "B9": 60, "B11": 20, "B12": 20, "SCL": 20}


def sample(date: str = "20220715") -> tuple[dict[str, np.ndarray], dict]:
    """The bundled sample of a date: band -> uint16 array (reflectance x 10000), and its tags."""
    with rasterio.open(SAMPLE / f"S2_L2A_{date}_sample.tif") as src:
        arr = src.read()
        return {d: arr[i] for i, d in enumerate(src.descriptions)}, src.tags()


def cloud(date: str) -> float:
    info = json.loads((SAMPLE / "sample_info.json").read_text())
    return float(info["cloudy_pct"][f"S2_L2A_{date}_sample"])


def at_resolution(arr: np.ndarray, res: int, band: str) -> np.ndarray:
    """A 10 m band at ``res``: block means (SCL: the top-left pixel of each block)."""
    f = res // 10
    if f == 1:
        return arr
    h, w = arr.shape[0] // f * f, arr.shape[1] // f * f
    if band == "SCL":
        return arr[:h:f, :w:f]
    blocks = arr[:h, :w].reshape(h // f, f, w // f, f).astype(np.float64)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint16)


def stored(arr: np.ndarray, band: str, offset: float) -> np.ndarray:
    """Reflectance x 10000 -> the digital numbers of a product with this offset (0 stays no data)."""
    if band == "SCL" or not offset:
        return arr
    return np.where(arr > 0, arr.astype(np.int64) - int(offset), 0).astype(np.uint16)


def write_raster(path: Path, arr: np.ndarray, res: int, *, driver: str = "GTiff", crs: str = CRS,
                 nodata: float | None = 0, descriptions=None, tags=None) -> Path:
    """A georeferenced raster at the sample's origin (JPEG2000 lossless, COG, GeoTIFF)."""
    arr = arr if arr.ndim == 3 else arr[None]
    prof = dict(driver=driver, width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype,
                crs=crs, transform=from_origin(UL[0], UL[1], res, res))
    if nodata is not None:
        prof["nodata"] = nodata
    if driver == "JP2OpenJPEG":  # ESA's band files: JPEG2000, lossless, no declared nodata
        prof.update(QUALITY=100, REVERSIBLE="YES", YCBCR420="NO")
    elif driver == "COG":
        prof.update(COMPRESS="DEFLATE", BLOCKSIZE=256)
    else:
        prof.update(compress="deflate", tiled=True, blockxsize=256, blockysize=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
        if tags:
            dst.update_tags(**tags)
    return path


# -- SAFE ---------------------------------------------------------------------------------------
def product_name(date: str, level: str = "L2A", baseline: str = "04.00") -> str:
    n = baseline.replace(".", "")
    return f"S2B_MSI{level}_{date}T102559_N{n}_R108_{TILE}_{date}T132712"


def _mtd(level: str, name: str, date: str, baseline: str, offset: float, files: list[str],
         cloud_pct: float, start: str | None) -> str:
    d = dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    start_el = f"<PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>" if start else ""
    sensing_el = f"<DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>" if start else ""
    uri_el = f"<PRODUCT_URI>{name}.SAFE</PRODUCT_URI>" if start else ""  # no time anywhere
    quant = "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE"
    if level == "L2A":
        quant_el = (f'<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</{quant}>'
                    '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>'
                    '<WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>'
                    "</QUANTIFICATION_VALUES_LIST>")
        offs = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset:g}</BOA_ADD_OFFSET>' for i in range(13))
        offs_el = f"<BOA_ADD_OFFSET_VALUES_LIST>{offs}</BOA_ADD_OFFSET_VALUES_LIST>" if offset else ""
    else:
        quant_el = f'<QUANTIFICATION_VALUE unit="none">10000</{quant}>'
        offs = "".join(f'<RADIO_ADD_OFFSET band_id="{i}">{offset:g}</RADIO_ADD_OFFSET>' for i in range(13))
        offs_el = f"<Radiometric_Offset_List>{offs}</Radiometric_Offset_List>" if offset else ""
    spectral = "".join(f'<Spectral_Information bandId="{i}" physicalBand="{b}"><RESOLUTION>'
                       f'{NATIVE.get(b, 60)}</RESOLUTION></Spectral_Information>' for b, i in BAND_ID.items())
    image_files = "".join(f"<IMAGE_FILE>{f}</IMAGE_FILE>" for f in files)
    root = "Level-2A_User_Product" if level == "L2A" else "Level-1C_User_Product"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_{root.replace('_User_Product', '')}.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      {start_el}
      <PRODUCT_STOP_TIME>{d.isoformat()}T10:25:59.024Z</PRODUCT_STOP_TIME>
      {uri_el}
      <PROCESSING_LEVEL>Level-{level[1:]}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{level[1:]}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{d.isoformat()}T13:27:12.000000Z</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2B_{date}T102559_027915_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        {sensing_el}
      </Datatake>
      <Query_Options completeSingleTile="true"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2B_OPER_MSI_{level}_DS_2BPS_{date}T132712_S{date}T102603_N{baseline}" granuleIdentifier="S2B_OPER_MSI_{level}_TL_2BPS_{date}T132712_A027915_{TILE}_N{baseline}" imageFormat="JPEG2000">
            {image_files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      {quant_el}
      {offs_el}
      <Spectral_Information_List>{spectral}</Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>{cloud_pct}</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:{root}>
"""


def _mtd_tl(level: str, date: str, baseline: str, shape: tuple[int, int]) -> str:
    h, w = shape
    sizes = "".join(f'<Size resolution="{r}"><NROWS>{h * 10 // r}</NROWS><NCOLS>{w * 10 // r}</NCOLS></Size>'
                    for r in (10, 20, 60))
    geo = "".join(f'<Geoposition resolution="{r}"><ULX>{UL[0]:.0f}</ULX><ULY>{UL[1]:.0f}</ULY>'
                  f'<XDIM>{r}</XDIM><YDIM>-{r}</YDIM></Geoposition>' for r in (10, 20, 60))
    root = f"Level-{level[1:]}_Tile_ID"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{level[1:]}_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">S2B_OPER_MSI_{level}_TL_2BPS_{date}T132712_A027915_{TILE}_N{baseline}</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">{date[:4]}-{date[4:6]}-{date[6:]}T10:26:03.123Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone 32N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>{CRS}</HORIZONTAL_CS_CODE>
      {sizes}
      {geo}
    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:{root}>
"""


def write_safe(dst: Path, *, date: str = "20220715", fmt: str = "jp2", level: str = "L2A",
               baseline: str = "04.00", offset: float = -1000, zipped: bool = False,
               start: str | None = "default", folder_name: str | None = None) -> Path:
    """A SAFE product of the sample's scene (folder, or ``.SAFE.zip`` with ``zipped``).

    ``start=None`` leaves the sensing time out of the metadata; ``folder_name`` replaces
    the product's folder name (ESA's name carries the date too)."""
    bands, _ = sample(date)
    name = product_name(date, level, baseline)
    safe = Path(dst) / f"{folder_name or name}.SAFE"
    granule = f"{level}_{TILE}_A027915_{date}T102603"
    driver = {"jp2": "JP2OpenJPEG", "tif": "GTiff"}[fmt]
    files = []
    if level == "L2A":
        plan = [(res, b, f"GRANULE/{granule}/IMG_DATA/R{res}m/{TILE}_{date}T102559_{ESA_NAME[b]}_{res}m")
                for res, bs in L2A_FOLDERS.items() for b in bs]
    else:  # L1C: one folder, every band at its native resolution, no SCL
        plan = [(NATIVE[b], b, f"GRANULE/{granule}/IMG_DATA/{TILE}_{date}T102559_{ESA_NAME[b]}")
                for b in ESA_NAME if b != "SCL"]
    for res, b, rel in plan:
        arr = stored(at_resolution(bands[b], res, b), b, offset)
        write_raster(safe / f"{rel}.{fmt}", arr, res, driver=driver, nodata=None)
        files.append(rel)
    if start == "default":
        start = f"{date[:4]}-{date[4:6]}-{date[6:]}T10:25:59.024Z"
    xml = "MTD_MSIL2A.xml" if level == "L2A" else "MTD_MSIL1C.xml"
    (safe / xml).write_text(_mtd(level, name, date, baseline, offset, files, cloud(date), start))
    (safe / "GRANULE" / granule / "MTD_TL.xml").write_text(_mtd_tl(level, date, baseline, bands["B2"].shape))
    (safe / "manifest.safe").write_text('<?xml version="1.0" encoding="UTF-8"?><xfdu:XFDU '
                                        'xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel/1.1"/>')
    for d in ("DATASTRIP", "AUX_DATA", "HTML", "rep_info"):
        (safe / d).mkdir(exist_ok=True)
    if not zipped:
        return safe
    zpath = Path(dst) / f"{name}.SAFE.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(safe.rglob("*")):
            z.write(p, p.relative_to(dst).as_posix())
    shutil.rmtree(safe)
    return zpath


# -- STAC items ------------------------------------------------------------------------------------
def _bbox() -> list[float]:
    info = json.loads((SAMPLE / "sample_info.json").read_text())
    return [float(v) for v in info["bounds_4326"]]


def _geometry(b: list[float]) -> dict:
    return {"type": "Polygon", "coordinates": [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]],
                                                [b[0], b[1]]]]}


def _iso(date: str) -> str:
    return f"{date[:4]}-{date[4:6]}-{date[6:]}T10:26:03.123000Z"


def earth_search_id(date: str) -> str:
    return f"S2B_{TILE[1:]}_{date}_0_L2A"


def earth_search_dir(root: Path, date: str) -> Path:
    return (Path(root) / "sentinel-s2-l2a-cogs" / TILE[1:3] / TILE[3] / TILE[4:] / date[:4]
            / str(int(date[4:6])) / earth_search_id(date))


def write_earth_search(root: Path, dates=("20220715",), *, base_url: str | None = None,
                       offset_applied: bool = False) -> list[Path]:
    """Earth Search's per-band COGs and item JSON of each date (folders as in its bucket).

    ``base_url``: where the assets are served (the test STAC server); default Earth
    Search's own bucket, as in a downloaded item. ``offset_applied``: the pixels hold
    reflectance x 10000 already (``earthsearch:boa_offset_applied: true``).
    """
    out = []
    bbox = _bbox()
    for date in dates:
        bands, _ = sample(date)
        folder = earth_search_dir(root, date)
        rel = folder.relative_to(root).as_posix()
        base = (base_url or "https://sentinel-cogs.s3.us-west-2.amazonaws.com").rstrip("/")
        assets = {}
        for key, (fname, b, res) in ES_BAND_FILES.items():
            arr = stored(at_resolution(bands[b], res, b), b, 0 if offset_applied else -1000)
            write_raster(folder / f"{fname}.tif", arr, res, driver="COG")
            a = {"href": f"{base}/{rel}/{fname}.tif",
                 "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                 "title": f"{key} - {res}m", "proj:shape": list(arr.shape),
                 "proj:transform": [res, 0, UL[0], 0, -res, UL[1]], "roles": ["data", "reflectance"]}
            if b == "SCL":
                a["raster:bands"] = [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]
            else:
                a["eo:bands"] = [{"name": key, "common_name": COMMON[b], "description": f"band {b}"}]
                a["gsd"] = res
                a["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                      "spatial_resolution": res, "scale": 0.0001, "offset": -0.1}]
            assets[key] = a
        rgb = np.stack([np.clip(bands[b] // 12, 0, 255).astype(np.uint8) for b in ("B4", "B3", "B2")])
        write_raster(folder / "TCI.tif", rgb, 10, driver="COG")
        assets["visual"] = {"href": f"{base}/{rel}/TCI.tif", "title": "True color image",
                            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                            "eo:bands": [{"name": n, "common_name": n} for n in ("red", "green", "blue")],
                            "roles": ["visual"]}
        assets["thumbnail"] = {"href": f"{base}/{rel}/thumbnail.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}
        assets["granule_metadata"] = {"href": f"{base}/{rel}/granule_metadata.xml", "type": "application/xml",
                                      "roles": ["metadata"]}
        iid = earth_search_id(date)
        item = {
            "type": "Feature", "stac_version": "1.0.0", "id": iid,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
            "properties": {
                "created": "2022-07-15T15:42:10.537Z", "platform": "sentinel-2b", "constellation": "sentinel-2",
                "instruments": ["msi"], "eo:cloud_cover": cloud(date), "proj:epsg": 32632,
                "mgrs:utm_zone": 32, "mgrs:latitude_band": "T", "mgrs:grid_square": "NT",
                "grid:code": "MGRS-32TNT", "s2:product_type": "S2MSI2A", "s2:processing_baseline": "04.00",
                "s2:product_uri": f"{product_name(date)}.SAFE", "datetime": _iso(date),
                "earthsearch:boa_offset_applied": offset_applied,
                "earthsearch:s3_path": f"s3://sentinel-cogs/{rel}"},
            "geometry": _geometry(bbox), "bbox": bbox,
            "links": [{"rel": "self", "href": f"{base}/v1/collections/sentinel-2-l2a/items/{iid}",
                       "type": "application/geo+json"}],
            "assets": assets, "collection": "sentinel-2-l2a"}
        path = folder / f"{iid}.json"
        path.write_text(json.dumps(item, indent=1))
        out.append(path)
    return out


def write_planetary_computer(root: Path, date: str = "20220715") -> Path:
    """A Planetary Computer item (keys ``B04``..., no scale/offset) with its COGs downloaded next to it."""
    bands, _ = sample(date)
    name = product_name(date)
    folder = Path(root) / name
    base = (f"https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/{TILE[1:3]}/{TILE[3]}/{TILE[4:]}/"
            f"{date[:4]}/{date[4:6]}/{date[6:]}/{name}.SAFE/GRANULE/L2A_{TILE}_A027915_{date}T102603/IMG_DATA")
    assets = {}
    for b, key in ESA_NAME.items():
        res = NATIVE[b]
        fname = f"{TILE}_{date}T102559_{key}_{res}m.tif"
        write_raster(folder / fname, stored(at_resolution(bands[b], res, b), b, -1000), res, driver="COG")
        a = {"href": f"{base}/R{res}m/{fname}", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
             "roles": ["data"], "gsd": res, "proj:shape": [3000 // res, 3000 // res]}
        if b != "SCL":
            a["eo:bands"] = [{"name": key, "common_name": COMMON[b], "description": f"Band {b[1:]}"}]
        assets[key] = a
    assets["visual"] = {"href": f"{base}/R10m/{TILE}_{date}T102559_TCI_10m.tif", "roles": ["data"],
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": name, "collection": "sentinel-2-l2a",
            "bbox": _bbox(), "geometry": _geometry(_bbox()), "links": [],
            "properties": {"datetime": _iso(date), "platform": "Sentinel-2B", "eo:cloud_cover": cloud(date),
                           "proj:epsg": 32632, "s2:mgrs_tile": TILE[1:], "s2:product_type": "S2MSI2A",
                           "s2:processing_baseline": "04.00"},
            "assets": assets}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(item, indent=1))
    return path


def write_cdse(root: Path, date: str = "20220715") -> Path:
    """A Copernicus Data Space item (STAC 1.1: keys ``B04_10m``, ``raster:scale``/``raster:offset``,
    ``bands``) with its JPEG2000 files downloaded next to it."""
    bands, _ = sample(date)
    name = product_name(date)
    folder = Path(root) / f"cdse_{date}"
    granule = f"L2A_{TILE}_A027915_{date}T102603"
    assets = {}
    for b, key in ESA_NAME.items():
        res = NATIVE[b]
        fname = f"{TILE}_{date}T102559_{key}_{res}m.jp2"
        write_raster(folder / fname, stored(at_resolution(bands[b], res, b), b, -1000), res,
                     driver="JP2OpenJPEG", nodata=None)
        s3 = (f"s3://eodata/Sentinel-2/MSI/L2A/{date[:4]}/{date[4:6]}/{date[6:]}/{name}.SAFE/GRANULE/"
              f"{granule}/IMG_DATA/R{res}m/{fname}")
        a = {"href": s3, "type": "image/jp2", "roles": ["data"], "gsd": res, "nodata": 0,
             "alternate": {"https": {"href": f"https://eodata.dataspace.copernicus.eu/{s3[5:]}"}}}
        if b != "SCL":
            a.update({"raster:scale": 0.0001, "raster:offset": -0.1,
                      "bands": [{"name": key, "eo:common_name": COMMON[b]}]})
            a["roles"] = ["data", "reflectance"]
        assets[f"{key}_{res}m"] = a
    item = {"type": "Feature", "stac_version": "1.1.0", "id": name, "collection": "sentinel-2-l2a",
            "bbox": _bbox(), "geometry": _geometry(_bbox()), "links": [],
            "properties": {"datetime": _iso(date), "platform": "sentinel-2b", "eo:cloud_cover": cloud(date),
                           "proj:code": CRS, "grid:code": f"MGRS-{TILE[1:]}", "processing:level": "L2",
                           "product:type": "S2MSI2A", "processing:version": "04.00"},
            "assets": assets}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(item, indent=1))
    return path


def item_collection(paths: list[Path], dst: Path) -> Path:
    """The items of several item files as one ItemCollection, their hrefs rewritten to the
    downloaded files (absolute paths), as asset downloaders do."""
    feats = []
    for p in paths:
        item = json.loads(Path(p).read_text())
        for a in item["assets"].values():
            local = Path(p).parent / a["href"].split("?")[0].rsplit("/", 1)[-1]
            if local.is_file():
                a["href"] = str(local.resolve())
        feats.append(item)
    dst.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return dst


def write_stack(path: Path, date: str = "20220715", *, crs: str = CRS, cols: slice | None = None) -> Path:
    """The sample's scene as a 10 m GeoTIFF stack with band descriptions, optionally only some
    columns, in another CRS (another UTM zone: bilinear, SCL nearest) or as it is."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(SAMPLE / f"S2_L2A_{date}_sample.tif") as src:
        data, transform = src.read(), src.transform
        if cols is not None:
            data = data[:, :, cols]
            transform = transform * rasterio.Affine.translation(cols.start or 0, 0)
        h, w = data.shape[1:]
        if crs != src.crs.to_string():
            bounds = rasterio.transform.array_bounds(h, w, transform)
            dst_t, dw, dh = calculate_default_transform(src.crs, crs, w, h, *bounds, resolution=10)
            out = np.zeros((src.count, dh, dw), np.uint16)
            for i in range(src.count):
                scl = src.descriptions[i] == "SCL"
                reproject(data[i], out[i], src_transform=transform, src_crs=src.crs, dst_transform=dst_t,
                          dst_crs=crs, resampling=Resampling.nearest if scl else Resampling.bilinear,
                          src_nodata=0, dst_nodata=0)
            data, transform = out, dst_t
        prof = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=src.count,
                    dtype="uint16", crs=crs, transform=transform, nodata=0, compress="deflate")
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(data)
            for i, d in enumerate(src.descriptions):
                dst.set_band_description(i + 1, d)
            dst.update_tags(ACQUISITION_DATE=f"{date[:4]}-{date[4:6]}-{date[6:]}")
    return path
