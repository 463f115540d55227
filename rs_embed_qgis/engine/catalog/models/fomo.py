"""FoMo-Net (Bountos et al. 2024, FoMo-Bench): a spectral-token ViT, one token sequence
per band, pretrained as a masked autoencoder on a mix of forest-monitoring datasets."""
from ...weights import WeightsSpec
from ..entry import ModelEntry, Normalisation, Variant, s2_sensor

S2_12 = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
#: FoMo-Bench ``configs/stats/stats.json``, per band of S2_12: "tallos" (the Sentinel-2 set of
#: FoMo-Net's pretraining mix) for B2..B12, and for B1, B9 (TalloS has neither) "ssl4eos1s2"
STANDARD_NORM = Normalisation(
    "(x - mean) / std on reflectance x 10000 (FoMo-Bench 'standard'); 64 px",
    mean=(752.40087073, 1283.97119, 1438.82031, 1378.67847, 1819.70667, 2835.08765, 3202.86938,
          3276.03394, 3422.51392, 2645.51888987, 2305.23926, 1555.97595),
    std=(1108.02887453, 2028.46753, 1908.08655, 1912.57837, 1931.35449, 1730.66138, 1714.06738,
         1679.35315, 1671.14331, 1582.28010962, 1351.27197, 1257.4989))

ENTRY = ModelEntry(
    id="fomo",
    kind="embedder",
    module="embedders.fomo",
    cls="FoMoEmbedder",
    family="FoMo-Net (spectral-token ViT: one token sequence per band)",
    description=(
        "FoMo-Net_1 (Bountos et al. 2024, FoMo-Bench): every band is its own sequence of 16 px patch "
        "tokens marked with the band's learned embedding, all bands through one ViT (768 wide, 12 deep). "
        "Sentinel-2 B1-B12 (12 bands; model option bands for a subset), (x - mean) / std with FoMo-Bench's "
        "statistics, 64 px. grid = patch tokens averaged over bands (768 x 4 x 4); pooled = their mean. "
        "Weights behind a Dropbox link: downloaded by hand."),
    default_sensor=s2_sensor(S2_12),
    temporal_mode="single composite over the window (median or mosaic)",
    outputs=("pooled", "grid"),
    side_inputs=("band keys: each band's index in FoMo's modality table",),
    requires=("torch",),
    aliases=("fomo_net", "fomo-net"),
    paper="https://arxiv.org/abs/2312.10114",
    variants=(
        Variant("fomo-net-1", config="fomo_net_1", embedding_dim=768, aliases=("fomo_net_1", "1"),
                normalisation=STANDARD_NORM,
                weights=WeightsSpec(
                    env_var="RS_EMBED_FOMO_CKPT", cache_name="fomo_single_embedding_layer_weights.pt",
                    manual_url=("https://www.dropbox.com/scl/fi/4ckmxlcbc0tcod8hknp7c/"
                                "fomo_single_embedding_layer_weights.pt?rlkey=26tlf3yaz93vvcosr0qrvklub&dl=0"),
                    note=("FoMo-Net_1 (FoMo-Bench README): the MultiSpectralViT state dict; mlp_head (the "
                          "pretraining classifier) is set aside. A Dropbox link: download it by hand"))),
    ),
)
