"""Loss, checkpoints, learning and resume of the forecaster (small model, 16x16 crops)."""
from __future__ import annotations

import json

import pytest
import torch

from rs_embed_qgis.engine.errors import ModelError, SpecError
from rs_embed_qgis.engine.forecast import checkpoint as C
from rs_embed_qgis.engine.forecast.data import GreenEarthNetDataset, NormStats, synthetic_minicube
from rs_embed_qgis.engine.forecast.losses import DeltaRegressionLoss, log_cosh
from rs_embed_qgis.engine.forecast.model import ForecastConfig, ReflectanceForecaster
from rs_embed_qgis.engine.forecast.train import TrainConfig, evaluate, fit, warmup_lr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def packed(delta, mask=None):
    b, t, c, h, w = delta.shape
    mask = torch.ones(b, t, 1, h, w) if mask is None else mask
    return torch.cat([mask, delta, torch.zeros_like(delta)], dim=2)


# ------------------------------------------------------------------ loss
def test_loss_defaults_and_perfect_prediction():
    loss = DeltaRegressionLoss()
    assert loss.regression_weight == 5.0 and loss.edge_weight == 0.1
    d = torch.randn(2, 20, 4, 8, 8)
    assert float(loss(d, packed(d))) == pytest.approx(0.0, abs=1e-6)


def test_loss_penalises_underprediction_1_5x():
    loss = DeltaRegressionLoss(regression_weight=1.0, edge_weight=0.0)
    true = torch.full((1, 1, 4, 2, 2), 1.0)
    under = loss(torch.full_like(true, 0.5), packed(true))
    over = loss(torch.full_like(true, 1.5), packed(true))
    assert float(under) == pytest.approx(1.5 * float(over), rel=1e-5)
    assert float(over) == pytest.approx(float(log_cosh(torch.tensor(0.5))), rel=1e-5)


def test_loss_ignores_cloudy_pixels_and_counts_edges():
    loss = DeltaRegressionLoss(regression_weight=1.0, edge_weight=0.0)
    true = torch.zeros(1, 2, 4, 4, 4)
    mask = torch.ones(1, 2, 1, 4, 4)
    mask[:, :, :, 0, 0] = 0
    pred = torch.zeros_like(true)
    pred[:, :, :, 0, 0] = 100.0                       # huge error, but under a cloud
    assert float(loss(pred, packed(true, mask))) == pytest.approx(0.0, abs=1e-6)
    edge = DeltaRegressionLoss(regression_weight=0.0, edge_weight=1.0)
    shifted = torch.full_like(true, 0.3)               # constant error: no edge difference
    assert float(edge(shifted, packed(true))) == pytest.approx(0.0, abs=1e-6)
    stripes = torch.zeros_like(true)
    stripes[..., ::2] = 0.3                            # spatial structure the target lacks
    assert float(edge(stripes, packed(true))) > 0.1


def test_loss_shape_errors():
    with pytest.raises(SpecError, match="y_true"):
        DeltaRegressionLoss()(torch.zeros(1, 20, 4, 2, 2), torch.zeros(1, 20, 5, 2, 2))


# ------------------------------------------------------------------ checkpoints
def test_checkpoint_roundtrip_is_atomic_and_safe(tmp_path):
    cfg = ForecastConfig.small(height=8, width=8)
    model = ReflectanceForecaster(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(_batch(cfg)).sum().backward()
    opt.step()
    norm = NormStats((0.0, 0.0, 0.0, 0.0), (0.2, 0.2, 0.2, 0.5))
    w = C.save_checkpoint(tmp_path / "model_at_3", model, norm=norm, epoch=3, optimizer=opt,
                          train_state={"plateau_bad": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_at_3.json", "model_at_3.optim.pt",
                                                          "model_at_3.safetensors"]
    flat = torch.load(tmp_path / "model_at_3.optim.pt", weights_only=True)
    assert all(torch.is_tensor(v) for v in flat.values())
    loaded, n2, info = C.load_forecast_model(w)
    assert info["epoch"] == 3 and n2 == norm and loaded.cfg == cfg
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    model2 = ReflectanceForecaster(cfg)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=5.0)
    state = C.load_training_state(w, model2, opt2)
    assert state["train_state"]["plateau_bad"] == 1
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-3)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert torch.equal(s1[0]["exp_avg"], s2[0]["exp_avg"]) and float(s2[0]["step"]) == 1.0
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="broken.safetensors"):
        C.load_forecast_model(tmp_path / "broken.safetensors")


def _batch(cfg):
    h, w = cfg.height, cfg.width
    return {"sentinel2_sequence": torch.rand(1, 10, 4, h, w), "landcover_map": torch.zeros(1, 10, h, w),
            "temporal_metadata": torch.zeros(1, 3), "weather_sequence": torch.zeros(1, 20, 21),
            "target_start_doy": torch.zeros(1, 1)}


# ------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    for i in range(3):
        synthetic_minicube(root / "train" / "32UNU" / f"c{i}.nc", size=16, seed=i)
    for i in range(2):
        synthetic_minicube(root / "val" / "32UNU" / f"v{i}.nc", size=16, seed=50 + i)
    train = GreenEarthNetDataset(root / "train")
    val = GreenEarthNetDataset(root / "val", train.norm, random_crop=False)
    return train, val


def test_a_few_epochs_lower_the_validation_loss_clearly(splits, tmp_path):
    train, val = splits
    mcfg = ForecastConfig.small(height=16, width=16)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(val, batch_size=1)
    before = evaluate(ReflectanceForecaster(mcfg), loader, DeltaRegressionLoss())
    cfg = TrainConfig(epochs=6, learning_rate=3e-3, warmup_epochs=1, checkpoint_dir=str(tmp_path / "ck"),
                      log_dir=str(tmp_path / "logs"), seed=0)
    res = fit(train, val, mcfg, cfg)
    after = res["history"][-1]["val_loss"]
    assert after < 0.6 * before, (before, [h["val_loss"] for h in res["history"]])
    assert (tmp_path / "ck" / "model_at_6.safetensors").exists()
    assert res["best_checkpoint"].endswith("model_best.safetensors")
    assert any((tmp_path / "logs").iterdir())            # TensorBoard event file


def test_resume_continues_at_the_right_epoch_and_learning_rate(splits, tmp_path):
    train, val = splits
    mcfg = ForecastConfig.small(height=16, width=16)
    ck = tmp_path / "ck"
    base = 2e-3
    cfg = TrainConfig(epochs=2, learning_rate=base, warmup_epochs=4, checkpoint_dir=str(ck), log_dir=None)
    first = fit(train, val, mcfg, cfg)
    assert [h["lr"] for h in first["history"]] == pytest.approx([base / 4, base / 2])
    saved = json.loads((ck / "model_at_2.json").read_text())
    assert saved["epoch"] == 2
    steps_before = torch.load(ck / "model_at_2.optim.pt", weights_only=True)["0.step"]
    cfg2 = TrainConfig(epochs=5, learning_rate=base, warmup_epochs=4, checkpoint_dir=str(ck), log_dir=None)
    second = fit(train, val, None, cfg2, resume_from=str(ck / "model_at_2.safetensors"), initial_epoch=2)
    hist = second["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5]          # history kept, continued at 3
    assert hist[2]["lr"] == pytest.approx(warmup_lr(base, 2, 4)) == pytest.approx(0.75 * base)
    assert hist[4]["lr"] == pytest.approx(base)
    steps_after = torch.load(ck / "model_at_5.optim.pt", weights_only=True)["0.step"]
    assert float(steps_after) == float(steps_before) + 3 * len(train)   # optimizer moments carried on
    assert not (ck / "model_at_6.safetensors").exists()


def test_plateau_reduces_learning_rate_after_warmup(splits, tmp_path):
    train, val = splits
    cfg = TrainConfig(epochs=4, learning_rate=1e-9, warmup_epochs=1, plateau_patience=1, plateau_factor=0.5,
                      min_lr=1e-12, min_delta=1.0, early_stopping_patience=100,
                      checkpoint_dir=str(tmp_path / "ck"), log_dir=None)
    res = fit(train, val, ForecastConfig.small(height=16, width=16), cfg)
    lrs = [h["lr"] for h in res["history"]]
    assert lrs == pytest.approx([1e-9, 1e-9, 0.5e-9, 0.25e-9])


def test_early_stopping(splits, tmp_path):
    train, val = splits
    cfg = TrainConfig(epochs=10, learning_rate=1e-9, warmup_epochs=1, early_stopping_patience=2,
                      min_delta=1.0,
                      checkpoint_dir=str(tmp_path / "ck"), log_dir=None)
    res = fit(train, val, ForecastConfig.small(height=16, width=16), cfg)
    assert res["stopped_early"] and len(res["history"]) == 3


def test_train_script_trains_and_resumes(splits, tmp_path, capsys):
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(
        "train_forecast", pathlib.Path(__file__).resolve().parents[2] / "scripts" / "train_forecast.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    train, val = splits
    tdir, vdir = train.files[0].parent.parent, val.files[0].parent.parent
    ck = tmp_path / "ck"
    common = ["--train_dir", str(tdir), "--val_dir", str(vdir), "--small", "--crop", "8",
              "--checkpoint_dir", str(ck), "--log_dir", "", "--threads", "1"]
    assert mod.main(common + ["--epochs", "1"]) == 0
    assert mod.main(common + ["--epochs", "2", "--resume_from", str(ck / "model_at_1.safetensors"),
                              "--initial_epoch", "1"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1:" in out and "epoch 2:" in out
    state = json.loads((ck / "model_at_2.json").read_text())
    assert state["epoch"] == 2 and [h["epoch"] for h in state["train_state"]["history"]] == [1, 2]
    assert state["config"]["filters"] == [8, 12, 16]
