"""Systems-view figures, checked on fig.data against the data they draw."""
import pytest

from moeviz import MoEConfig
from moeviz.figures import parallel as figs
from moeviz.parallel.capacity import capacity_demo, expert_buffers
from moeviz.costs import cost_summary
from moeviz.parallel.model import HARDWARE, MODEL_SHAPES, comm_compute_model, model_curve


def _by_name(fig):
    return {t.name: t for t in fig.data}


def test_capacity_buffers_draw_every_copy_once_and_the_capacity_line():
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, capacity_factor=0.75, device="cpu", seed=1)
    demo = capacity_demo(cfg, 16, token_seed=0)
    trace = demo.trace
    fig = figs.capacity_buffers(expert_buffers(demo, "position"), trace.capacity)
    t = _by_name(fig)
    assert len(t["kept (in a slot)"].x) == int((~trace.dropped).sum())
    assert len(t["dropped (overflow)"].x) == int(trace.dropped.sum()) > 0
    assert max(t["kept (in a slot)"].y) <= trace.capacity < min(t["dropped (overflow)"].y)
    assert set(t["capacity"].y) == {trace.capacity + 0.5}


WORKERS = [dict(rank=0, rows_received=900, compute_ms=30.0, bytes_sent=1000, bytes_received=3000, wait_ms=1.0,
                route_ms=0.5, comm_ms=2.0, step_ms=34.0),
           dict(rank=1, rows_received=100, compute_ms=3.0, bytes_sent=3000, bytes_received=1000, wait_ms=28.0,
                route_ms=0.5, comm_ms=2.0, step_ms=33.0)]


def test_worker_bars_show_each_measurement():
    t = _by_name(figs.worker_bars(WORKERS))
    assert list(t["rows received"].y) == [900, 100]
    assert list(t["waiting ms"].y) == [1.0, 28.0]
    assert list(t["bytes sent"].y) == [1.0, 3.0]  # kB


def test_worker_bars_give_each_panel_half_the_width_and_its_title_room():
    """Before: four panels in a row, whose titles ran into each other (and into the figure's title) at 1024 px."""
    fig = figs.worker_bars(WORKERS, title="Per GPU")
    widths = [fig.layout[f"xaxis{i if i > 1 else ''}"].domain for i in range(1, 5)]
    assert all(right - left <= 0.5 for left, right in widths)
    tops = sorted({round(fig.layout[f"yaxis{i if i > 1 else ''}"].domain[1], 3) for i in range(1, 5)})
    assert len(tops) == 2  # two rows
    assert fig.layout.margin.t >= 70  # the figure's title above the top panels' titles


def test_timelines_stack_phases_per_worker():
    fig = figs.worker_timelines({"a": WORKERS})
    t = _by_name(fig)
    assert list(t["compute"].x) == [30.0, 3.0] and list(t["waiting"].x) == [1.0, 28.0]
    assert "34" in fig.layout.annotations[0].text  # the slowest worker sets the step


def test_model_follows_its_formula():
    hw = HARDWARE["h100-nvlink-ib"]
    r = comm_compute_model(100, 64, 128, 2, 16, hw, matrices=3, bytes_per_value=2)
    rows = 200
    assert r["compute_s"] == pytest.approx(2 * 3 * rows * 64 * 128 / hw.flops_per_s)
    expected = 2 * rows * 64 * 2 * (7 / 16 / hw.intra_bytes_per_s + 8 / 16 / hw.inter_bytes_per_s) + 2 * 15 * hw.latency_s
    assert r["comm_s"] == pytest.approx(expected)
    curve = model_curve(next(iter(MODEL_SHAPES)), "h100-nvlink-ib")
    fig = figs.comm_model_lines(curve)
    assert "MODEL" in fig.layout.title.text
    assert list(_by_name(fig)["communication"].y) == pytest.approx([c["comm_s"] * 1e3 for c in curve])
    shares = [c["comm_share"] for c in curve]
    assert shares[-1] > shares[0]  # crossing nodes makes communication weigh more


def test_model_never_puts_more_devices_than_experts():
    for shape, (_, _, num_experts, _, _) in MODEL_SHAPES.items():
        devices = [c["num_devices"] for c in model_curve(shape, "h100-nvlink-ib")]
        assert devices and max(devices) <= num_experts
        assert devices == [W for W in (2, 4, 8, 16, 32, 64, 128, 256) if W <= num_experts]
    with pytest.raises(ValueError, match="at most as many devices as experts"):
        comm_compute_model(100, 64, 128, 2, 16, HARDWARE["h100-nvlink-ib"], num_experts=8)


def test_rule_of_thumb_is_exact_for_experts_and_close_for_the_layer():
    s = cost_summary(MoEConfig(d_model=16, d_hidden=32, num_experts=8, top_k=2))
    assert s["active_expert_share"] == pytest.approx(2 / 8)
    router = 16 * 8
    assert s["active_share"] == pytest.approx((router + 2 * 2 * 16 * 32) / (router + 8 * 2 * 16 * 32))


def test_dropless_vs_capacity_bars_draw_the_result():
    from moeviz.parallel.dropless import dropless_vs_capacity
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu", seed=1)
    r = dropless_vs_capacity(cfg, 16, 0, 0.75)
    t = _by_name(figs.dropless_vs_capacity_bars(r))
    assert list(t["dropless: rows computed"].y) == r.rows_dropless
    assert list(t["capacity: rows kept"].y) == r.rows_kept
    assert sum(t["capacity: rows dropped"].y) == r.dropped_slots
    drops = t["capacity: rows dropped"]  # an outline only where copies were dropped (no phantom edges)
    assert [w > 0 for w in drops.marker.line.width] == [d > 0 for d in drops.y]
    assert 0 in drops.y and any(d > 0 for d in drops.y)
    assert set(t["capacity C"].y) == {r.capacity}
    assert set(t["mean rows"].y) == {sum(r.rows_dropless) / 4}


def test_devices_spanned_bars_draw_both_histograms():
    from moeviz.parallel.placement import device_limit_demo
    span = device_limit_demo(MoEConfig(num_experts=8, top_k=2, device="cpu"), 32, 0, 4, 1)
    t = _by_name(figs.devices_spanned_bars(span))
    assert list(t["free routing"].y) == span.free and list(t["at most 1 GPU"].y) == span.limited
    assert list(t["free routing"].x) == [1, 2]  # k = 2 experts span at most 2 GPUs: the axis stops there


def test_each_step_label_sits_beside_its_own_groups_slowest_bar_and_the_legend_follows_the_bars():
    """Before: "step N ms" stood at GPU 0's row shifted up, on the previous group's last bar; and Plotly listed a
    stacked horizontal legend backwards (other, waiting, ..., route)."""
    slow_second = [dict(w, rank=r) for r, w in enumerate(reversed(WORKERS))]  # the slowest is GPU 1 here
    runs = {"a": WORKERS, "b": slow_second}
    fig = figs.worker_timelines(runs)
    for note, (label, workers) in zip(fig.layout.annotations, runs.items()):
        slowest = max(workers, key=lambda w: w["step_ms"])
        assert note.y == f"{label} · GPU {slowest['rank']}" and not note.yshift
        assert note.x == slowest["step_ms"] and note.xanchor == "left"
        assert fig.layout.xaxis.range[1] > slowest["step_ms"]  # room for the label after the bar
    assert [t.name for t in fig.data] == ["route", "compute", figs.EXCHANGE, "waiting", "other"]
    assert fig.layout.legend.traceorder == "normal"


def test_the_dropped_rows_have_a_visible_legend_swatch():
    """Before: a white fill with an outline only where copies dropped, so the legend showed a blank swatch."""
    from moeviz.parallel.dropless import dropless_vs_capacity
    r = dropless_vs_capacity(MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu", seed=1), 16, 0,
                             0.75)
    marker = _by_name(figs.dropless_vs_capacity_bars(r))["capacity: rows dropped"].marker
    assert marker.pattern.shape and marker.pattern.fgcolor not in (None, "white")


def test_the_crossover_gpu_count_is_a_labelled_tick():
    """Before: the log axis labelled 2, 8, 32, 128 while the text named a crossover at W = 16."""
    from moeviz.parallel.model import when_comm_wins
    crossings = 0
    for shape in MODEL_SHAPES:
        for hardware in HARDWARE:
            curve = model_curve(shape, hardware)
            axis = figs.comm_model_lines(curve).layout.xaxis
            labelled = dict(zip(axis.tickvals, axis.ticktext))
            first = when_comm_wins(curve)
            if first is not None:
                crossings += 1
                assert labelled[first["num_devices"]] == f"{first['num_devices']}"
            assert sorted(labelled) == [r["num_devices"] for r in curve]  # every point drawn is labelled
    assert crossings
