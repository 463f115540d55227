"""Where the official checkpoints of the ViT family live (no torch import here, so the
catalog can describe the models where torch is missing).

Files are used exactly as published. Hugging Face files are fetched with
``huggingface_hub``; SatMAE's (Zenodo) and ScaleMAE's (GitHub release) by URL.
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
    for size in ("300M", "100M")
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

DOFA: dict[str, WeightsSpec] = {
    size: WeightsSpec(env_var="RS_EMBED_DOFA_CKPT", hf_repo="earthflow/DOFA",
                      hf_filename=f"DOFA_ViT_{size}_e100.pth",
                      note="DOFA pretraining state dict (no prefix); mask_token and the distillation projector "
                           "are set aside")
    for size in ("base", "large")
}

CLAY: dict[str, WeightsSpec] = {
    "large": WeightsSpec(env_var="RS_EMBED_CLAY_CKPT", hf_repo="made-with-clay/Clay", hf_filename="v1.5/clay-v1.5.ckpt",
                         note="Lightning checkpoint {'state_dict': ...}; model.encoder.* is loaded, the decoder, "
                              "the SAM teacher (model.teacher.*) and model.proj.* are set aside"),
}

TERRAMIND: dict[str, WeightsSpec] = {
    size: WeightsSpec(env_var="RS_EMBED_TERRAMIND_CKPT", hf_repo=f"ibm-esa-geospatial/TerraMind-1.0-{size}",
                      hf_filename=f"TerraMind_v1_{size}.pt",
                      note="the whole TerraMind encoder-decoder; the encoder of the raw modalities in use is "
                           "loaded, the rest (decoder, other modalities' embeddings) is set aside")
    for size in ("tiny", "small", "base", "large")
}

SATVISION: dict[str, WeightsSpec] = {
    "giant": WeightsSpec(env_var="RS_EMBED_SATVISION_CKPT",
                         hf_repo="nasa-cisto-data-science-group/satvision-toa-giant-patch8-window8-128",
                         hf_filename="mp_rank_00_model_states.pt",
                         note="DeepSpeed model states {'module': ...} of the SimMIM model (about 12 GB): encoder.* is "
                              "loaded, encoder.mask_token and the SimMIM decoder.* are set aside"),
}
