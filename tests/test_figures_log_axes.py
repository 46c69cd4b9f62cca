"""Log axes label a few ticks that cannot pile up (they did with Plotly's "complete" minor labels)."""
import math

import numpy as np
import pytest

from moeviz.figures import balance, compute, log_axis, log_ticks, parallel
from moeviz.parallel.model import HARDWARE, MODEL_SHAPES, model_curve
from moeviz.train import TrainConfig, train


def spacing_ok(ticks, lo, hi, max_ticks):
    """Inside the data, at most max_ticks, and no two closer than 15 % of the axis (30 px of a 200 px axis)."""
    logs = np.log10(ticks)
    span = max(math.log10(hi) - math.log10(lo), 1e-12)
    return (len(ticks) <= max_ticks and all(lo * 0.995 <= t <= hi * 1.005 for t in ticks)
            and (len(ticks) < 2 or np.diff(logs).min() >= 0.15 * span))


@pytest.mark.parametrize("lo, hi", [(0.05, 1.0), (0.3, 7.0), (0.9, 0.95), (0.5, 3000.0), (2.0, 4096.0),
                                    (0.0008, 0.5), (0.3, 0.9), (1e-6, 1e3), (1.0, 1.3)])
def test_ticks_stay_inside_the_data_few_and_apart(lo, hi):
    values = np.geomspace(lo, hi, 17)
    ticks = log_ticks(values, max_ticks=5)
    assert len(ticks) >= 2 and spacing_ok(ticks, lo, hi, 5), ticks


def test_ticks_are_round_numbers_when_the_range_allows():
    assert log_ticks([0.05, 0.4, 1.0], max_ticks=6) == [0.05, 0.1, 0.2, 0.5, 1.0]


def test_axis_at_the_sweep_points_labels_each_point():
    axis = log_axis([4, 8, 16, 32, 64], at_values=True)
    assert axis["type"] == "log" and axis["tickvals"] == [4, 8, 16, 32, 64]
    assert axis["ticktext"] == ["4", "8", "16", "32", "64"]


@pytest.fixture(scope="module")
def collapsed():
    """A real run without balance loss (α = 0): the task-loss panel of the issue."""
    return train(TrainConfig(steps=60, tokens_per_step=64, num_experts=4, top_k=2, balance_weight=0.0, device="cpu"))


def test_balance_task_loss_axis(collapsed):
    loss = collapsed.array("task_loss")
    axis = balance.loss_curves(collapsed).layout.yaxis
    assert axis.type == "log" and axis.minorloglabels is None  # not "complete": that labelled every 2…9
    assert list(axis.tickvals) == log_ticks(loss, max_ticks=5)
    assert spacing_ok(list(axis.tickvals), loss.min(), loss.max(), 5)
    assert list(axis.ticktext) == [f"{t:g}" for t in axis.tickvals]


def test_scaling_axes_use_the_sweep_and_spaced_times():
    points = [{"value": n, "results": {"sparse": {"median_ms": 0.9 + 0.1 * n},
                                       "dense-all": {"median_ms": 0.5 * n}}} for n in (4, 8, 16, 32, 64)]
    fig = compute.scaling_lines(points, "num_experts")
    assert list(fig.layout.xaxis.tickvals) == [4, 8, 16, 32, 64]
    times = [p["results"][i]["median_ms"] for p in points for i in ("sparse", "dense-all")]
    assert spacing_ok(list(fig.layout.yaxis.tickvals), min(times), max(times), 5)


@pytest.mark.parametrize("shape", list(MODEL_SHAPES))
def test_comm_model_axes(shape):
    rows = model_curve(shape, next(iter(HARDWARE)))  # the page's own model rows
    fig = parallel.comm_model_lines(rows)
    devices = [r["num_devices"] for r in rows]
    # every W the model draws is a labelled tick (the crossover the text names must be one): at most the eight
    # powers of two from 2 to 256, which fit a 390-px phone (tests/app/test_parallel_readable.py)
    assert set(fig.layout.xaxis.tickvals) == set(devices) and len(fig.layout.xaxis.tickvals) <= 8
    times = [r[k] * 1e3 for r in rows for k in ("compute_s", "comm_s")]
    assert spacing_ok(list(fig.layout.yaxis.tickvals), min(times), max(times), 5)
