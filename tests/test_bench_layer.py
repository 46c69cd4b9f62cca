"""The layer benchmark runs end to end on a tiny case (its numbers are recorded by hand, not asserted)."""
import json

from moeviz.bench import layer as bench_layer
from moeviz.bench.__main__ import main as bench_main
from moeviz.config import MoEConfig


def test_run_case_times_every_implementation():
    cfg = MoEConfig(d_model=16, d_hidden=32, num_experts=8, top_k=2, device="cpu")
    results = bench_layer.run_case(cfg, tokens=32, repeats=3)
    assert set(bench_layer.IMPLS) <= set(results)
    assert all(r["median_ms"] > 0 and r["runs"] == 3 for r in results.values())
    assert set(bench_layer.ratios(results)) == {"dense_all_over_sparse", "loop_over_sparse",
                                                "sparse_over_dense_equivalent"}


def test_hf_loop_reference_equals_layer():
    import torch
    from moeviz import MoELayer
    layer = MoELayer(MoEConfig(d_model=8, d_hidden=8, num_experts=5, top_k=2, device="cpu")).eval()
    x = torch.randn(20, 8)
    torch.testing.assert_close(bench_layer.hf_mixtral_forward(layer, x), layer(x)[0])


def test_cli_writes_json(tmp_path, monkeypatch):
    monkeypatch.setitem(bench_layer.REGIMES, "sentence",
                        dict(tokens=16, d_model=8, d_hidden=8, num_experts=4, top_k=2, repeats=2))
    out = tmp_path / "layer.json"
    assert bench_main(["layer", "--regime", "sentence", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "sentence" in report["regimes"] and report["machine"]["torch"]


def test_dispatch_comparison_row():
    from moeviz.bench.dispatch import compare
    row = compare(MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu"), tokens=16, repeats=2)
    assert row["fastest"] in ("padded", "grouped") and row["auto_picks"] in ("padded", "grouped")
    assert row["grouped_padding_rows"] == 0
