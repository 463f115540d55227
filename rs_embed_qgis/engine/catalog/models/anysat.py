"""AnySat (Astruc et al., CVPR 2025): a resolution-adaptive JEPA model on Sentinel-2 time series."""
from ...weights import WeightsSpec
from ..entry import S2_10, ModelEntry, Normalisation, Variant, s2_sensor

ENV = "RS_EMBED_ANYSAT_CKPT"
NORM = Normalisation("series resized to img (24) px, then per band over (T, H, W): (x - mean) / std "
                     "('per_tile_zscore'; option norm='unit_scale' (/10000) or 'raw')")


def _unpublished(size: str) -> WeightsSpec:
    return WeightsSpec(env_var=ENV, cache_name=f"AnySat_{size}.pth",
                       note=f"no published {size} weights: pass your own file (official key layout)")


ENTRY = ModelEntry(
    id="anysat",
    kind="embedder",
    module="embedders.anysat",
    cls="AnySatEmbedder",
    family="AnySat (JEPA multi-modal, resolution-adaptive; S2 time series + day-of-year)",
    description=(
        "AnySat (Astruc et al., CVPR 2025) on a Sentinel-2 10-band time series: the window "
        "is split into T bins (RS_EMBED_ANYSAT_FRAMES, default 8), one composite per bin, "
        "day-of-year of each bin midpoint as s2_dates; patch size = output.scale_m. "
        "Network in plain torch with the official parameter names."),
    default_sensor=s2_sensor(S2_10, fill_value=0.0),
    temporal_mode="range split into T bins, one composite per bin (year/None -> range)",
    outputs=("pooled", "grid"),
    side_inputs=("s2_dates",),
    requires=("torch",),
    paper="https://arxiv.org/abs/2412.14123",
    variants=(
        Variant("base", config="base", embedding_dim=768, aliases=("b",), normalisation=NORM,
                weights=WeightsSpec(
                    env_var=ENV, hf_repo="g-astruc/AnySat", hf_filename="models/AnySat.pth",
                    url="https://huggingface.co/g-astruc/AnySat/resolve/main/models/AnySat.pth",
                    cache_name="AnySat.pth",
                    note=("official base checkpoint, a torch file {'state_dict': ...} with AnyModule keys "
                          "(no prefix)"))),
        Variant("small", config="small", embedding_dim=512, aliases=("s",), normalisation=NORM,
                weights=_unpublished("small")),
        Variant("tiny", config="tiny", embedding_dim=256, aliases=("t",), normalisation=NORM,
                weights=_unpublished("tiny")),
    ),
)
