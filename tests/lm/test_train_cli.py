"""The training CLI runs end to end on a tiny slice and writes loadable files."""
import json
import subprocess
import sys

from moeviz.lm import train
from moeviz.lm.checkpoint import file_digest, load_checkpoint


def test_cli_trains_a_few_steps_on_a_tiny_slice(tmp_path, capsys):
    code = train.main(["--experts", "2", "--max-steps", "3", "--eval-every", "3", "--max-chars", "6000",
                       "--vocab-size", "300", "--context", "16", "--d-model", "16", "--d-hidden", "16",
                       "--heads", "2", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "step     3/3" in printed and "val" in printed and "unigram" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["models"]) == {"e2", "dense"}
    sha = file_digest(tmp_path / "tokenizer.json")
    for name, entry in summary["models"].items():
        model, header = load_checkpoint(tmp_path / entry["file"], sha)
        assert entry["steps"] == 3 and entry["val_loss"] > 0
    assert len(summary["models"]["e2"]["reading"]) == 2


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    lrs = [train.learning_rate(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0 and abs(lrs[-1] - 0.1) < 0.01
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_module_entry_point_has_help():
    result = subprocess.run([sys.executable, "-m", "moeviz.lm.train", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "--max-steps" in result.stdout


def test_stats_only_recomputes_the_specialization_without_training(tmp_path):
    args = ["--experts", "2", "--no-dense", "--max-steps", "2", "--eval-every", "2", "--max-chars", "6000",
            "--vocab-size", "300", "--context", "16", "--d-model", "16", "--d-hidden", "16", "--heads", "2",
            "--out", str(tmp_path)]
    assert train.main(args) == 0
    summary_path = tmp_path / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["models"]["e2"]["specialization"] = {"stale": True}
    summary_path.write_text(json.dumps(summary))
    weights = (tmp_path / "lm_e2.safetensors").read_bytes()
    assert train.main(args + ["--stats-only"]) == 0
    fresh = json.loads(summary_path.read_text())["models"]["e2"]
    assert fresh["specialization"]["tokens"] > 0 and len(fresh["reading"]) == 2
    assert (tmp_path / "lm_e2.safetensors").read_bytes() == weights
