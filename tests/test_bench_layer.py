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


def test_scaling_times_every_point_in_the_same_rounds():
    """Point after point, the first points paid the process's warm-up and the dense-equivalent line fell with N
    though it does not depend on N. Now each round visits every (value, implementation) before the next round."""
    cfg = MoEConfig(d_model=8, d_hidden=16, num_experts=4, top_k=2, device="cpu")
    impls = ("sparse", "dense-equivalent")
    notes = []
    points = bench_layer.scaling(cfg, 8, "num_experts", (2, 4, 8), repeats=3, impls=impls, budget_s=1.0,
                                 progress=notes.append)
    assert [p["value"] for p in points] == [2, 4, 8]
    assert all(set(p["results"]) == set(impls) and p["results"][i]["runs"] == 3 for p in points for i in impls)
    per_round = 3 * len(impls)
    assert len(notes) == per_round * 3
    for r in range(3):  # round r's notes name every point, in sweep order, before round r + 1 starts
        block = notes[r * per_round:(r + 1) * per_round]
        assert all(f"round {r + 1} of 3" in note for note in block)
        assert [note.split(":")[0] for note in block] == [f"num_experts={v}" for v in (2, 4, 8) for _ in impls]


def test_token_scaling_routes_each_batch_size():
    cfg = MoEConfig(d_model=8, d_hidden=16, num_experts=4, top_k=2, device="cpu")
    points = bench_layer.scaling(cfg, 0, "tokens", (4, 16), repeats=1, impls=("sparse",), budget_s=1.0)
    assert [p["value"] for p in points] == [4, 16] and all(p["results"]["sparse"]["runs"] == 1 for p in points)
