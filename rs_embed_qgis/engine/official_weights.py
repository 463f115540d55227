"""Where the official checkpoints of the ViT family and AgriFM live (no torch import here, so the
catalog can describe the models where torch is missing).

Files are used exactly as published. Hugging Face files are fetched with
``huggingface_hub``; SatMAE's (Zenodo), ScaleMAE's (GitHub release) and AgriFM's (GLASS) by URL.
No size or hash is published for these files, so none is checked beyond what
the hosts guarantee; users can pin one through their own copy.
"""
from __future__ import annotations

from .weights import WeightsSpec

REMOTECLIP: dict[str, WeightsSpec] = {
    name: WeightsSpec(env_var="RS_EMBED_REMOTECLIP_CKPT", hf_repo="chendelong/RemoteCLIP",
                      hf_filename=f"RemoteCLIP-{name}.pt",
                      note="full open_clip CLIP state dict; visual.* is loaded, the text tower is set aside")
    for name in ("ViT-B-32", "ViT-L-14")
}

PRITHVI: dict[str, WeightsSpec] = {
    size: WeightsSpec(env_var="RS_EMBED_PRITHVI_CKPT", hf_repo=f"ibm-nasa-geospatial/Prithvi-EO-2.0-{size}-TL",
                      hf_filename=f"Prithvi_EO_V2_{size}_TL.pt",
                      note="full PrithviMAE state dict; encoder.* is loaded, decoder.* set aside")
    for size in ("300M", "100M", "600M")
}

SATMAE: dict[str, WeightsSpec] = {
    "rgb": WeightsSpec(env_var="RS_EMBED_SATMAE_CKPT", url="https://zenodo.org/record/7369797/files/fmow_pretrain.pth",
                       cache_name="fmow_pretrain.pth",
                       note="SatMAE fMoW-RGB ViT-L/16 pretraining checkpoint (800 epochs), {'model': state_dict}"),
    "multispectral": WeightsSpec(env_var="RS_EMBED_SATMAE_MS_CKPT",
                                 url="https://zenodo.org/record/7338613/files/pretrain-vit-large-e199.pth",
                                 cache_name="pretrain-vit-large-e199.pth",
                                 note="SatMAE fMoW-Sentinel group-channel ViT-L/8 pretraining checkpoint (200 epochs)"),
}

SATMAEPP: dict[str, WeightsSpec] = {
    "rgb": WeightsSpec(env_var="RS_EMBED_SATMAEPP_CKPT", hf_repo="mubashir04/checkpoint_ViT-L_pretrain_fmow_rgb",
                       hf_filename="checkpoint_ViT-L_pretrain_fmow_rgb.pth",
                       note="SatMAE++ fMoW-RGB ViT-L/16 pretraining checkpoint, {'model': state_dict}"),
    "multispectral": WeightsSpec(env_var="RS_EMBED_SATMAEPP_MS_CKPT",
                                 hf_repo="mubashir04/checkpoint_ViT-L_pretrain_fmow_sentinel",
                                 hf_filename="checkpoint_ViT-L_pretrain_fmow_sentinel.pth",
                                 note="SatMAE++ fMoW-Sentinel group-channel ViT-L/8 pretraining checkpoint"),
}

SCALEMAE: dict[str, WeightsSpec] = {
    "vitlarge-800": WeightsSpec(
        env_var="RS_EMBED_SCALEMAE_CKPT",
        url="https://github.com/bair-climate-initiative/scale-mae/releases/download/base-800/scalemae-vitlarge-800.pth",
        cache_name="scalemae-vitlarge-800.pth",
        note="ScaleMAE ViT-L/16 pretraining checkpoint (800 epochs), {'model': state_dict}"),
}

#: the GLASS website's folder (https://glass.hku.hk/casual/AgriFM/, linked from the AgriFM
#: README beside a OneDrive share) serves the file over plain https, so it is fetched like
#: the Zenodo files; no size or hash is published for it
AGRIFM = WeightsSpec(
    env_var="RS_EMBED_AGRIFM_CKPT", url="https://glass.hku.hk/casual/AgriFM/AgriFM.pth", cache_name="AgriFM.pth",
    note=("AgriFM pretraining checkpoint: S2_patch_emd.* and backbone.* (the Sentinel-2 encoder) are loaded, "
          "the Landsat/MODIS patch embeddings (HLSL30_patch_emd.*, Modis_patch_emd.*) set aside"))
