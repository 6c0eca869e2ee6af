"""The Recurrent State-Space Model (RSSM) of PlaNet and Dreamer, sized for the moving-dot world.

References: Hafner et al. 2019 (PlaNet, "Learning Latent Dynamics for Planning from Pixels") and
Hafner et al. 2020-2023 (Dreamer V1-V3). Chapters 2 and 3 of the book build these parts by hand.

The model state at frame t is a pair (h_t, z_t):

- h_t (``deter_dim``) is deterministic, carried by a GRU: h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}]);
- z_t is stochastic, with two sources:
  the prior     p(z_t | h_t)          (h_t already contains a_{t-1}), used to imagine frames,
  the posterior q(z_t | h_t, e_t)     with e_t = encoder(frame t), used when frame t is seen.
  Both are diagonal Gaussians over ``stoch_dim`` numbers (``latent="gaussian"``, PlaNet), or
  ``stoch_dim`` categorical variables of ``classes`` classes each, z being their one-hot samples
  (``latent="categorical"``, DreamerV2/V3; chapter 10). :mod:`rssm.distributions` holds both.

The decoder renders (h_t, z_t) back to frame t. Time convention (see :mod:`rssm.dataset`): frame t is
predicted from ``actions[:, t-1]``; at t = 0 the previous action and state are zeros.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from rssm.config import Bounds, between, check_fields, field_error, positive
from rssm.distributions import Gaussian, Latent, LatentKind, kind_of, stack

LATENTS: tuple[str, ...] = typing.get_args(LatentKind)  # the kinds of z the model knows


@dataclass(frozen=True)
class RSSMConfig:
    """Sizes of the RSSM. Defaults are the fast CPU recipe (see ``book/04_training_kl_balancing``)."""

    image_size: int = 32  # frames are image_size x image_size (must match MovingDotConfig.grid_size)
    image_channels: int = 1  # channels of a frame (the moving-dot world's are gray: 1)
    action_dim: int = 2  # numbers in an action (the moving-dot world's: 2, a velocity change in x and y)
    deter_dim: int = 256  # size of the GRU state h
    stoch_dim: int = 32  # size of z: Gaussian dimensions, or the number of categorical variables
    hidden_dim: int = 192  # width of the MLPs around the GRU (prior, posterior, input)
    embed_dim: int = 128  # size of the encoder's frame embedding e_t
    cnn_depth: int = 8  # channels of the first conv layer (then 16, 32): wider costs time, not quality here
    cnn_layers: int = 3  # stride-2 conv layers: 32x32 -> 4x4 with 3 layers
    min_std: float = 0.1  # floor on the std of prior and posterior (PlaNet uses 0.1)
    gru_layer_norm: bool = True  # LayerNorm inside the GRU (DreamerV2/V3); False gives nn.GRUCell
    latent: LatentKind = "gaussian"  # z: a diagonal Gaussian, or one-hot categoricals (chapter 10)
    classes: int = 32  # classes of each categorical variable (not used by the Gaussian latent)
    unimix: float = 0.01  # share of a uniform distribution mixed into each categorical (DreamerV3)

    bounds: ClassVar[dict[str, Bounds]] = {  # each field's type is checked too; latent's choices are LATENTS
        "image_size": positive, "image_channels": positive, "action_dim": positive, "deter_dim": positive,
        "stoch_dim": positive, "hidden_dim": positive, "embed_dim": positive, "cnn_depth": positive,
        "cnn_layers": positive, "min_std": between(0, 10, "()"), "classes": positive, "unimix": between(0, 1, "[)"),
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if self.latent == "categorical" and self.classes < 2:
            raise field_error(self, "classes", "a categorical variable needs 2 classes or more")
        if self.image_size % (2**self.cnn_layers) != 0 or self.image_size // (2**self.cnn_layers) < 2:
            raise field_error(self, "image_size", f"must be divisible by 2**cnn_layers={2**self.cnn_layers} and leave "
                                                  "at least 2x2 pixels")

    @property
    def latent_size(self) -> int:
        """How many numbers z holds: ``stoch_dim`` (Gaussian), or ``stoch_dim * classes`` one-hot entries."""
        return kind_of(self).size(self)

    @property
    def noise_size(self) -> int:
        """How many standard-normal numbers one sample of z takes (:meth:`rssm.distributions.Gaussian.sample`)."""
        return kind_of(self).noise_size(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RSSMConfig:
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"RSSMConfig: unknown fields {sorted(unknown)}")
        return cls(**values)


class CNNEncoder(nn.Module):
    """Frame -> embedding. (N, C, H, W) -> (N, embed_dim), with ``cnn_layers`` stride-2 convs."""

    def __init__(self, config: RSSMConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = config.image_channels
        for i in range(config.cnn_layers):
            out = config.cnn_depth * 2**i
            layers += [nn.Conv2d(channels, out, kernel_size=4, stride=2, padding=1), nn.SiLU()]
            channels = out
        self.convs = nn.Sequential(*layers)
        side = config.image_size // 2**config.cnn_layers
        self.proj = nn.Linear(channels * side * side, config.embed_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.convs(frames)  # (N, C', h, w)
        return F.silu(self.proj(x.flatten(1)))  # (N, embed_dim)


class CNNDecoder(nn.Module):
    """(h, z) features -> frame. (N, deter_dim + latent_size) -> (N, C, H, W), a linear (unsquashed) output.

    The output is the mean of a Gaussian over pixels with variance 1/2 (the reconstruction loss,
    :func:`rssm.losses.reconstruction_loss`, is its summed squared error), so it is not passed through a
    sigmoid: near 0 and 1 a sigmoid's gradient vanishes and the model settles on blank frames
    (chapter 2 shows the gradient). The last bias starts at 0, the background's value.
    """

    def __init__(self, config: RSSMConfig) -> None:
        super().__init__()
        self.side = config.image_size // 2**config.cnn_layers
        self.top_channels = config.cnn_depth * 2 ** (config.cnn_layers - 1)
        self.proj = nn.Linear(config.deter_dim + config.latent_size, self.top_channels * self.side**2)
        layers: list[nn.Module] = []
        channels = self.top_channels
        for i in reversed(range(config.cnn_layers)):
            last = i == 0
            out = config.image_channels if last else config.cnn_depth * 2 ** (i - 1)
            layers.append(nn.ConvTranspose2d(channels, out, kernel_size=4, stride=2, padding=1))
            if not last:
                layers.append(nn.SiLU())
            channels = out
        self.deconvs = nn.Sequential(*layers)
        nn.init.zeros_(layers[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.proj(features)).view(-1, self.top_channels, self.side, self.side)  # (N, C', h, w)
        return self.deconvs(x)  # (N, C, H, W)


class LayerNormGRUCell(nn.Module):
    """A GRU cell with LayerNorm on its gates, as in DreamerV2/V3 (the update gate starts biased shut).

    The update gate's -1 bias makes h change slowly at the start of training, which keeps early
    gradients through time stable.
    """

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim + hidden_dim, 3 * hidden_dim, bias=False)
        self.norm = nn.LayerNorm(3 * hidden_dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        reset, candidate, update = self.norm(self.linear(torch.cat([x, h], -1))).chunk(3, -1)
        reset = torch.sigmoid(reset)
        candidate = torch.tanh(reset * candidate)
        update = torch.sigmoid(update - 1.0)
        return update * candidate + (1 - update) * h


class RSSMState(NamedTuple):
    """The model state at one time step: h (B, deter_dim) and z (B, latent_size)."""

    h: torch.Tensor
    z: torch.Tensor


@dataclass
class RSSMOutput:
    """What :meth:`RSSM.forward` returns for a (B, T) batch.

    ``prior`` and ``posterior`` are distributions (:mod:`rssm.distributions`) whose tensors have
    batch shape (B, T). For the Gaussian latent, ``prior_mean``, ``prior_std``, ``post_mean`` and
    ``post_std`` (B, T, stoch_dim) read their parameters.
    """

    recon: torch.Tensor | None  # (B, T, C, H, W) decoded frames (None from ``imagine(decode=False)``)
    prior: Latent  # p(z_t | h_t) at every step
    posterior: Latent  # q(z_t | h_t, e_t) at every step; the prior again when no frame was seen
    h: torch.Tensor  # (B, T, deter_dim)
    z: torch.Tensor  # (B, T, latent_size), sampled from the posterior (or the prior), or its mode

    def _gaussian(self, which: str, name: str) -> Gaussian:
        dist = getattr(self, which)
        if isinstance(dist, Gaussian):
            return dist
        raise AttributeError(f"RSSMOutput.{name}: only a Gaussian latent has a mean and a std; this model's "
                             f"{which} is {type(dist).__name__} (use out.{which})")

    @property
    def prior_mean(self) -> torch.Tensor:  # (B, T, stoch_dim)
        return self._gaussian("prior", "prior_mean").mean

    @property
    def prior_std(self) -> torch.Tensor:  # (B, T, stoch_dim)
        return self._gaussian("prior", "prior_std").std

    @property
    def post_mean(self) -> torch.Tensor:  # (B, T, stoch_dim); the prior's when no frame was seen
        return self._gaussian("posterior", "post_mean").mean

    @property
    def post_std(self) -> torch.Tensor:  # (B, T, stoch_dim)
        return self._gaussian("posterior", "post_std").std


def shift_actions(actions: torch.Tensor) -> torch.Tensor:
    """The action *before* each frame: (B, T, A) -> (B, T, A) with a zero action in front.

    ``shift_actions(actions)[:, t] == actions[:, t-1]``: the action that took frame t-1 to frame t.
    Feeding ``actions[:, t]`` instead is the classic off-by-one (chapter 9): the model would be told
    where the dot goes next before it has to predict it.
    """
    return torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], 1)


class RSSM(nn.Module):
    """Encoder, GRU, prior, posterior and decoder. Chapter 3 builds one step by hand."""

    def __init__(self, config: RSSMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RSSMConfig()
        self.encoder = CNNEncoder(config)
        self.decoder = CNNDecoder(config)
        self.gru_input = nn.Sequential(nn.Linear(config.latent_size + config.action_dim, config.hidden_dim), nn.SiLU())
        if config.gru_layer_norm:
            self.gru: nn.Module = LayerNormGRUCell(config.hidden_dim, config.deter_dim)
        else:
            self.gru = nn.GRUCell(config.hidden_dim, config.deter_dim)
        # the heads output what parameterises z: a Gaussian's mean and raw std, or every categorical's logits
        stats = kind_of(config).head_size(config)
        self.prior_net = nn.Sequential(
            nn.Linear(config.deter_dim, config.hidden_dim), nn.SiLU(), nn.Linear(config.hidden_dim, stats)
        )
        self.posterior_net = nn.Sequential(
            nn.Linear(config.deter_dim + config.embed_dim, config.hidden_dim),
            nn.SiLU(),
            nn.Linear(config.hidden_dim, stats),
        )

    # ----- one step -------------------------------------------------------------------------------
    #
    # One filtering step is: advance h with the GRU (the prior's half), then correct z with the frame
    # (the posterior's half). The first layer of the GRU's input sees [z_{t-1}, a_{t-1}] and the first
    # layer of the posterior sees [h_t, e_t]. Both are linear in a concatenation, so each splits into a
    # part that needs the previous step (z, h) and a part that does not (the action's, the frame's):
    # ``W [z, a] + b = W_z z + (W_a a + b)``. The second part is computed by :meth:`action_features` and
    # :meth:`frame_features`, for one step or for a whole sequence at once; :meth:`advance` and
    # :meth:`correct` do the rest. :meth:`prior_step` and :meth:`posterior` (one step, chapter 3) and
    # :meth:`observe` and :meth:`imagine` (whole sequences) are all built from these four, so there is
    # one definition of a step; a subclass changes a step by overriding one of them.

    def _distribution(self, raw: torch.Tensor) -> Latent:
        """A head's output (B, head size) -> the latent distribution it parameterises."""
        return kind_of(self.config).from_head(raw, self.config)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> RSSMState:
        """The state before frame 0: zeros, as in PlaNet and DreamerV2."""
        device = device or next(self.parameters()).device
        return RSSMState(
            torch.zeros(batch_size, self.config.deter_dim, device=device),
            torch.zeros(batch_size, self.config.latent_size, device=device),
        )

    def action_features(self, prev_actions: torch.Tensor) -> torch.Tensor:
        """The action's part of the GRU input's first layer, W_a a + b: (..., action_dim) -> (..., hidden_dim)."""
        first = self.gru_input[0]
        return F.linear(prev_actions, first.weight[:, self.config.latent_size :], first.bias)

    def frame_features(self, embeds: torch.Tensor) -> torch.Tensor:
        """The frame's part of the posterior's first layer, W_e e + b: (..., embed_dim) -> (..., hidden_dim)."""
        first = self.posterior_net[0]
        return F.linear(embeds, first.weight[:, self.config.deter_dim :], first.bias)

    def advance(self, state: RSSMState, action_features: torch.Tensor) -> torch.Tensor:
        """h_t = GRU(h_{t-1}, input(z_{t-1}, a_{t-1})), the input's action part given: (B, hidden) -> (B, deter)."""
        first = self.gru_input[0]
        x = torch.addmm(action_features, state.z, first.weight[:, : self.config.latent_size].t())  # (B, hidden)
        return self.gru(self.gru_input[1:](x), state.h)  # (B, deter)

    def prior(self, h: torch.Tensor) -> Latent:
        """p(z_t | h_t), for h of any leading shape (..., deter_dim)."""
        return self._distribution(self.prior_net(h))

    def correct(self, h: torch.Tensor, frame_features: torch.Tensor) -> Latent:
        """q(z_t | h_t, e_t), the frame's part of the first layer given. h: (B, deter), frame_features: (B, hidden)."""
        first = self.posterior_net[0]
        x = torch.addmm(frame_features, h, first.weight[:, : self.config.deter_dim].t())  # (B, hidden)
        return self._distribution(self.posterior_net[1:](x))

    def prior_step(self, state: RSSMState, prev_action: torch.Tensor) -> tuple[torch.Tensor, Latent]:
        """Advance h by one frame and return (h_t, p(z_t | h_t)). prev_action: (B, action_dim)."""
        h = self.advance(state, self.action_features(prev_action))  # (B, deter)
        return h, self.prior(h)

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Latent:
        """q(z_t | h_t, e_t). h: (B, deter_dim), embed: (B, embed_dim)."""
        return self.correct(h, self.frame_features(embed))

    def decode(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Render frames from states. h: (..., deter_dim), z: (..., latent_size) -> (..., C, H, W)."""
        lead = h.shape[:-1]
        frames = self.decoder(torch.cat([h, z], -1).reshape(-1, h.shape[-1] + z.shape[-1]))
        return frames.view(*lead, *frames.shape[1:])

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Embed frames. obs: (B, T, C, H, W) -> (B, T, embed_dim)."""
        B, T = obs.shape[:2]
        return self.encoder(obs.reshape(B * T, *obs.shape[2:])).view(B, T, -1)

    # ----- whole sequences ------------------------------------------------------------------------

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, use_posterior: bool = True) -> RSSMOutput:
        """Run a whole sequence. obs: (B, T, C, H, W); actions: (B, T, action_dim).

        Frame t is predicted from ``actions[:, t-1]`` (zeros at t = 0). With ``use_posterior`` the
        latent z_t is sampled from q(z_t | h_t, e_t): the model sees every frame (training). Without it
        z_t is sampled from the prior and no frame is looked at: a dream from the very first step.
        """
        self._check_sequence(obs, actions, "obs", "actions")
        if use_posterior:
            return self.observe(obs, actions, sample=True)
        return self.imagine(self.initial_state(obs.shape[0], obs.device), shift_actions(actions), sample=True)

    def observe(self, obs: torch.Tensor, actions: torch.Tensor, sample: bool = True) -> RSSMOutput:
        """Filter frames with the posterior from the initial state. Shapes as in :meth:`forward`.

        z_t is a posterior sample, or the posterior's mode when ``sample`` is False (for evaluation): the
        Gaussian's mean, or the categorical's most likely classes. Only :meth:`advance`, :meth:`correct`
        and the sample feed the next step, so they alone run frame by frame; the action's and the
        frame's features are computed for all T frames first, and the prior p(z_t | h_t), which feeds
        nothing inside the loop, for all T states after.
        """
        # time-major (T, B, hidden), so that frame t's slice is contiguous
        frame_features = self.frame_features(self.encode(obs).transpose(0, 1))
        action_features = self.action_features(shift_actions(actions).transpose(0, 1))
        state = self.initial_state(obs.shape[0], obs.device)
        hs, zs, posts = [], [], []
        for t in range(obs.shape[1]):
            h = self.advance(state, action_features[t])  # (B, deter)
            post = self.correct(h, frame_features[t])
            state = RSSMState(h, post.sample() if sample else post.mode)
            hs.append(h)
            zs.append(state.z)
            posts.append(post)
        h_all, z_all = torch.stack(hs, 1), torch.stack(zs, 1)  # (B, T, deter), (B, T, latent)
        return RSSMOutput(recon=self.decode(h_all, z_all), prior=self.prior(h_all), posterior=stack(posts),
                          h=h_all, z=z_all)

    def imagine(
        self, state: RSSMState, prev_actions: torch.Tensor, sample: bool = False, decode: bool = True
    ) -> RSSMOutput:
        """Roll the prior forward from ``state``, one frame per action, never looking at a frame.

        prev_actions: (B, N, action_dim); ``prev_actions[:, i]`` is the action taken just before the
        i-th imagined frame. z is the prior's mode (the Gaussian's mean, the categorical's most likely
        classes) unless ``sample``. Returns an :class:`RSSMOutput`
        with N frames whose posterior fields repeat the prior; ``decode=False`` skips rendering the
        frames (``recon`` is None), for losses that only need the latents.
        """
        action_features = self.action_features(prev_actions.transpose(0, 1))  # (N, B, hidden)
        steps = []
        for features in action_features:
            h = self.advance(state, features)  # (B, deter)
            prior = self.prior(h)
            state = RSSMState(h, prior.sample() if sample else prior.mode)
            steps.append((state, prior, prior))
        return self._collect(steps, decode)

    def _collect(self, steps: list[tuple[RSSMState, Latent, Latent]], decode: bool = True) -> RSSMOutput:
        """Stack per-step (state, prior, posterior) along time and decode every frame at once."""
        h = torch.stack([s.h for s, _, _ in steps], 1)  # (B, N, deter_dim)
        z = torch.stack([s.z for s, _, _ in steps], 1)  # (B, N, latent_size)
        return RSSMOutput(
            recon=self.decode(h, z) if decode else None,
            prior=stack([p for _, p, _ in steps]),
            posterior=stack([q for _, _, q in steps]),
            h=h,
            z=z,
        )

    def open_loop_rollout(
        self,
        obs_context: torch.Tensor,
        actions_context: torch.Tensor,
        actions_future: torch.Tensor,
        K: int,
        sample: bool = False,
        num_samples: int | None = None,
    ) -> torch.Tensor:
        """Condition on frames 0..K-1, then predict frames K..T-1 with the prior alone.

        obs_context: (B, K, C, H, W), frames 0..K-1; actions_context: (B, K, A), actions 0..K-1;
        actions_future: (B, T-K, A), actions K..T-1. ``actions_context[:, K-1]`` takes frame K-1 to
        frame K, so it drives the first prediction; the last future action is never used.

        Returns (B, T-K, C, H, W) with ``pred[:, i]`` predicting frame K+i, using the prior's mode (the
        Gaussian's mean, or the categorical's most likely classes), or one sample if ``sample``. With
        ``num_samples=S`` returns S sampled futures, (S, B, T-K, C, H, W). The context is filtered with
        the posterior's mode either way.
        """
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise ValueError(f"K={K!r}: must be a positive int (the number of context frames)")
        if obs_context.dim() != 5 or obs_context.shape[1] != K:
            raise ValueError(f"obs_context: expected shape (B, K={K}, C, H, W), got {tuple(obs_context.shape)}")
        self._check_sequence(obs_context, actions_context, "obs_context", "actions_context")
        B = obs_context.shape[0]
        if actions_future.dim() != 3 or actions_future.shape[0] != B or actions_future.shape[2] != self.config.action_dim:
            raise ValueError(
                f"actions_future: expected shape (B={B}, T-K, {self.config.action_dim}), got {tuple(actions_future.shape)}"
            )
        if actions_future.shape[1] < 1:
            raise ValueError("actions_future: needs at least one future step (T-K >= 1)")
        if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1):
            raise ValueError(f"num_samples={num_samples!r}: must be a positive int or None")

        context = self.observe(obs_context, actions_context, sample=False)
        state = RSSMState(context.h[:, -1], context.z[:, -1])
        prev_actions = torch.cat([actions_context[:, -1:], actions_future[:, :-1]], 1)  # (B, T-K, A)
        if num_samples is None:
            return self.imagine(state, prev_actions, sample=sample).recon
        S = num_samples
        repeat = lambda x: x.unsqueeze(0).expand(S, *x.shape).reshape(S * B, *x.shape[1:])  # noqa: E731
        futures = self.imagine(RSSMState(repeat(state.h), repeat(state.z)), repeat(prev_actions), sample=True)
        return futures.recon.view(S, B, *futures.recon.shape[1:])

    # ----- checks at the door ---------------------------------------------------------------------

    def _check_sequence(self, obs: torch.Tensor, actions: torch.Tensor, obs_name: str, act_name: str) -> None:
        c = self.config
        expected = (c.image_channels, c.image_size, c.image_size)
        if not isinstance(obs, torch.Tensor) or obs.dim() != 5 or tuple(obs.shape[2:]) != expected:
            got = tuple(obs.shape) if isinstance(obs, torch.Tensor) else type(obs).__name__
            raise ValueError(f"{obs_name}: expected shape (B, T, {expected[0]}, {expected[1]}, {expected[2]}), got {got}")
        if not isinstance(actions, torch.Tensor) or actions.dim() != 3 or actions.shape[2] != c.action_dim:
            got = tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
            raise ValueError(f"{act_name}: expected shape (B, T, {c.action_dim}), got {got}")
        if actions.shape[:2] != obs.shape[:2]:
            raise ValueError(
                f"{act_name}: batch and sequence length {tuple(actions.shape[:2])} must match "
                f"{obs_name}'s {tuple(obs.shape[:2])}"
            )
        if obs.shape[1] < 1:
            raise ValueError(f"{obs_name}: sequence length must be at least 1, got 0")
