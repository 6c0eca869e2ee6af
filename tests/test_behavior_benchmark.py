"""benchmarks/behavior.py: one JSON line per agent, and a one-line refusal of bad flags."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "behavior.py"


def run(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_behavior_prints_one_line_per_agent_on_the_same_episodes():
    done = run("--episodes", "2", "--first_episode", "5", "--agents", "actor", "random")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["agent"] for line in lines] == ["actor", "random"]
    for line in lines:
        assert line["episodes"] == 2 and line["occluders"] is True and 0 <= line["success"] <= 1
        assert {"final_distance_px", "ms_per_action", "imagined_steps_per_action"} <= set(line)


def test_behavior_refuses_bad_flags_in_one_line():
    for flags in (["--episodes", "0"], ["--agents", "teleport"]):
        done = run(*flags)
        assert done.returncode == 2
        assert "behavior.py: error:" in done.stderr.strip().splitlines()[-1]  # argparse's one line, no traceback
