"""benchmarks/laptop_recipe.py: a tiny real run end to end, its record file, and bad flags."""

import json
import subprocess
import sys
from pathlib import Path

from rssm.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "laptop_recipe.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT / "tests", capture_output=True, text=True,
                          timeout=600, check=False)


def test_a_short_run_prints_and_records_its_line(tmp_path):
    record = tmp_path / "runs.jsonl"
    record.write_text('{"earlier": true}\n')
    flags = ["--max_steps", "2", "--epochs", "3", "--train_sequences", "32", "--val_sequences", "8", "--no_occlusion",
             "--deter_dim", "32", "--hidden_dim", "32", "--stoch_dim", "4", "--viz_interval", "5"]
    done = run("--seeds", "3", "--record", str(record), "--", *flags)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["command"] == "rssm-train --seed 3 " + " ".join(flags)
    assert line["steps"] == 2 and line["occlusion"] is False
    assert (line["lr"], line["lr_final"]) == (TrainConfig().lr, TrainConfig().lr_final)  # the run's learning rate
    assert 0 < line["h10_constant_velocity_px"] and 0 < line["h10_px"]
    assert record.read_text().splitlines() == ['{"earlier": true}', json.dumps(line)]  # appended, nothing lost


def test_seed_and_output_dir_belong_to_the_script():
    for flag in ("--seed", "--output_dir"):
        done = run("--", flag, "1")
        assert done.returncode == 2 and f"{flag} is set by laptop_recipe itself" in done.stderr


def test_a_failing_rssm_train_exits_with_its_one_line():
    done = run("--", "--lr", "-1")
    assert done.returncode != 0
    assert "rssm-train exited with 2" in done.stderr and "lr" in done.stderr
    assert "Traceback" not in done.stderr
