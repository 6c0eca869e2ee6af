"""Training: ``train(...)``, the loop that the notebooks, the ``rssm-train`` CLI and the benchmarks call.

An epoch is one pass over a fixed training set of ``train_sequences`` sequences (2560 by default,
so 80 gradient steps at batch size 32: ``--epochs 100`` is 8,000 steps). Each step trains on a random window of ``chunk_len`` frames
from every sequence in the batch (the fast CPU recipe, see chapter 4 and ``book/ablations.md``).

What a step minimises is the objective of :mod:`rssm.losses` (reconstruction + beta * balanced KL
with free bits); a variant is passed in with ``train(objective=...)``. The command line that wraps
this loop is :mod:`rssm.cli`.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rssm.checkpoint import Checkpoint
from rssm.config import Bounds, at_least, between, field_error, non_negative, positive
from rssm.dataset import MovingDotConfig, MovingDotDataset
from rssm.evaluate import VALIDATION
from rssm.losses import LossConfig, Objective, compute_loss, dot_weight_at, training_objective
from rssm.model import RSSM, RSSMConfig
from rssm.utils import resolve_device, set_seed

__all__ = [  # compute_loss and dot_weight_at live in rssm.losses (and are still importable from here)
    "NonFiniteLossError", "TrainConfig", "TrainState", "check_run", "compute_loss", "dot_weight_at", "gradient_step",
    "learning_rate_at", "new_history",
    "random_windows", "resumed_history", "train",
]

MAX_NONFINITE_STEPS = 5  # skipped steps in a row (non-finite loss or gradient) before training stops


@dataclass(frozen=True)
class TrainConfig(LossConfig):
    """How to train: the objective's settings (inherited from :class:`rssm.losses.LossConfig`) and the loop's.

    Defaults are the fast CPU recipe. ``rssm-train`` has one flag per field, with its comment as help.
    """

    seed: int = 42  # seeds the training set, the initialisation and the batches
    batch_size: int = 32  # sequences per gradient step
    epochs: int = 100  # passes over the training set
    lr: float = 3e-3  # Adam's peak learning rate, reached after the warm-up
    warmup_steps: int = 100  # linear learning-rate warm-up, in steps
    lr_final: float = 0.033  # cosine decay to lr * lr_final over the run's budget (1: constant; 0.033: to 1e-4)
    grad_clip: float = 100.0  # clip the global gradient norm at this value
    train_sequences: int = 2560  # size of the fixed training set (an epoch is one pass over it)
    chunk_len: int | None = 32  # train on random windows of this many frames (None or 0: whole sequences)
    max_steps: int | None = None  # stop after this many gradient steps in all
    max_minutes: float | None = None  # stop cleanly after this many minutes of this run, and save
    channels_last: bool = True  # conv memory layout: about 1.5x faster on CPU
    val_sequences: int = 64  # held-out sequences for the open-loop check after every epoch

    bounds: ClassVar[dict[str, Bounds]] = {  # the objective's (LossConfig.bounds) and the loop's; types are checked too
        **LossConfig.bounds, "batch_size": positive, "epochs": positive, "lr": positive, "warmup_steps": non_negative,
        "lr_final": between(0, 1), "grad_clip": positive, "train_sequences": positive,
        "chunk_len": at_least(2, "None or 0: whole sequences"), "max_steps": positive, "max_minutes": positive,
        "val_sequences": positive,
    }

    def __post_init__(self) -> None:
        if self.chunk_len == 0 and not isinstance(self.chunk_len, bool):
            object.__setattr__(self, "chunk_len", None)  # 0, as on the command line: whole sequences
        super().__post_init__()  # every field's type and bounds, and the objective's rules
        if self.train_sequences < self.batch_size:
            raise field_error(self, "train_sequences", f"must be at least batch_size={self.batch_size}")


class NonFiniteLossError(RuntimeError):
    """Raised after MAX_NONFINITE_STEPS skipped steps in a row; the model keeps its last finite weights."""


History = dict[str, list[float]]


STEP_KEYS = ("loss", "recon", "recon_unweighted", "kl", "lr", "grad_norm", "time_s")  # one value per step taken


def new_history() -> History:
    """Per step taken (:data:`STEP_KEYS`): loss, recon (weighted by the dot weight: what the optimiser
    sees), recon_unweighted (the summed squared error with every pixel counted once: the frame's own
    error), kl (all three in nats per frame), lr, grad_norm, time_s; per epoch: epoch, val_step,
    val_pos_err_h10 (pixels); and the steps that were skipped for a non-finite loss or gradient."""
    return {**{key: [] for key in STEP_KEYS}, "epoch": [], "val_pos_err_h10": [], "val_step": [], "skipped_step": []}


def resumed_history(saved: History) -> History:
    """A saved run's history with every key of :func:`new_history`, ready to go on appending.

    ``recon_unweighted`` came later than the other per-step keys: a history saved without it gets NaN
    for the steps it did not record, so that list keeps one value per step, aligned with ``loss``.
    """
    history = {**new_history(), **copy.deepcopy(saved)}
    missing = len(history["loss"]) - len(history["recon_unweighted"])
    history["recon_unweighted"] = [math.nan] * missing + history["recon_unweighted"]
    return history


@dataclass
class TrainState:
    """A run in progress: what the loop updates, and what a checkpoint keeps so the run can resume."""

    model: RSSM
    optimizer: torch.optim.Optimizer
    history: History = field(default_factory=new_history)
    step: int = 0  # gradient steps taken, skipped ones included
    epoch: int = 0  # passes over the training set begun and ended (the last may be cut short)
    seconds: float = 0.0  # training time so far, over every resumed run


def random_windows(batch: dict[str, torch.Tensor], length: int | None, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop every sequence of the batch to its own random window of ``length`` frames.

    Returns (obs (B, L, C, H, W), actions (B, L, A)). Each window starts from the model's zero state,
    exactly like a whole sequence does: frame 0 of the window is predicted without a previous action.
    """
    obs, actions = batch["obs"], batch["actions"]
    B, T = obs.shape[:2]
    if length is None or length >= T:
        return obs, actions
    starts = torch.randint(0, T - length + 1, (B,), generator=gen)  # drawn on the CPU: the same on every device
    index = (starts[:, None] + torch.arange(length)).to(obs.device)  # (B, L)
    rows = torch.arange(B, device=obs.device)[:, None]
    return obs[rows, index], actions[rows, index]


def learning_rate_at(step: int, progress: float, config: TrainConfig) -> float:
    """Linear warm-up over the first ``warmup_steps`` global steps, then a cosine from ``lr`` to ``lr * lr_final``.

    ``progress`` in [0, 1] is how much of this call's budget is spent (steps or minutes, whichever
    runs out first), so a 5-minute run and a 2,000-step run both end on the small learning rate; a
    resumed run starts its own cosine (and, past ``warmup_steps``, no new warm-up).
    """
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    return config.lr * warm * (config.lr_final + (1 - config.lr_final) * cosine)


def check_run(
    data_config: MovingDotConfig, config: TrainConfig, model_config: RSSMConfig | None = None,
    resume: Checkpoint | None = None,
) -> None:
    """Raise a one-line ValueError unless a run's configs fit together; the one place these rules live.

    ``config.K`` must leave frames to predict in the world's sequences; the model (``model_config``, or
    the resumed one) must draw the world's frames; ``resume`` must have been trained in ``data_config``'s
    world and, where ``model_config`` is given, be that model. :func:`train` checks this before it
    starts, ``rssm-train`` (:mod:`rssm.cli`) before it writes anything.
    """
    if config.K >= data_config.seq_len:
        raise ValueError(f"TrainConfig.K={config.K}: must be smaller than the world's seq_len={data_config.seq_len}")
    if resume is not None and resume.data_config != data_config:
        raise ValueError(f"{resume.path} was trained on {resume.data_config}, not {data_config}")
    if resume is not None and model_config is not None and model_config != resume.model.config:
        has = resume.model.config
        clashes = [f"{name}={value!r} (it has {getattr(has, name)!r})" for name, value in model_config.to_dict().items()
                   if getattr(has, name) != value]
        raise ValueError(f"{resume.path} holds another model: {', '.join(clashes)}")
    model_config = model_config or (resume.model.config if resume is not None else None)
    if model_config is not None and model_config.image_size != data_config.grid_size:
        raise ValueError(f"RSSMConfig.image_size={model_config.image_size}: must equal the world's "
                         f"grid_size={data_config.grid_size}")


def start_state(
    data_config: MovingDotConfig, model_config: RSSMConfig | None, config: TrainConfig, model: RSSM | None,
    resume: Checkpoint | None, device: torch.device,
) -> TrainState:
    """A fresh run (a new model from ``config.seed``, or ``model``), or ``resume``'s run where it stopped."""
    if resume is not None and model is not None:
        raise ValueError("train: pass model= or resume=, not both")
    model_config = model.config if model is not None else model_config
    check_run(data_config, config, model_config, resume)
    if resume is not None:
        model = resume.model
    elif model is None:
        set_seed(config.seed)
        model = RSSM(model_config or RSSMConfig(image_size=data_config.grid_size))
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if resume is None:
        return TrainState(model, optimizer)
    if resume.optimizer_state is not None:
        optimizer.load_state_dict(resume.optimizer_state)
    history = resumed_history(resume.history)
    return TrainState(model, optimizer, history, resume.step, resume.epoch, resume.seconds)


def gradient_step(
    model: RSSM,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    actions: torch.Tensor,
    config: TrainConfig,
    step: int,
    objective: Objective = training_objective,
) -> tuple[dict[str, float], float, bool]:
    """One step of the training loop on a batch: the loss, its gradient, clipping and Adam.

    obs: (B, L, C, H, W), actions: (B, L, A). Returns the loss's parts (:func:`rssm.losses.compute_loss`),
    the gradient norm before clipping, and whether the step was taken: a step whose loss or gradient
    norm is not finite leaves the weights and Adam's moments untouched. ``benchmarks/throughput.py``
    times exactly this function.
    """
    loss, parts = objective(model, obs, actions, config, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
    finite = math.isfinite(parts["loss"]) and math.isfinite(grad_norm)
    if finite:
        optimizer.step()
    return parts, grad_norm, finite


def train(
    data_config: MovingDotConfig | None = None,
    model_config: RSSMConfig | None = None,
    config: TrainConfig | None = None,
    model: RSSM | None = None,
    device: str = "cpu",
    progress: bool = True,
    resume: Checkpoint | None = None,
    objective: Objective = training_objective,
    on_step: Callable[[TrainState], None] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> tuple[RSSM, History]:
    """Train an RSSM on moving-dot sequences and return (model, history) (see :func:`new_history`).

    A new model comes from ``model_config`` and ``config.seed``; pass ``model`` to train your own, or
    ``resume`` (a :class:`rssm.checkpoint.Checkpoint`) to go on where a saved run stopped. Each step
    minimises ``objective`` (:data:`rssm.losses.Objective`). Stops after ``config.epochs``,
    ``config.max_steps`` or ``config.max_minutes``, whichever comes first. A step whose loss or
    gradient is not finite is skipped (and listed in ``history["skipped_step"]``); after
    MAX_NONFINITE_STEPS in a row, :class:`NonFiniteLossError` stops the run with its last finite weights.
    """
    data_config = data_config or MovingDotConfig()
    config = (config or TrainConfig()).for_world(data_config)  # settings left to the world, filled in
    torch_device = resolve_device(device)
    state = start_state(data_config, model_config, config, model, resume, torch_device)
    model, history = state.model, state.history
    validation = VALIDATION.replace(K=config.K, sequences=config.val_sequences)

    set_seed(config.seed + state.step)
    dataset = MovingDotDataset(data_config, config.train_sequences, seed=config.seed)
    # The whole training set moves to the model's device once; each step gathers its batch there. The
    # loader shuffles indices only, so batches are exactly those of DataLoader(dataset, collate_fn=
    # collate_moving_dot) with the same generator, without copying every batch out of host memory.
    training_set = {key: dataset.data[key].to(torch_device) for key in ("obs", "actions")}
    loader_gen = torch.Generator().manual_seed(config.seed + state.epoch)
    loader = DataLoader(range(len(dataset)), config.batch_size, shuffle=True, drop_last=True, generator=loader_gen)
    window_gen = torch.Generator().manual_seed(config.seed + 1 + state.step)

    first_step, started, seconds_before = state.step, time.perf_counter(), state.seconds
    total_steps = (config.epochs - state.epoch) * len(loader)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps - first_step)

    def minutes() -> float:  # this call's training time
        return (time.perf_counter() - started) / 60

    def budget_spent() -> float:  # fraction of this call's budget: steps or minutes, whichever runs out first
        spent = (state.step - first_step) / max(1, total_steps)
        return spent if config.max_minutes is None else max(spent, minutes() / config.max_minutes)

    stop, bad_in_a_row = total_steps <= 0, 0
    # The bar is a context manager: it closes however the loop ends (done, NonFiniteLossError, Ctrl-C).
    with tqdm(total=max(0, total_steps), disable=not progress, desc="training", unit="step") as bar:
        while state.epoch < config.epochs and not stop:
            for index in loader:  # (B,) int64: which training sequences make this batch
                batch = {key: values[index.to(torch_device)] for key, values in training_set.items()}
                obs, actions = random_windows(batch, config.chunk_len, window_gen)  # (B, L, C, H, W), (B, L, A)
                lr = learning_rate_at(state.step, budget_spent(), config)
                for group in state.optimizer.param_groups:
                    group["lr"] = lr
                parts, grad_norm, finite = gradient_step(model, state.optimizer, obs, actions, config, state.step, objective)
                if finite:
                    bad_in_a_row = 0
                    for key in ("loss", "recon", "kl"):
                        history[key].append(parts[key])
                    history["recon_unweighted"].append(parts.get("recon_unweighted", math.nan))  # NaN: not reported
                    history["lr"].append(lr)
                    history["grad_norm"].append(grad_norm)
                    history["time_s"].append(seconds_before + 60 * minutes())
                    bar.set_postfix(loss=f"{parts['loss']:.1f}", kl=f"{parts['kl']:.2f}")
                else:  # skip it: the weights and Adam's moments stay those of the last finite step
                    bad_in_a_row += 1
                    history["skipped_step"].append(state.step)
                    if bad_in_a_row == MAX_NONFINITE_STEPS:
                        raise NonFiniteLossError(
                            f"training stopped: {bad_in_a_row} steps in a row (the last at step {state.step}) had "
                            f"a non-finite loss or gradient norm (loss {parts['loss']}, gradient norm {grad_norm}); "
                            "they were skipped, so the model keeps its last finite weights")
                state.step += 1
                state.seconds = seconds_before + 60 * minutes()
                bar.update(1)
                if on_step is not None:
                    on_step(state)
                out_of_steps = config.max_steps is not None and state.step >= config.max_steps
                if out_of_steps or (config.max_minutes is not None and minutes() >= config.max_minutes):
                    stop = True
                    break
            state.epoch += 1
            history["epoch"].append(state.epoch)
            history["val_step"].append(state.step)
            history["val_pos_err_h10"].append(validation.evaluate(model, data_config).at(10)["model"])
            bar.set_postfix(loss=f"{history['loss'][-1]:.1f}", h10=f"{history['val_pos_err_h10'][-1]:.2f}px")
            if on_epoch_end is not None:
                on_epoch_end(state)
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return model, history


if __name__ == "__main__":  # the command line sits above this module (rssm.cli), and imports point down
    print("rssm.train is the training loop; its command line is `rssm-train` or `python -m rssm.cli`", file=sys.stderr)
    sys.exit(2)
