"""Training: ``train(...)`` for notebooks and the ``rssm-train`` / ``python -m rssm.train`` CLI.

An epoch is one pass over a fixed training set of ``train_sequences`` sequences (1024 by default,
so 32 gradient steps at batch size 32). Each step trains on a random window of ``chunk_len`` frames
from every sequence in the batch (the fast CPU recipe, see chapter 4 and ``book/ablations.md``).

The loss per frame is reconstruction + beta * balanced KL with free bits (``rssm.utils``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rssm.checkpoint import load_checkpoint, save_checkpoint
from rssm.dataset import MovingDotConfig, MovingDotDataset
from rssm.evaluate import evaluate_open_loop
from rssm.model import RSSM, RSSMConfig, RSSMState
from rssm.utils import gaussian_kl, kl_balance, reconstruction_loss, resolve_device, set_seed

VALIDATION_SEED = 1_000_003  # validation sequences come from here; training uses `seed`


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults are the fast CPU recipe; the CLI's flags map onto these fields."""

    seed: int = 42
    batch_size: int = 32
    epochs: int = 100  # passes over the training set
    lr: float = 1e-3  # Adam learning rate after warm-up
    warmup_steps: int = 100  # linear learning-rate warm-up
    lr_final: float = 0.1  # cosine decay to lr * lr_final over the run's budget (1.0: constant)
    grad_clip: float = 100.0  # clip the global gradient norm
    train_sequences: int = 1024  # size of the fixed training set (an epoch is one pass over it)
    chunk_len: int | None = 32  # train on random windows of this many frames; None = whole sequences
    beta: float = 1.0  # weight of the KL term
    kl_balance: float = 0.8  # share of the KL gradient that trains the prior (DreamerV2)
    free_bits: float = 1.0  # nats of KL per step that are free
    free_bits_mode: str = "step"  # "step" (DreamerV3) or "batch" (DreamerV2's free_avg)
    dot_weight: float = 30.0  # extra weight on the moving (dot) pixels: escapes the blank-frame plateau
    dot_weight_final: float = 1.0  # ... decayed to this, geometrically, between the two steps below
    dot_weight_decay_start: int = 200  # the model draws the dot by now (chapter 4)
    dot_weight_decay_end: int = 800  # from here on the loss is close to the plain Gaussian likelihood
    overshoot: float = 0.0  # weight of the open-loop (overshooting) term; off: it hurt early on (ablations)
    overshoot_mode: str = "latent"  # "latent": KL to the posteriors (PlaNet); "pixels": frame reconstruction
    K: int = 8  # context frames for the open-loop validation and figures
    max_steps: int | None = None  # stop after this many gradient steps (notebooks use it)
    max_minutes: float | None = None  # stop cleanly after this much wall-clock time
    channels_last: bool = True  # conv memory layout: about 1.5x faster on CPU
    val_sequences: int = 64  # held-out sequences for the per-epoch open-loop check

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

        for name in ("seed", "batch_size", "epochs", "warmup_steps", "train_sequences", "K", "val_sequences",
                     "dot_weight_decay_start", "dot_weight_decay_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(name, "must be an int")
        for name in ("batch_size", "epochs", "train_sequences", "K", "val_sequences"):
            if getattr(self, name) < 1:
                raise bad(name, "must be at least 1")
        for name in ("warmup_steps", "dot_weight_decay_start"):
            if getattr(self, name) < 0:
                raise bad(name, "must be non-negative")
        if self.dot_weight_decay_end < self.dot_weight_decay_start:
            raise bad("dot_weight_decay_end", f"must be at least dot_weight_decay_start={self.dot_weight_decay_start}")
        for name in ("lr", "grad_clip", "beta", "free_bits", "dot_weight", "dot_weight_final", "kl_balance", "lr_final",
                     "overshoot"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise bad(name, "must be a finite non-negative number")
        if self.lr == 0 or self.grad_clip == 0:
            raise bad("lr" if self.lr == 0 else "grad_clip", "must be positive")
        for name in ("kl_balance", "lr_final"):
            if getattr(self, name) > 1:
                raise bad(name, "must be in [0, 1]")
        if self.free_bits_mode not in ("step", "batch"):
            raise bad("free_bits_mode", "must be 'step' or 'batch'")
        if self.overshoot_mode not in ("latent", "pixels"):
            raise bad("overshoot_mode", "must be 'latent' or 'pixels'")
        if self.chunk_len is not None and (isinstance(self.chunk_len, bool) or not isinstance(self.chunk_len, int) or self.chunk_len < 2):
            raise bad("chunk_len", "must be an int >= 2, or None for whole sequences")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise bad("max_steps", "must be a positive int or None")
        if self.max_minutes is not None and (not isinstance(self.max_minutes, (int, float)) or not self.max_minutes > 0):
            raise bad("max_minutes", "must be a positive number or None")
        if self.train_sequences < self.batch_size:
            raise bad("train_sequences", f"must be at least batch_size={self.batch_size}")


class NonFiniteLossError(RuntimeError):
    """Raised when the loss becomes NaN or infinite; the model keeps its last good weights."""


History = dict[str, list[float]]


def new_history() -> History:
    return {"loss": [], "recon": [], "kl": [], "lr": [], "time_s": [], "epoch": [], "val_pos_err_h10": [], "val_step": []}


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


def dot_weight_at(step: int, config: TrainConfig) -> float:
    """The foreground weight at a global step: ``dot_weight``, then a geometric decay to ``dot_weight_final``.

    The weight is a crutch for the start of training, when a blank frame is the easiest answer. Once
    the model draws the dot it distorts the likelihood: with w = 30 the dot's pixels count ~31 times,
    which makes the KL term ~31 times cheaper than beta says and leaves the prior slack (chapter 4).
    """
    start, end, w0, w1 = config.dot_weight_decay_start, config.dot_weight_decay_end, config.dot_weight, config.dot_weight_final
    if step <= start or w0 == w1:
        return w0
    if step >= end:
        return w1
    fraction = (step - start) / (end - start)
    if w0 > 0 and w1 > 0:
        return w0 * (w1 / w0) ** fraction
    return w0 + (w1 - w0) * fraction


def learning_rate_at(step: int, progress: float, config: TrainConfig) -> float:
    """Linear warm-up over the first ``warmup_steps`` global steps, then a cosine from ``lr`` to ``lr * lr_final``.

    ``progress`` in [0, 1] is how much of this call's budget is spent (steps or minutes, whichever
    runs out first), so a 5-minute run and a 2,000-step run both end on the small learning rate; a
    resumed run starts its own cosine (and, past ``warmup_steps``, no new warm-up).
    """
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    return config.lr * warm * (config.lr_final + (1 - config.lr_final) * cosine)


def compute_loss(
    model: RSSM, obs: torch.Tensor, actions: torch.Tensor, config: TrainConfig, dot_weight: float | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss (nats per frame) for one batch, and its parts for logging.

    ``dot_weight`` overrides ``config.dot_weight`` (the training loop passes the scheduled value).

    With ``config.overshoot`` > 0 an overshooting term trains open-loop prediction directly. From the
    filtered state after frame K-1 of each window, the prior's *mean* is rolled forward with the
    window's actions, exactly as :meth:`RSSM.open_loop_rollout` does, for frames K..L-1. The one-step
    KL only asks the prior to be right one frame ahead, with the posterior correcting it at every
    frame; this term charges the prior for errors that compound over many frames.

    - ``overshoot_mode="latent"`` (PlaNet's latent overshooting, from one start): KL(sg(q_t) || p_t)
      between each frame's posterior and the open-loop prior for that frame, in nats per frame.
      The posteriors are stop-gradient targets and the decoder gets no gradient; the dynamics
      (GRU and prior) learn from it, and so does the filter through the start state.
    - ``overshoot_mode="pixels"`` (observation overshooting): the imagined frames are decoded and
      scored against the true ones with the (weighted) reconstruction loss. Early in training the
      best guess under an uncertain future is a blurred dot, so this one pulls towards blur.

    Windows no longer than K frames have no open-loop part and skip the term.
    """
    weight = config.dot_weight if dot_weight is None else dot_weight
    out = model(obs, actions)
    recon = reconstruction_loss(out.recon, obs, weight)
    kl_loss, kl = kl_balance(
        out.post_mean, out.post_std, out.prior_mean, out.prior_std, config.kl_balance, config.free_bits, config.free_bits_mode
    )
    loss = recon + config.beta * kl_loss
    parts = {"recon": recon.item(), "kl": kl.mean().item()}
    K = config.K
    if config.overshoot > 0 and obs.shape[1] > K:
        start = RSSMState(out.h[:, K - 1], out.z[:, K - 1])  # filtered state after frame K-1
        latent = config.overshoot_mode == "latent"
        dream = model.imagine(start, actions[:, K - 1 : -1], decode=not latent)  # actions[:, K-1+i] drives frame K+i
        if latent:
            overshoot = gaussian_kl(
                out.post_mean[:, K:].detach(), out.post_std[:, K:].detach(), dream.prior_mean, dream.prior_std
            ).mean()  # (B, L-K) nats -> mean
        else:
            overshoot = reconstruction_loss(dream.recon, obs[:, K:], weight)
        loss = loss + config.overshoot * overshoot
        parts["overshoot"] = overshoot.item()
    parts["loss"] = loss.item()
    return loss, parts


def train(
    data_config: MovingDotConfig | None = None,
    model_config: RSSMConfig | None = None,
    config: TrainConfig | None = None,
    model: RSSM | None = None,
    device: str = "cpu",
    progress: bool = True,
    history: History | None = None,
    optimizer_state: dict[str, Any] | None = None,
    on_epoch_end: Callable[[RSSM, torch.optim.Optimizer, History], None] | None = None,
    on_step: Callable[[int, RSSM, History], None] | None = None,
) -> tuple[RSSM, History]:
    """Train an RSSM on moving-dot sequences and return (model, history).

    ``history`` holds per-step ``loss``, ``recon``, ``kl`` (nats per frame), ``lr`` and ``time_s``
    (seconds since the start), and per-epoch ``epoch``, ``val_step`` and ``val_pos_err_h10`` (the
    open-loop dot-position error in pixels at horizon 10 on held-out sequences, visible frames).
    Stops after ``config.epochs``, ``config.max_steps`` or ``config.max_minutes``, whichever comes
    first. Pass ``model``/``history``/``optimizer_state`` to resume. A NaN or infinite loss raises
    :class:`NonFiniteLossError` after restoring the weights of the last finite step.
    """
    data_config = data_config or MovingDotConfig()
    config = config or TrainConfig()
    if model is None:
        model_config = model_config or RSSMConfig(image_size=data_config.grid_size)
        set_seed(config.seed)
        model = RSSM(model_config)
    if model.config.image_size != data_config.grid_size:
        raise ValueError(f"model image_size={model.config.image_size} does not match grid_size={data_config.grid_size}")
    if config.K >= data_config.seq_len:
        raise ValueError(f"K={config.K}: must be smaller than seq_len={data_config.seq_len}")
    torch_device = resolve_device(device)
    model.to(torch_device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    history = history if history is not None else new_history()

    set_seed(config.seed + len(history["loss"]))
    dataset = MovingDotDataset(data_config, config.train_sequences, seed=config.seed)
    loader_gen = torch.Generator().manual_seed(config.seed + len(history["epoch"]))
    window_gen = torch.Generator().manual_seed(config.seed + 1 + len(history["loss"]))
    # The whole training set moves to the model's device once; each step gathers its batch there.
    # The DataLoader shuffles indices only, so batches come in exactly the order (and with exactly the
    # contents) of DataLoader(dataset, collate_fn=collate_moving_dot) with the same generator, without
    # copying every batch out of host memory item by item: on one H200 that copy cost 38% of a step of
    # the shipped checkpoint's recipe (8.25 -> 13.28 steps/s, benchmarks/train_speed.py; README).
    training_set = {key: dataset.data[key].to(torch_device) for key in ("obs", "actions")}
    loader = DataLoader(range(len(dataset)), config.batch_size, shuffle=True, drop_last=True, generator=loader_gen)
    val_config = MovingDotConfig(**{**data_config.to_dict(), "seq_len": max(config.K + 10, min(data_config.seq_len, 32))})

    steps_per_epoch = len(loader)
    start_epoch = len(history["epoch"])
    total_steps = (config.epochs - start_epoch) * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    step = first_step = len(history["loss"])
    elapsed_before = history["time_s"][-1] if history["time_s"] else 0.0
    start_time = time.perf_counter()
    bar = tqdm(total=total_steps, disable=not progress, desc="training", unit="step")
    good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stop = total_steps <= 0
    for epoch in range(start_epoch, config.epochs):
        if stop:
            break
        for index in loader:  # (B,) int64: which training sequences make this batch
            batch = {key: values[index.to(torch_device)] for key, values in training_set.items()}
            obs, actions = random_windows(batch, config.chunk_len, window_gen)
            budget_spent = (step - first_step) / max(1, total_steps)
            if config.max_minutes is not None:
                budget_spent = max(budget_spent, (time.perf_counter() - start_time) / (60 * config.max_minutes))
            lr = learning_rate_at(step, budget_spent, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts = compute_loss(model, obs, actions, config, dot_weight=dot_weight_at(step, config))
            if not math.isfinite(parts["loss"]):
                model.load_state_dict(good_state)
                bar.close()
                raise NonFiniteLossError(f"training stopped: the loss became {parts['loss']} at step {step}; the model keeps its last finite weights")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            step += 1
            elapsed = elapsed_before + time.perf_counter() - start_time
            for key in ("loss", "recon", "kl"):
                history[key].append(parts[key])
            history["lr"].append(lr)
            history["time_s"].append(elapsed)
            bar.update(1)
            bar.set_postfix(loss=f"{parts['loss']:.1f}", kl=f"{parts['kl']:.2f}")
            if on_step is not None:
                on_step(step, model, history)
            out_of_steps = config.max_steps is not None and step >= config.max_steps
            out_of_time = config.max_minutes is not None and elapsed - elapsed_before >= 60 * config.max_minutes
            if out_of_steps or out_of_time:
                stop = True
                break
        report = evaluate_open_loop(model, val_config, K=config.K, num_sequences=config.val_sequences, seed=VALIDATION_SEED)
        history["epoch"].append(epoch + 1)
        history["val_step"].append(step)
        history["val_pos_err_h10"].append(report.at(10)["model"])
        bar.set_postfix(loss=f"{history['loss'][-1]:.1f}", h10=f"{history['val_pos_err_h10'][-1]:.2f}px")
        if on_epoch_end is not None:
            on_epoch_end(model, optimizer, history)
    bar.close()
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return model, history


# ----- command line ---------------------------------------------------------------------------------


MODEL_SIZE_FLAGS = {
    "deter_dim": "size of the GRU state h",
    "stoch_dim": "size of the Gaussian latent z",
    "hidden_dim": "width of the MLPs around the GRU",
    "embed_dim": "size of the encoder's frame embedding",
    "cnn_depth": "channels of the first conv layer",
}


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    data_defaults = MovingDotConfig()
    parser = argparse.ArgumentParser(
        prog="rssm-train",
        description="Train an RSSM on the moving-dot world and write model.pt, figures and an open-loop report.",
        epilog="An epoch is one pass over --train_sequences fixed training sequences (1024 -> 32 steps at batch 32).",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--seq_len", type=int, default=data_defaults.seq_len, help="frames per sequence")
    parser.add_argument("--grid_size", type=int, default=data_defaults.grid_size, help="frame side in pixels")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    occlusion = parser.add_mutually_exclusive_group()
    occlusion.add_argument("--use_occlusion", dest="use_occlusion", action="store_true", default=True, help="occluders on (default)")
    occlusion.add_argument("--no_occlusion", dest="use_occlusion", action="store_false", help="occluders off")
    parser.add_argument("--output_dir", default="outputs")
    parser.add_argument("--viz_interval", type=int, default=10, help="write recon/rollout figures every N epochs")
    parser.add_argument("--K", type=int, default=defaults.K, help="context frames for open-loop figures")
    parser.add_argument("--max_minutes", type=float, default=None, help="stop cleanly after this wall-clock budget, and save")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/model.pt")
    parser.add_argument("--train_sequences", type=int, default=defaults.train_sequences)
    parser.add_argument("--chunk_len", type=int, default=defaults.chunk_len, help="train on windows of this many frames (0: whole)")
    parser.add_argument("--beta", type=float, default=defaults.beta)
    parser.add_argument("--free_bits", type=float, default=defaults.free_bits)
    parser.add_argument("--kl_balance", type=float, default=defaults.kl_balance)
    parser.add_argument("--dot_weight", type=float, default=defaults.dot_weight, help="foreground weight at the start")
    parser.add_argument("--dot_weight_final", type=float, default=defaults.dot_weight_final,
                        help=f"foreground weight after step {defaults.dot_weight_decay_end} (geometric decay from step {defaults.dot_weight_decay_start})")
    parser.add_argument("--lr_final", type=float, default=defaults.lr_final, help="cosine decay to lr * lr_final over the run (1: constant)")
    model_defaults = RSSMConfig()
    sizes = parser.add_argument_group("model size", "RSSMConfig fields; the defaults are the fast CPU recipe")
    for name, help_text in MODEL_SIZE_FLAGS.items():
        sizes.add_argument(f"--{name}", type=int, default=None, help=f"{help_text} (default {getattr(model_defaults, name)})")
    parser.add_argument("--overshoot", type=float, default=defaults.overshoot,
                        help="weight of the open-loop (overshooting) term from frame K of each window (0: off)")
    parser.add_argument("--overshoot_mode", default=defaults.overshoot_mode, choices=["latent", "pixels"],
                        help="score the open-loop rollout against the posteriors (latent) or the frames (pixels)")
    return parser


def _save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write_figures(model: RSSM, data_config: MovingDotConfig, K: int, output_dir: Path, tag: str | None) -> None:
    """Reconstructions and an open-loop report on fixed held-out sequences (``tag`` None: the final report)."""
    from rssm.dataset import generate_moving_dot_sequences
    from rssm.figures import plot_open_loop_report, plot_reconstructions

    model.eval()
    batch = generate_moving_dot_sequences(MovingDotConfig(**{**data_config.to_dict(), "seq_len": min(data_config.seq_len, K + 24)}), 4, seed=VALIDATION_SEED)
    device = next(model.parameters()).device
    obs, actions = batch["obs"].to(device), batch["actions"].to(device)
    with torch.no_grad():
        recon = model.observe(obs, actions, sample=False).recon.cpu()
        pred = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K).cpu()
    obs = obs.cpu()
    if tag is None:
        _save_figure(plot_open_loop_report(obs, pred, K, every=2), output_dir / "eval_rollout.png")
    else:
        _save_figure(plot_reconstructions(obs, recon), output_dir / f"recon_epoch{tag}.png")
        _save_figure(plot_open_loop_report(obs, pred, K), output_dir / f"rollout_epoch{tag}.png")
    model.train()


def main(argv: list[str] | None = None) -> int:
    """The CLI. Returns the exit code: 0 on success, 1 on a stopped run, 2 on bad flags."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.viz_interval < 1:
        parser.error(f"--viz_interval must be at least 1, got {args.viz_interval}")
    try:
        data_config = MovingDotConfig(grid_size=args.grid_size, seq_len=args.seq_len, use_occlusion=args.use_occlusion)
        config = TrainConfig(
            seed=args.seed, batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, K=args.K,
            max_minutes=args.max_minutes, train_sequences=args.train_sequences,
            chunk_len=args.chunk_len or None, beta=args.beta, free_bits=args.free_bits,
            kl_balance=args.kl_balance, dot_weight=args.dot_weight, dot_weight_final=args.dot_weight_final,
            lr_final=args.lr_final, overshoot=args.overshoot, overshoot_mode=args.overshoot_mode,
        )
        model_sizes = {name: getattr(args, name) for name in MODEL_SIZE_FLAGS if getattr(args, name) is not None}
        model_config = RSSMConfig(image_size=args.grid_size, **model_sizes)
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    if config.K >= data_config.seq_len:
        parser.error(f"--K {config.K} must be smaller than --seq_len {data_config.seq_len}")

    import matplotlib

    matplotlib.use("Agg")
    from rssm.figures import plot_loss_curves

    output_dir = Path(args.output_dir)
    checkpoint_path = output_dir / "model.pt"
    model, history, optimizer_state = None, None, None
    if args.resume:
        try:
            checkpoint = load_checkpoint(checkpoint_path, device)
        except (FileNotFoundError, ValueError) as error:
            print(f"rssm-train: cannot resume: {error}", file=sys.stderr)
            return 2
        if checkpoint.data_config != data_config:
            print(f"rssm-train: cannot resume: {checkpoint_path} was trained on {checkpoint.data_config}, not {data_config}", file=sys.stderr)
            return 2
        trained_with = checkpoint.model.config
        clashes = [f"--{name} {value} (it has {getattr(trained_with, name)})" for name, value in model_sizes.items() if getattr(trained_with, name) != value]
        if clashes:
            print(f"rssm-train: cannot resume: {checkpoint_path} has another model size: {', '.join(clashes)}", file=sys.stderr)
            return 2
        model, history, optimizer_state = checkpoint.model, checkpoint.history, checkpoint.optimizer_state
        print(f"resuming from {checkpoint_path} at epoch {len(history['epoch'])}")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"rssm-train: cannot create --output_dir {output_dir}: {error}", file=sys.stderr)
        return 2

    train_record = {k: v for k, v in asdict(config).items()}

    def on_epoch_end(model: RSSM, optimizer: torch.optim.Optimizer, history: History) -> None:
        save_checkpoint(checkpoint_path, model, data_config, train_record, history, optimizer)
        epoch = history["epoch"][-1]
        if epoch % args.viz_interval == 0:
            write_figures(model, data_config, config.K, output_dir, tag=f"{epoch:03d}")

    try:
        model, history = train(
            data_config, model_config, config, model=model, device=str(device), history=history,
            optimizer_state=optimizer_state, on_epoch_end=on_epoch_end,
        )
    except NonFiniteLossError as error:
        print(f"rssm-train: {error}; {checkpoint_path} holds the last good epoch", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rssm-train: interrupted; {checkpoint_path} holds the last finished epoch", file=sys.stderr)
        return 130
    _save_figure(plot_loss_curves(history), output_dir / "loss_curves.png")
    write_figures(model, data_config, config.K, output_dir, tag=None)
    report = evaluate_open_loop(model, MovingDotConfig(**{**data_config.to_dict(), "seq_len": max(config.K + 20, 32)}), K=config.K, seed=VALIDATION_SEED + 1)
    print(report.table())
    print(f"wrote {checkpoint_path}, loss_curves.png, eval_rollout.png to {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
