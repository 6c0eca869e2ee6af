"""The ``rssm-train`` command line (also ``python -m rssm.cli``): train a model into one folder.

The settings are declared once, in the config dataclasses: every field of the world
(:class:`rssm.dataset.MovingDotConfig`), of the model (:class:`rssm.model.RSSMConfig`, but for
:data:`SET_BY_THE_WORLD`), of the objective (:class:`rssm.losses.LossConfig`) and of the loop
(:class:`rssm.train.TrainConfig`) becomes a flag of the same name, with the field's comment as its
help and its default. :func:`parse_overrides` reads the same fields as ``KEY=VALUE`` pairs, for the
benchmark scripts. This module is the top of the package: nothing in ``rssm`` imports it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from rssm.checkpoint import load_checkpoint, save_checkpoint
from rssm.config import add_fields, field_comments
from rssm.dataset import MovingDotConfig
from rssm.evaluate import BENCHMARK
from rssm.losses import LossConfig
from rssm.model import RSSMConfig
from rssm.train import NonFiniteLossError, TrainConfig, TrainState, check_run, train
from rssm.utils import DEVICES, resolve_device

SET_BY_THE_WORLD = ("image_size", "image_channels", "action_dim")  # RSSMConfig fields the world decides: no flag
WORLD_FIELDS = tuple(f.name for f in dataclasses.fields(MovingDotConfig))  # the MovingDotConfig fields with a flag
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(RSSMConfig) if f.name not in SET_BY_THE_WORLD)  # and RSSMConfig's


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``rssm-train``: the run's own, then one per config field."""
    parser = argparse.ArgumentParser(
        prog="rssm-train",
        description="Train an RSSM on the moving-dot world and write model.pt, figures and an open-loop report.",
        epilog="An epoch is one pass over --train_sequences fixed training sequences (2560 -> 80 steps at batch 32, so --epochs 100 is 8,000 steps).",
    )
    parser.add_argument("--output_dir", default="outputs", help="where model.pt and the figures go (default: outputs)")
    parser.add_argument("--viz_interval", type=int, default=10, help="write recon/rollout figures every N epochs (default: 10)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="(default: auto)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/model.pt with a fresh cosine from --lr")
    add_fields(parser, "world", MovingDotConfig, WORLD_FIELDS)
    add_fields(parser, "model (RSSMConfig; a resumed run keeps its checkpoint's)", RSSMConfig, MODEL_FIELDS,
               show_default_only=True)
    add_fields(parser, "objective (LossConfig)", LossConfig)
    own = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in {g.name for g in dataclasses.fields(LossConfig)})
    add_fields(parser, "training (TrainConfig)", TrainConfig, own)
    return parser


def configs_from_args(args: argparse.Namespace) -> tuple[MovingDotConfig, RSSMConfig, TrainConfig, dict[str, Any]]:
    """The world, model and training configs the flags ask for, and the model fields typed explicitly."""
    values = vars(args)
    data_config = MovingDotConfig(**{name: values[name] for name in WORLD_FIELDS})
    sizes = {name: values[name] for name in MODEL_FIELDS if values[name] is not None}
    model_config = RSSMConfig(image_size=data_config.grid_size, **sizes)
    config = TrainConfig(**{f.name: values[f.name] for f in dataclasses.fields(TrainConfig)}).for_world(data_config)
    return data_config, model_config, config, sizes


def parse_overrides(pairs: list[str], cls: type, program: str) -> dict[str, Any]:
    """``["lr=0.002", "chunk_len=None", "overshoot_mode=pixels"]`` -> fields of the dataclass ``cls``.

    Values are Python literals (numbers, True/False, None, quoted strings); a bare word is a string.
    An unknown field, or a pair without ``=``, exits with one line naming ``program``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in names:
            raise SystemExit(f"{program}: {pair!r}: expected FIELD=VALUE with FIELD one of {cls.__name__}'s: {', '.join(sorted(names))}")
        try:
            values[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key] = text
    return values


def main(argv: list[str] | None = None) -> int:
    """Run ``rssm-train``. Returns the exit code: 0 on success, 1 on a stopped run, 2 on bad flags."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        data_config, model_config, config, sizes = configs_from_args(args)
        device = resolve_device(args.device)
        check_run(data_config, config, model_config)
    except ValueError as error:
        parser.error(str(error))
    if args.viz_interval < 1:
        parser.error(f"--viz_interval must be at least 1, got {args.viz_interval}")

    def fail(message: str) -> int:
        print(f"rssm-train: {message}", file=sys.stderr)
        return 2

    import matplotlib

    matplotlib.use("Agg")
    from rssm.figures import plot_loss_curves, save_figure, write_training_figures
    from rssm.style import use_book_style

    use_book_style()
    output_dir = Path(args.output_dir)
    checkpoint_path = output_dir / "model.pt"
    resume = None
    if args.resume:
        try:
            resume = load_checkpoint(checkpoint_path, device)
            model_config = dataclasses.replace(resume.model.config, **sizes)  # the checkpoint's, with what was typed
            check_run(data_config, config, model_config, resume)
        except (FileNotFoundError, ValueError) as error:
            return fail(f"cannot resume: {error}")
        print(f"resuming from {checkpoint_path} at epoch {resume.epoch}")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return fail(f"cannot create --output_dir {output_dir}: {error}")
    record = dataclasses.asdict(config)

    def on_epoch_end(state: TrainState) -> None:
        counters = {"step": state.step, "epoch": state.epoch, "seconds": state.seconds}
        save_checkpoint(checkpoint_path, state.model, data_config, record, state.history, state.optimizer, counters)
        if state.epoch % args.viz_interval == 0:
            write_training_figures(state.model, data_config, config.K, output_dir, tag=f"{state.epoch:03d}")

    try:
        model, history = train(data_config, model_config, config, device=str(device), resume=resume, on_epoch_end=on_epoch_end)
    except NonFiniteLossError as error:
        print(f"rssm-train: {error}; {checkpoint_path} holds the last finished epoch", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rssm-train: interrupted; {checkpoint_path} holds the last finished epoch", file=sys.stderr)
        return 130
    save_figure(plot_loss_curves(history), output_dir / "loss_curves.png")
    write_training_figures(model, data_config, config.K, output_dir, tag=None)
    report = BENCHMARK.replace(K=config.K).evaluate(model, data_config)
    print(report.table())
    print(json.dumps({"steps": len(history["loss"]), "skipped_steps": len(history["skipped_step"]),
                      "minutes": round(history["time_s"][-1] / 60, 2) if history["time_s"] else 0.0,
                      "h10_px": round(report.at(10)["model"], 3), "h10_constant_velocity_px": round(report.at(10)["constant_velocity"], 3)}))
    print(f"wrote {checkpoint_path}, loss_curves.png, eval_rollout.png to {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
