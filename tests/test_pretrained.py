"""The checkpoint shipped in the package loads and meets the open-loop quality bar."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rssm import load_pretrained
from rssm.checkpoint import PRETRAINED
from rssm.evaluate import QUALITY

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a benchmark script from another directory than the repository's: scripts import only the package."""
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT / "tests", capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    checkpoint = load_pretrained()
    return QUALITY.replace(sequences=192).evaluate(checkpoint.model, checkpoint.data_config)  # its first 192 sequences


def test_the_shipped_checkpoint_is_small_and_trained_with_occlusion():
    path = PRETRAINED["moving_dot_occluded"]
    assert path.stat().st_size < 10 * 2**20
    checkpoint = load_pretrained()
    assert checkpoint.data_config.use_occlusion
    assert not checkpoint.model.training
    assert len(checkpoint.history["loss"]) > 0


def test_the_shipped_checkpoint_beats_constant_velocity_at_horizons_10_and_20(report):
    for horizon in (10, 20):
        errors = report.at(horizon)
        assert errors["model"] < errors["constant_velocity"], report.table()


def test_the_shipped_checkpoint_meets_the_horizon_10_bar_of_1_5_px(report):
    assert report.at(10)["model"] <= 1.5, report.table()


def test_the_error_breakdown_splits_every_scored_frame_into_exactly_one_group():
    result = run_script("benchmarks/error_breakdown.py", "--sequences", "64")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["h10_px"]
    parts = [groups[name] for name in ("visible throughout", "hidden during the rollout only", "hidden in the context")]
    assert sum(part["n"] for part in parts) == groups["all"]["n"] > 0
    assert sum(part["share_of_total"] for part in parts) == pytest.approx(1.0, abs=0.02)


def test_sampled_futures_scores_the_mean_path_exactly_as_the_error_breakdown_does():
    def run(*args: str) -> dict:
        result = run_script(*args, "--sequences", "32")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    pooled = run("benchmarks/sampled_futures.py", "--samples", "2")["h10_px"]
    assert set(pooled) == {"mean path", "one sample", "average frame", "average position", "median position"}
    assert pooled["mean path"] == run("benchmarks/error_breakdown.py")["h10_px"]["all"]["mean"]


@pytest.mark.parametrize("flag, value", [("--repeats", "0"), ("--sequences", "-3")])
def test_check_pretrained_refuses_a_bad_count_with_one_line(flag, value):
    result = run_script("benchmarks/check_pretrained.py", flag, value, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(f"{flag} must be at least 1, got {value}")


def test_check_pretrained_repeats_report_the_spread_over_held_out_sets():
    result = run_script("benchmarks/check_pretrained.py", "--sequences", "16", "--repeats", "3")
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    spread = summary["h10_model_over_sets"]
    assert spread["sets"] == 3 and spread["min"] <= spread["mean"] <= spread["max"] and spread["sd"] > 0
    assert spread["min"] <= summary["h10_px"]["model"] <= spread["max"]  # the first set is one of the three
