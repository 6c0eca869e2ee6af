"""rssm: a small Recurrent State-Space Model (PlaNet/Dreamer world model) on a moving-dot world.

The package mirrors the book's chapters, in layers whose imports point down:

- at the bottom ``config``: how every config dataclass checks its fields (it imports nothing from here);
- the world ``dataset`` (ch. 1), the latents ``distributions`` (Gaussian and categorical; ch. 10) and
  the ``model`` (ch. 2-3);
- the objective ``losses`` (ch. 4, 8); ``utils`` (seeding, devices);
- ``evaluate`` (open-loop protocol, baselines, probes, sampled beliefs; ch. 5-7) and ``checkpoint``;
- ``planning`` (ch. 11): model-predictive control with the cross-entropy method in the learned model;
- pictures: ``style`` (the book-wide figure style), ``figures``, ``players`` (kernel-free animations)
  and ``widgets`` (live explorers); ``export`` (the model as ONNX graphs for the Play page) and
  ``play`` (the same player as a notebook widget);
- ``train`` (the loop) and, on top, ``cli`` (the ``rssm-train`` command line, also ``python -m rssm.cli``).

``set_seed``, ``kl_balance`` and ``reconstruction_loss`` are importable from here too; their homes are
``rssm.utils`` (seeding) and ``rssm.losses`` (the objective).
"""

from rssm.checkpoint import Checkpoint, load_checkpoint, load_pretrained, save_checkpoint
from rssm.dataset import (
    MovingDotConfig,
    MovingDotDataset,
    collate_moving_dot,
    generate_moving_dot_sequences,
)
from rssm.model import RSSM, CNNDecoder, CNNEncoder, RSSMConfig, RSSMOutput
from rssm.utils import kl_balance, reconstruction_loss, set_seed

__version__ = "0.1.0"  # pyproject.toml's; a checkpoint records the installed one (rssm.checkpoint.library_versions)

__all__ = [
    "RSSM",
    "CNNDecoder",
    "CNNEncoder",
    "Checkpoint",
    "MovingDotConfig",
    "MovingDotDataset",
    "RSSMConfig",
    "RSSMOutput",
    "collate_moving_dot",
    "generate_moving_dot_sequences",
    "kl_balance",
    "load_checkpoint",
    "load_pretrained",
    "reconstruction_loss",
    "save_checkpoint",
    "set_seed",
]
