"""Configs: every field of every config is checked by one helper (rssm.config), with one wording."""

import dataclasses
import re
import typing

import pytest
import torch

from rssm.config import Bounds, at_least, between, check_fields, check_value, non_negative, positive
from rssm.dataset import MovingDotConfig
from rssm.evaluate import EvalProtocol
from rssm.losses import FreeBitsMode, LossConfig
from rssm.model import LATENTS, RSSMConfig
from rssm.planning import EpisodeSpec, PlannerConfig, PlanningTask
from rssm.train import TrainConfig

EPISODE = {"seed": 0, "start_state": torch.zeros(4), "goal": torch.zeros(2),
           "occluder_mask": torch.zeros(1, 8, 8, dtype=torch.bool)}
CONFIGS = {  # every config of the package, with the arguments it needs
    MovingDotConfig: {}, RSSMConfig: {}, LossConfig: {}, TrainConfig: {}, EvalProtocol: {"name": "test"},
    PlannerConfig: {}, PlanningTask: {}, EpisodeSpec: EPISODE,
}
WRONG_TYPE = {int: 1.5, float: "1.0", bool: "yes", str: 3, torch.Tensor: [0.0, 0.0]}  # a value of another type
MESSAGE = re.compile(r"^(\w+)\.(\w+)=(.+): must be .+$")  # Class.field=value: must be ...


def _wrong_value(kind):
    args = typing.get_args(kind)
    if type(None) in args:  # X | None: a value that is no X
        (kind,) = [arg for arg in args if arg is not type(None)]
    if typing.get_origin(kind) is typing.Literal:
        return "no such choice"
    return WRONG_TYPE[kind]


CASES = [(cls, name, _wrong_value(kind)) for cls in CONFIGS for name, kind in typing.get_type_hints(cls).items()
         if name in {f.name for f in dataclasses.fields(cls)}]


@pytest.mark.parametrize("cls, name, value", CASES, ids=[f"{c.__name__}.{n}" for c, n, _ in CASES])
def test_every_field_of_every_config_refuses_a_value_of_another_type_in_one_line_naming_it(cls, name, value):
    with pytest.raises(ValueError) as error:
        cls(**{**CONFIGS[cls], name: value})
    match = MESSAGE.match(str(error.value))
    assert match is not None, str(error.value)
    assert match.group(1, 2, 3) == (cls.__name__, name, repr(value))


@pytest.mark.parametrize("make", [lambda v: MovingDotConfig(max_speed=v), lambda v: MovingDotConfig(action_scale=v),
                                  lambda v: LossConfig(beta=v), lambda v: TrainConfig(max_minutes=v),
                                  lambda v: PlanningTask(success_radius=v)])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), True])
def test_a_number_field_refuses_infinity_nan_and_bools(make, value):
    with pytest.raises(ValueError, match=r"must be a finite"):
        make(value)


def test_the_choices_of_a_field_are_read_from_its_literal():
    with pytest.raises(ValueError) as error:
        LossConfig(free_bits_mode="sum")
    assert str(error.value) == "LossConfig.free_bits_mode='sum': must be one of " + ", ".join(
        map(repr, typing.get_args(FreeBitsMode)))
    with pytest.raises(ValueError, match=re.escape(", ".join(map(repr, LATENTS)))):
        RSSMConfig(latent="bernoulli")


@pytest.mark.parametrize(
    "bounds, kind, text",
    [(positive, int, "a positive int"), (positive, float, "a finite positive number"), (non_negative, int,
      "a non-negative int"), (at_least(2, "a sequence needs a step"), int, "an int >= 2 (a sequence needs a step)"),
     (between(8, 256), int, "an int in [8, 256]"), (between(0, 1, "[)"), float, "a number in [0, 1)"),
     (None, float, "a finite number"), (at_least(2), int | None, "an int >= 2 or None")],
)
def test_a_bound_says_what_the_value_must_be(bounds, kind, text):
    with pytest.raises(ValueError) as error:
        check_value("f", "x", "wrong", kind, bounds)
    assert str(error.value) == f"f.x='wrong': must be {text}"


def test_none_passes_only_where_the_annotation_allows_it_and_values_inside_the_bounds_pass():
    check_value("f", "x", None, int | None, positive)
    check_value("f", "x", 1, int, positive)
    check_value("f", "x", 0.0, float, between(0, 1, "[)"))
    with pytest.raises(ValueError, match=r"^f\.x=None: must be a positive int$"):
        check_value("f", "x", None, int, positive)
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\)"):
        check_value("f", "x", 1.0, float, between(0, 1, "[)"))


def test_a_tensor_in_a_message_is_shown_by_its_shape_on_one_line():
    with pytest.raises(ValueError) as error:
        EpisodeSpec(**{**EPISODE, "occluder_mask": torch.zeros(2, 32, 32, dtype=torch.bool)})
    assert str(error.value) == "EpisodeSpec.occluder_mask=<Tensor of shape (2, 32, 32)>: must be a (1, H, W) bool tensor"


def test_a_bounds_table_that_names_no_field_is_a_programming_error():
    @dataclasses.dataclass(frozen=True)
    class Typo:
        size: int = 3
        bounds: typing.ClassVar[dict[str, Bounds]] = {"sise": positive}

        def __post_init__(self) -> None:
            check_fields(self)

    with pytest.raises(TypeError, match="sise"):
        Typo()
