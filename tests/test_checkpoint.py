"""Checkpoints: round trip, atomic writes, and clear errors for bad files."""

from pathlib import Path

import pytest
import torch

from rssm.checkpoint import load_checkpoint, save_checkpoint
from rssm.dataset import MovingDotConfig


def _save(tmp_path: Path, model, data_config) -> Path:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = {"loss": [3.0, 2.0], "epoch": [1]}
    return save_checkpoint(tmp_path / "model.pt", model, data_config, {"lr": 1e-3}, history, optimizer)


def test_round_trip_restores_weights_configs_history_and_versions(tmp_path, small_model, small_data_config, small_batch):
    path = _save(tmp_path, small_model, small_data_config)
    loaded = load_checkpoint(path)
    assert loaded.data_config == small_data_config
    assert loaded.model.config == small_model.config
    assert loaded.history == {"loss": [3.0, 2.0], "epoch": [1.0]}
    assert not loaded.model.training
    assert set(loaded.versions) >= {"rssm", "torch"}
    assert loaded.optimizer_state is not None
    small_model.eval()
    with torch.no_grad():
        a = small_model.observe(small_batch["obs"], small_batch["actions"], sample=False).recon
        b = loaded.model.observe(small_batch["obs"], small_batch["actions"], sample=False).recon
    torch.testing.assert_close(a, b)


def test_the_recorded_rssm_version_is_the_installed_distributions_or_unknown(monkeypatch):
    from importlib import metadata

    from rssm.checkpoint import library_versions

    monkeypatch.setattr(metadata, "version", lambda name: {"rssm-book": "9.9.9"}[name])
    assert library_versions()["rssm"] == "9.9.9"

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert library_versions()["rssm"] == "unknown"


def test_checkpoint_loads_with_weights_only(tmp_path, small_model, small_data_config):
    path = _save(tmp_path, small_model, small_data_config)
    payload = torch.load(path, weights_only=True)
    assert payload["model_config"]["deter_dim"] == small_model.config.deter_dim


def test_saving_leaves_no_temporary_files(tmp_path, small_model, small_data_config):
    _save(tmp_path, small_model, small_data_config)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_a_failed_save_keeps_the_previous_file_intact(tmp_path, small_model, small_data_config, monkeypatch):
    path = _save(tmp_path, small_model, small_data_config)
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, small_model, small_data_config)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_missing_file_raises_file_not_found_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_corrupt_file_raises_value_error_naming_the_path(tmp_path, small_model, small_data_config):
    path = _save(tmp_path, small_model, small_data_config)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="model.pt"):
        load_checkpoint(path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        load_checkpoint(garbage)


def test_foreign_or_incompatible_files_raise_value_error(tmp_path, small_model, small_data_config):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt.*not an rssm checkpoint"):
        load_checkpoint(foreign)
    path = _save(tmp_path, small_model, small_data_config)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["deter_dim"] += 1  # weights no longer fit
    torch.save(payload, path)
    with pytest.raises(ValueError, match="incompatible"):
        load_checkpoint(path)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(ValueError, match="format 99"):
        load_checkpoint(path)


def test_data_config_survives_with_non_default_values(tmp_path, small_model):
    config = MovingDotConfig(grid_size=16, seq_len=9, use_occlusion=False, dot_sigma=1.5)
    path = _save(tmp_path, small_model, config)
    assert load_checkpoint(path).data_config == config


def test_a_categorical_model_round_trips_with_its_latent(tmp_path, small_model_config, small_data_config, small_batch):
    from dataclasses import replace

    from rssm.model import RSSM

    model = RSSM(replace(small_model_config, latent="categorical", classes=6, unimix=0.05)).eval()
    loaded = load_checkpoint(_save(tmp_path, model, small_data_config))
    assert loaded.model.config == model.config
    assert (loaded.model.config.latent, loaded.model.config.classes, loaded.model.config.unimix) == ("categorical", 6, 0.05)
    obs, actions = small_batch["obs"], small_batch["actions"]
    with torch.no_grad():
        for a, b in ((model.observe(obs, actions, sample=False), loaded.model.observe(obs, actions, sample=False)),):
            torch.testing.assert_close(a.recon, b.recon)
            torch.testing.assert_close(a.posterior.logits, b.posterior.logits)
        torch.testing.assert_close(model.open_loop_rollout(obs[:, :4], actions[:, :4], actions[:, 4:], 4),
                                   loaded.model.open_loop_rollout(obs[:, :4], actions[:, :4], actions[:, 4:], 4))


def test_a_checkpoint_written_before_the_latent_choice_loads_as_a_gaussian_model(tmp_path, small_model, small_data_config):
    path = _save(tmp_path, small_model, small_data_config)
    payload = torch.load(path, weights_only=True)
    for name in ("latent", "classes", "unimix"):
        del payload["model_config"][name]
    torch.save(payload, path)
    assert load_checkpoint(path).model.config == small_model.config


def test_a_checkpoint_of_one_latent_refuses_the_weights_of_the_other(tmp_path, small_model, small_data_config):
    path = _save(tmp_path, small_model, small_data_config)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["latent"] = "categorical"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="incompatible"):
        load_checkpoint(path)


@pytest.mark.parametrize("name, latent", [("gaussian_pair", "gaussian"), ("categorical_pair", "categorical")])
def test_chapter_9s_pair_ships_small_with_its_latent_and_the_same_recipe(name, latent):
    from rssm.checkpoint import PRETRAINED, load_pretrained

    assert PRETRAINED[name].stat().st_size < 5 * 2**20
    checkpoint = load_pretrained(name)
    other = load_pretrained("categorical_pair" if latent == "gaussian" else "gaussian_pair")
    assert checkpoint.model.config.latent == latent and checkpoint.data_config.use_occlusion
    assert checkpoint.train_config == other.train_config and checkpoint.data_config == other.data_config
    assert checkpoint.step == other.step == len(checkpoint.history["loss"]) == 4000


def test_a_file_that_is_no_checkpoint_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("garbage")
    with pytest.raises(ValueError, match="not a readable rssm checkpoint") as error:
        load_checkpoint(bad)
    assert "\n" not in str(error.value)


def test_a_checkpoint_is_named_by_a_shipped_name_or_a_path(tmp_path, small_model, small_data_config):
    from rssm.checkpoint import PRETRAINED, checkpoint_path

    assert checkpoint_path("categorical_pair") == PRETRAINED["categorical_pair"]
    saved = save_checkpoint(tmp_path / "model.pt", small_model, small_data_config, {}, {})
    assert checkpoint_path(str(saved)) == saved
    with pytest.raises(ValueError, match="'nope': no such file, and not a shipped model"):
        checkpoint_path("nope")
