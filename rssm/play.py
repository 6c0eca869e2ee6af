"""Play with the model: steer the dot and watch the RSSM dream, in a notebook (chapter 5).

The same player as the book's Play page (``book/play.md``), as a Jupyter widget made with anywidget.
The world and the drawing run in the browser (``rssm/web/*.js``); the model runs here, in the kernel,
so a reader plays with the model the notebook holds, trained or not. Each frame the browser sends the
action (and the true frame when the model watches it, or the noise when it samples the prior), and
:class:`KernelStepper` answers with the model's frame, computed by the same step modules that
:mod:`rssm.export` turns into the page's ONNX graphs.

    from rssm.play import PlayWidget
    PlayWidget(model, world)   # the last line of a cell shows it

Needs anywidget (``pip install anywidget``, or ``pip install 'rssm-book[notebooks]'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rssm.dataset import MovingDotConfig
from rssm.export import step_modules
from rssm.model import RSSM

try:
    import anywidget
    import traitlets
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rssm.play needs anywidget: run `pip install anywidget` (or `pip install 'rssm-book[notebooks]'`) and "
        "restart the kernel. Without a kernel, the book's Play page runs the same player in the browser."
    ) from error

WEB_DIR = Path(__file__).parent / "web"
# The modules of the widget's front end, each after the ones it imports.
WIDGET_MODULES = ("colormap.js", "readout.js", "world.js", "player.js", "widget.js")
_RELATIVE_IMPORT = re.compile(r'^import\s[^;]*?\sfrom\s+"\./[^"]+";[ \t]*\n', re.MULTILINE | re.DOTALL)


def widget_esm() -> str:
    """The widget's front end as one ES module: :data:`WIDGET_MODULES` joined, their imports of each other removed.

    anywidget loads a single module, so the page's modules are joined here rather than copied.
    """
    parts = []
    for name in WIDGET_MODULES:
        text = (WEB_DIR / name).read_text()
        parts.append(f"// ----- {name}\n" + _RELATIVE_IMPORT.sub("", text))
    bundle = "\n".join(parts)
    if re.search(r'from\s+"\./', bundle):
        raise RuntimeError("widget_esm: a relative import is left in the joined module")
    return bundle


class KernelStepper:
    """The model's side of the player: the state (h, z), advanced one frame per call.

    The same frame rule as the page's graphs (:mod:`rssm.export`): :class:`~rssm.export.PriorStep`
    with the previous action, then :class:`~rssm.export.PosteriorStep` if the frame is watched, then
    :class:`~rssm.export.DecodeStep`. Batch 1, on the model's device.
    """

    def __init__(self, model: RSSM) -> None:
        if not isinstance(model, RSSM):
            raise ValueError(f"model: expected an rssm.model.RSSM, got {type(model).__name__}")
        self.model = model
        self.steps = step_modules(model)
        self.reset()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def reset(self) -> None:
        """Back to the state before frame 0: zeros."""
        self.state = self.model.initial_state(1, self.device)

    def _vector(self, values: Sequence[float] | np.ndarray | torch.Tensor, size: int, name: str) -> torch.Tensor:
        tensor = torch.tensor(np.asarray(values, dtype=np.float32)).reshape(-1)  # a copy: buffers may be read-only
        if tensor.numel() != size or not torch.isfinite(tensor).all():
            raise ValueError(f"{name}: expected {size} finite numbers, got {tensor.numel()}")
        return tensor.view(1, size).to(self.device)

    @torch.no_grad()
    def step(
        self,
        action: Sequence[float] | np.ndarray | torch.Tensor,
        frame: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        noise: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One frame: advance with ``action`` (a_{t-1}, 2 numbers), watch ``frame`` (H*W numbers) if given,
        else dream with the prior's mode, or the sample that ``noise`` (``noise_size`` standard-normal
        numbers) draws. Returns (1, H, W).
        """
        c = self.model.config
        was_training = self.model.training
        self.model.eval()
        a = self._vector(action, c.action_dim, "action")
        zeros = torch.zeros(1, c.noise_size, device=self.device)
        eps = zeros if noise is None else self._vector(noise, c.noise_size, "noise")
        h, z_mode, z_sample = self.steps["prior_step"](self.state.h, self.state.z, a, eps)
        z = z_mode if noise is None else z_sample
        if frame is not None:
            pixels = self._vector(frame, c.image_channels * c.image_size**2, "frame")
            pixels = pixels.view(1, c.image_channels, c.image_size, c.image_size)  # (1, C, H, W)
            z, _ = self.steps["posterior_step"](h, pixels, zeros)  # the posterior's mode
        self.state = self.state._replace(h=h, z=z)
        out = self.steps["decoder"](h, z)[0].cpu()  # (1, H, W)
        self.model.train(was_training)
        return out


class PlayWidget(anywidget.AnyWidget):
    """The Play page's player in a notebook, with ``model`` computing every frame in the kernel.

    model: an :class:`~rssm.model.RSSM`; world_config: the :class:`~rssm.dataset.MovingDotConfig` it was
    trained on (the browser draws that world); K: frames the model watches after a new world before
    it dreams (in "dream" mode). The player starts paused, so an open notebook does not keep the kernel busy.
    """

    _esm = widget_esm()
    _css = (WEB_DIR / "player.css").read_text()
    world = traitlets.Dict().tag(sync=True)
    K = traitlets.Int(8).tag(sync=True)
    noise_size = traitlets.Int(1).tag(sync=True)  # standard-normal numbers per sample of z

    def __init__(self, model: RSSM, world_config: MovingDotConfig, K: int = 8, **kwargs: Any) -> None:
        if not isinstance(world_config, MovingDotConfig):
            raise ValueError(f"world_config: expected a MovingDotConfig, got {type(world_config).__name__}")
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise ValueError(f"K={K!r}: must be a positive int")
        stepper = KernelStepper(model)
        c = model.config
        if c.image_size != world_config.grid_size or c.image_channels != 1 or c.action_dim != 2:
            raise ValueError(
                f"model and world disagree: the model reads {c.image_channels}x{c.image_size}x{c.image_size} frames "
                f"and {c.action_dim}-d actions, the world draws 1x{world_config.grid_size}x{world_config.grid_size} "
                "frames and 2-d actions"
            )
        super().__init__(world=world_config.to_dict(), K=K, noise_size=c.noise_size, **kwargs)
        self.stepper = stepper
        self.on_msg(self._on_message)

    def handle_message(
        self, content: dict[str, Any], buffers: Sequence[bytes | memoryview]
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Answer one message of the front end: the reply's content and buffers (a frame as float32 bytes).

        ``{"type": "reset"}`` empties the state; ``{"type": "step", "action": [ax, ay], "watch": bool,
        "noise": [...] or None}`` with the true frame as ``buffers[0]`` when watching returns the model's
        frame. A bad message gets ``{"type": "error", "message": ...}``.
        """
        request = content.get("id")
        try:
            kind = content.get("type")
            if kind == "reset":
                self.stepper.reset()
                return {"type": "ready", "id": request}, []
            if kind != "step":
                raise ValueError(f"unknown message type {kind!r}")
            frame = None
            if content.get("watch"):
                if not buffers:
                    raise ValueError("a watched step needs the frame as a buffer")
                frame = np.frombuffer(bytes(buffers[0]), dtype="<f4")
            out = self.stepper.step(content.get("action"), frame, content.get("noise"))
            return {"type": "frame", "id": request}, [out.numpy().astype("<f4").tobytes()]
        except (ValueError, TypeError) as error:
            return {"type": "error", "id": request, "message": str(error)}, []

    def _on_message(self, widget: Any, content: dict[str, Any], buffers: list[bytes | memoryview]) -> None:
        reply, reply_buffers = self.handle_message(content, buffers)
        self.send(reply, buffers=reply_buffers)


__all__ = ["KernelStepper", "PlayWidget", "widget_esm"]
