"""Balance-lab figures, checked on fig.data against the history they draw."""
import numpy as np
import pytest

from moeviz.figures import balance as figs
from moeviz.train import TrainConfig, TrainHistory, train


@pytest.fixture(scope="module")
def history() -> TrainHistory:
    return train(TrainConfig(steps=20, tokens_per_step=64, num_experts=4, top_k=2, device="cpu"))


def test_load_heatmap_is_load_over_fair_share(history):
    fig = figs.load_heatmap(history)
    z = np.asarray(fig.data[0].z)  # (E, S)
    load = history.array("tokens_per_expert")
    assert z.shape == (4, 20)
    np.testing.assert_allclose(z, (load / load.mean(axis=1, keepdims=True)).T)
    np.testing.assert_allclose(z.mean(axis=0), 1.0)  # shares average to the fair share
    assert list(fig.data[0].y) == ["E0", "E1", "E2", "E3"]


def test_load_heatmap_bins_long_runs():
    load = np.arange(2 * 400, dtype=float).reshape(400, 2) + 1
    binned, steps = figs._bin_steps(load, max_columns=150)
    assert len(binned) <= 150 and steps[-1] == 400
    np.testing.assert_allclose(binned[0], load[:3].mean(axis=0))  # ceil(400/150) = 3 steps per column


def test_loss_curves_carry_the_losses(history):
    fig = figs.loss_curves(history)
    names = [t.name for t in fig.data]
    assert names == ["task loss", "balance loss"]
    np.testing.assert_allclose(fig.data[0].y, history.array("task_loss"))
    np.testing.assert_allclose(fig.data[1].y, history.array("balance_loss"))
    assert list(fig.data[0].x) == list(range(1, 21))
    low, high = fig.layout.yaxis2.range  # the balance panel always shows its reference, 1 = perfectly even
    assert low <= 1.0 <= high and low <= history.array("balance_loss").min() and high >= history.array(
        "balance_loss").max()


def test_health_curves_one_panel_per_metric(history):
    fig = figs.health_curves(history)
    assert len(fig.data) == len(figs.HEALTH)
    np.testing.assert_allclose(fig.data[0].y, history.array("max_mean_load"))
    np.testing.assert_allclose(fig.data[-1].y, history.specialization())
    dropped_axis = [name for name, _, _ in figs.HEALTH].index("dropped_fraction") + 1
    assert fig.layout[f"yaxis{dropped_axis}"].range[0] == 0  # no drops: a line at the bottom, not mid-axis


def test_assignment_matrix_rows_are_cluster_shares(history):
    fig = figs.assignment_matrix(history)
    z = np.asarray(fig.data[0].z)
    counts = history.array("cluster_expert")[-2:].sum(axis=0)  # last 10% of 20 steps = 2 steps
    np.testing.assert_allclose(z, counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(z.sum(axis=1), 1.0)


def test_tradeoff_chart_one_point_per_weight():
    summaries = [{"balance_weight": w, "max_mean_load": m, "task_loss": t, "specialization": s}
                 for w, m, t, s in [(0.0, 3.0, 0.09, 0.1), (0.3, 1.1, 0.06, 0.6), (10.0, 1.01, 0.11, 0.4)]]
    fig = figs.tradeoff_chart(summaries)
    trace = fig.data[0]
    assert list(trace.x) == [3.0, 1.1, 1.01] and list(trace.y) == [0.09, 0.06, 0.11]
    assert list(trace.text) == ["α=0", "α=0.3", "α=10"]
    assert list(trace.marker.color) == [0.1, 0.6, 0.4]


def test_z_loss_curve_draws_the_z_loss_next_to_the_largest_logit(history):
    fig = figs.z_loss_curve(history)
    t = {trace.name: trace for trace in fig.data}
    np.testing.assert_allclose(t["z-loss"].y, history.array("z_loss"))
    np.testing.assert_allclose(t["largest logit"].y, history.array("max_logit"))
    np.testing.assert_allclose(t["mean |logit|"].y, history.array("mean_abs_logit"))
    assert list(t["z-loss"].x) == list(range(1, history.steps_done + 1))


def test_z_loss_curve_of_a_history_kept_before_the_logit_fields_draws_z_only(history):
    old = {k: v for k, v in history.to_dict().items() if k not in ("max_logit", "mean_abs_logit")}
    fig = figs.z_loss_curve(TrainHistory.from_dict(old))
    assert [trace.name for trace in fig.data] == ["z-loss"]


def test_loss_panel_titles_break_onto_two_lines_with_room_above():
    """On one line each, the two panel titles ran into each other at 390 px."""
    from moeviz.figures.balance import TITLE_BREAK, loss_curves
    from moeviz.train import TrainConfig, train
    fig = loss_curves(train(TrainConfig(steps=5, seed=0)))
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 2 and all(TITLE_BREAK in t for t in titles)
    assert all(len(line) <= 20 for t in titles for line in t.split(TITLE_BREAK))  # ~130 px at 12 px
    assert fig.layout.margin.t >= 64 + 18


def test_cluster_map_prints_whole_percentages_at_a_fixed_readable_size(history):
    """Before: two decimals at Plotly's automatic size, which shrinks the text to its cell (6 px at 1024 px).
    Now whole percentages at a fixed size, and with the printed numbers as the key, no colour bar."""
    from moeviz.figures.numbers import figure_tables
    fig = figs.assignment_matrix(history)
    heat = fig.data[0]
    assert heat.textfont.size is not None and heat.textfont.size >= 11
    assert heat.texttemplate == "%{z:.0%}" and heat.showscale is False
    share = figs.cluster_shares(history)
    table = figure_tables(fig)[0].frame  # what the chart prints, cell by cell
    assert table.values.tolist() == [[f"{v:.0%}" for v in row] for row in share]
    assert list(fig.layout.yaxis.ticktext) == [str(c) for c in range(share.shape[0])]  # short row labels


@pytest.mark.parametrize("num_experts, printed", [(8, True), (16, False)])
def test_cluster_map_prints_numbers_only_where_they_fit_a_phones_cell(num_experts, printed):
    """The figure is the same on every screen, so it is sized for a phone's 358 px: with 16 experts a cell is
    under 19 px there, too narrow for "50%" at 12 px; the colour bar, the hover and the numbers table say it."""
    from moeviz.figures.checkpoint import PHONE_CHART_PX
    history = train(TrainConfig(steps=5, tokens_per_step=64, num_experts=num_experts, top_k=2, device="cpu"))
    heat = figs.assignment_matrix(history).data[0]
    assert (heat.texttemplate is not None) == printed and heat.showscale is (not printed)
    cell_px = PHONE_CHART_PX / num_experts  # an upper bound: margins and row labels take some more
    assert printed or cell_px < len("50%") * 0.6 * figs.CLUSTER_FONT_PX + 6
    assert figs.cluster_numbers_fit(figs.cluster_shares(history)) == printed


def test_z_loss_pair_draws_both_runs_z_and_largest_logit():
    plain, penalised = (train(TrainConfig(steps=20, tokens_per_step=64, num_experts=4, top_k=2, device="cpu",
                                          z_loss_weight=w)) for w in (0.0, 0.1))
    fig = figs.z_loss_pair(plain, penalised, 0.1)
    t = {(trace.name, trace.xaxis): trace for trace in fig.data}
    assert set(t) == {("without z-loss", "x"), ("without z-loss", "x2"), ("with z-loss 0.1", "x"),
                      ("with z-loss 0.1", "x2")}
    for history, name in ((plain, "without z-loss"), (penalised, "with z-loss 0.1")):
        np.testing.assert_allclose(t[(name, "x")].y, history.array("z_loss"))
        np.testing.assert_allclose(t[(name, "x2")].y, history.array("max_logit"))  # the largest logit, next to z
    assert sum(bool(trace.showlegend) for trace in fig.data) == 2  # one legend entry per run
    assert fig.layout.yaxis.type == "log"


def test_every_step_axis_and_quantity_label_uses_the_pages_one_name(history):
    """Before: "step" on the health chart, "training step" elsewhere; "max / mean load", "dropped slots" and
    "load ÷ fair share" for quantities the page names otherwise."""
    health, heat = figs.health_curves(history), figs.load_heatmap(history)
    x_titles = {axis.title.text for fig in (health, heat, figs.loss_curves(history), figs.z_loss_curve(history))
                for axis in fig.select_xaxes() if axis.title.text}
    assert x_titles == {figs.STEP_AXIS} == {"training step"}
    panel_titles = [a.text for a in health.layout.annotations]
    assert figs.LOAD_RATIO in panel_titles and figs.DROPPED in panel_titles
    assert heat.data[0].colorbar.title.text == "load ÷<br>mean"
    summaries = [{"balance_weight": 0.0, "max_mean_load": 2.0, "task_loss": 0.1, "specialization": 0.5}]
    assert figs.LOAD_RATIO in figs.tradeoff_chart(summaries).layout.xaxis.title.text
