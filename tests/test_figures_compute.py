"""Compute figures on fig.data, fed by the real cost counts and the real benchmark code."""
import pytest

from moeviz import MoEConfig
from moeviz.bench.layer import run_case, scaling
from moeviz.bench.timing import DEFAULT_ROUNDS
from moeviz.figures import compute as figs
from moeviz.costs import cost_summary

CFG = MoEConfig(d_model=8, d_hidden=16, num_experts=4, top_k=2, device="cpu")


def test_params_and_flops_bars_show_the_counts():
    s = cost_summary(CFG)
    assert list(figs.params_bars(s).data[0].x) == [s["total_params"], s["active_params"]]
    flops = list(figs.flops_bars(s).data[0].x)
    assert flops == [s["active_flops_per_token"], s["dense_flops_per_token"], s["dense_equivalent_flops_per_token"]]
    assert flops[0] < flops[1]  # a sparse token costs less than running every expert


def test_timing_bars_and_scaling_lines_from_real_measurements():
    impls = ("sparse", "dense-all", "dense-equivalent")
    results = run_case(CFG, tokens=8, repeats=3, impls=impls, budget_s=1.0)
    bars = figs.timing_bars(results).data[0]
    assert list(bars.x) == list(impls) and list(bars.y) == [results[i]["median_ms"] for i in impls]
    seen = []
    points = scaling(CFG, 8, "num_experts", (2, 4), repeats=3, impls=impls, budget_s=1.0, progress=seen.append)
    assert [p["value"] for p in points] == [2, 4] and len(seen) == 2 * len(impls) * DEFAULT_ROUNDS
    fig = figs.scaling_lines(points, "num_experts")
    assert {t.name for t in fig.data} == set(impls)
    assert list(fig.data[0].x) == [2, 4]
    with pytest.raises(KeyError):
        _ = points[0]["results"]["per-expert loop"]  # only the requested implementations were timed
