"""The checkpoint benchmark runs end to end on one tiny family (its numbers are recorded in docs, not asserted)."""
import json

from moeviz.bench.__main__ import main as bench_main


def test_cli_writes_json(tmp_path, tiny_dirs):
    out = tmp_path / "checkpoint.json"
    assert bench_main(["checkpoint", "--families", "qwen3_moe", "--model", str(tiny_dirs["gpt_oss"]),
                       "--loads", "1", "--repeats", "2", "--tokens", "16", "--no-shipped", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert rows["tiny qwen3_moe"]["tokens"] == 16 and rows["gpt_oss"]["model_type"] == "gpt_oss"
    assert all(r["route_ms_median"] > 0 and r["load_s_median"] > 0 for r in rows.values())
    assert report["machine"]["torch"] and "load_average_at_start" in report

