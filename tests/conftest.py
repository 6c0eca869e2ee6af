import shutil
from pathlib import Path

import pytest
import torch

from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.model import RSSM, RSSMConfig

WEB = Path(__file__).resolve().parents[1] / "rssm" / "web"  # the Play page's JavaScript
NODE = shutil.which("node")
# For tests that run the page's JavaScript with node: skipped, with the reason, where it is missing.
requires_node = pytest.mark.skipif(
    NODE is None, reason="node (Node.js) is not installed: the page's JavaScript cannot run here"
)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)


@pytest.fixture
def small_model_config() -> RSSMConfig:
    return RSSMConfig(image_size=16, deter_dim=16, stoch_dim=4, hidden_dim=16, embed_dim=16, cnn_depth=4, cnn_layers=2)


@pytest.fixture
def small_model(small_model_config) -> RSSM:
    return RSSM(small_model_config)


@pytest.fixture
def small_data_config() -> MovingDotConfig:
    return MovingDotConfig(grid_size=16, seq_len=12, occluder_min_size=3, occluder_max_size=5)


@pytest.fixture
def small_batch(small_data_config):
    return generate_moving_dot_sequences(small_data_config, 3, seed=0)
