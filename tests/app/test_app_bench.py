"""The app benchmark (python -m moeviz.bench app) runs end to end on /heatmap and exits 0 (its figures are recorded
in docs, not asserted); every benchmark reports p95 by the one rule in moeviz.bench.timing."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from moeviz.bench.timing import _summary, p95

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~50 s on 2 cores: a fresh interpreter loads the shipped checkpoint and warms every layer
def test_heatmap_rerun_is_timed_by_the_app_benchmark_which_exits_0(tmp_path):
    out = tmp_path / "page.json"
    done = subprocess.run([sys.executable, "-m", "moeviz.bench", "app", "--page", "heatmap", "--repeats", "3",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = json.loads(out.read_text())["results"]
    assert set(page) == {"rerun", "layer_change"}
    assert all(r["n"] == 3 and 0 < r["median_ms"] <= r["p95_ms"] for r in page.values())


@pytest.mark.parametrize("n", [1, 3, 19, 20, 21, 100])
def test_p95_is_the_nearest_rank_percentile(n):
    samples = [float(v) for v in range(n, 0, -1)]  # n .. 1, unsorted
    rank = next(r for r in range(1, n + 1) if r >= 0.95 * n)  # smallest rank with >= 95 % at or below it
    assert p95(samples) == float(rank)
    assert _summary(samples)["p95_ms"] == float(rank)
