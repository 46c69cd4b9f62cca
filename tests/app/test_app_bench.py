"""The app benchmark (python -m moeviz.bench app) runs end to end on /heatmap (its figures are recorded in docs,
not asserted)."""
import json

from moeviz.bench.__main__ import main as bench_main


def test_heatmap_rerun_is_timed_by_the_app_benchmark(tmp_path):
    out = tmp_path / "page.json"
    bench_main(["app", "--page", "heatmap", "--repeats", "3", "--out", str(out)])
    page = json.loads(out.read_text())["results"]
    assert set(page) == {"rerun", "layer_change"}
    assert all(r["n"] == 3 and 0 < r["median_ms"] <= r["p95_ms"] for r in page.values())
