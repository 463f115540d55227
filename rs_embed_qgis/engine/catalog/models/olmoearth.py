"""OlmoEarth v1 (Ai2, allenai/olmoearth_pretrain): a multi-modal FlexiViT on S2 L2A / S1 time series."""
from ...specs import SensorSpec
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

#: Sentinel-2 L2A B1..B12 without B10, in the model's band-set order (10 m | 20 m | 60 m)
S2_BANDS = ("B2", "B3", "B4", "B8", "B5", "B6", "B7", "B8A", "B11", "B12", "B1", "B9")
#: upstream Normalizer(Strategy.COMPUTED), std multiplier 2 (data/norm_configs/computed.json)
S2_NORM = Normalisation(
    "(x - (mean - 2 std)) / (4 std) per band on reflectance x 10000 (pretraining statistics); "
    "missing pixels -> the frame's band mean",
    mean=(1188.9412572078477, 1407.7739105458452, 1513.0573882432757, 2755.481305028308, 1890.9893042634167,
          2483.7812315422448, 2722.728248756412, 2885.570263047681, 2562.852607796968, 1914.1383249044113,
          1115.8494388252218, 3269.812554170875),
    std=(1859.1923971769581, 1727.7387413631088, 1740.7757298757895, 1612.2565699990187, 1754.7320388511766,
         1622.1172720635755, 1621.8226170190276, 1611.3587521042082, 1441.5471830655151, 1328.8914382756407,
         1955.6991794280914, 2651.088425085525))
S1_COLLECTION = "COPERNICUS/S1_GRD"
S1_NORM = Normalisation("(x - (mean - 2 std)) / (4 std) per band on backscatter in dB (pretraining statistics)",
                        mean=(-11.648990747328444, -17.745436133270044), std=(10.840350299936597, 10.216274681392647))


def _weights(name: str) -> WeightsSpec:
    # no revision or sha256 could be established here (no internet): download needs allow_unverified
    return WeightsSpec(env_var="RS_EMBED_OLMOEARTH_CKPT", hf_repo=f"allenai/OlmoEarth-v1-{name}",
                       hf_filename="weights.pth", cache_name=f"OlmoEarth-v1-{name}.pth",
                       note="LatentMIM state dict; encoder.* is loaded, the rest set aside by name")


ENTRY = ModelEntry(
    id="olmoearth",
    kind="embedder",
    module="embedders.olmoearth",
    cls="OlmoEarthEmbedder",
    family="OlmoEarth v1 (Ai2 multi-modal FlexiViT; S2 L2A or S1 time series + months)",
    description=(
        "OlmoEarth v1 (Ai2, allenai/olmoearth_pretrain) base by default (variants 'nano', 'tiny', 'large') "
        "on a Sentinel-2 L2A 12-band time series (B1-B12 without B10; model option modality='s1' for "
        "Sentinel-1 VV/VH in dB, Earth Engine backend only): one composite per month of the window (at "
        "most 12; frames: 'monthly' or a count), empty bins dropped, 64 px, pretraining normalisation, "
        "the month of each frame as side input. grid = 8 px patch tokens averaged over frames and band "
        "sets (768 x 8 x 8 for base); pooled = their mean."),
    default_sensor=s2_sensor(S2_BANDS, fill_value=0.0),
    temporal_mode=("window-adaptive: one bin per month of the window, at most 12 (frames='monthly', "
                   "default) or a fixed count; empty bins dropped and listed in meta"),
    outputs=("pooled", "grid"),
    side_inputs=("months: month (0-11) of each frame's midpoint",
                 "input_res: metres per pixel of the model input"),
    requires=("torch",),
    aliases=("olmoearth_v1",),
    paper="https://arxiv.org/abs/2511.13655",
    variants=tuple(
        Variant(size, config=size, embedding_dim=dim, aliases=(f"{size}_v1", f"olmoearth-v1-{size}"),
                normalisation=S2_NORM, weights=_weights(size.capitalize()))
        for size, dim in (("base", 768), ("nano", 128), ("tiny", 192), ("large", 1024))),
    extra={"modalities": {
        "s2": {"field": "sentinel2_l2a", "band_sets": 3},
        "s1": {"field": "sentinel1", "band_sets": 1, "normalisation": S1_NORM,
               "sensor": SensorSpec(collection=S1_COLLECTION, bands=("VV", "VH"), scale_m=10, cloudy_pct=100,
                                    composite="median", fill_value=0.0)}}},
)
