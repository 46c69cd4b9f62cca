"""The /replicas figures show exactly the loads, placement and shares they are given, and their text fits the
cells at the widths the page draws them."""
import numpy as np

from moeviz.eplb import plan_replicas
from moeviz.figures.checkpoint import journey_grid
from moeviz.figures.numbers import plain
from moeviz.figures.parallel import worker_timelines
from moeviz.figures.replicas import co_selection_share_map, gpu_load_bars, placement_map
from moeviz.routes import summarize, views
from moeviz.routes.example import example_npy
from tests.routes import fixtures as fx


def test_gpu_load_bars_and_even_share():
    fig = gpu_load_bars({"no replicas": np.array([30.0, 10.0]), "with <b>replicas</b>": np.array([20.0, 20.0])})
    bars = [t for t in fig.data if t.type == "bar"]
    assert [list(t.y) for t in bars] == [[30.0, 10.0], [20.0, 20.0]]
    assert bars[1].name == "with &lt;b&gt;replicas&lt;/b&gt;"  # labels are inert text
    line = [t for t in fig.data if t.type == "scatter"][0]
    assert list(line.y) == [20.0, 20.0]


def test_placement_map_cells_are_each_copys_share():
    load = np.array([100, 10, 30, 20])
    plan = plan_replicas(load, replicas=2, gpus=2)
    cell = placement_map(plan.phy2log, 2, load).data[0]
    np.testing.assert_allclose(np.array(cell.z), plan.slot_load(load).reshape(2, -1))
    assert np.array(cell.z).sum() == load.sum()
    starred = [t for row in cell.text for t in row if t.endswith("*")]
    assert starred == [f"E{e}*" for e in plan.phy2log if np.bincount(plan.phy2log)[e] > 1]


def test_placement_map_puts_many_slots_down_the_rows():
    """32 experts + 2 replicas on 2 GPUs: 17 slots each, too many columns for a phone, so each GPU is a column;
    the cells are the same as the rows-per-GPU map's, transposed, and every slot keeps its expert's name."""
    load = np.asarray(summarize(example_npy()).layers[0].tokens_per_expert)
    plan = plan_replicas(load, replicas=2, gpus=2)
    cell = placement_map(plan.phy2log, 2, load).data[0]
    assert list(cell.x) == ["GPU 0", "GPU 1"] and len(cell.y) == 17
    np.testing.assert_allclose(np.array(cell.z), plan.slot_load(load).reshape(2, -1).T)
    assert [[t.rstrip("*") for t in row] for row in np.array(cell.text).T.tolist()] == \
        [[f"E{e}" for e in gpu] for gpu in plan.gpu_experts()]
    few = placement_map(plan_replicas(load, 4, 4).phy2log, 4, load).data[0]  # 9 slots a GPU: a row per GPU
    assert list(few.y) == [f"GPU {g}" for g in range(4)] and len(few.x) == 9


# Measured in Chromium on /replicas (the built-in example: 24 tokens x 8 layers): the journey grid's plot area is
# 510 px wide in a 1024 px window and 304 px in a 390 px one. Its 11 px cell text averages 0.45 em per character
# ("E14 E15 E16 E17": 74 px); 0.55 leaves room for wider digits. Plotly spaces <br> lines 1.3 em apart.
PLOT_PX = {1024: 510, 390: 304}
CHAR_EM, LINE_EM = 0.55, 1.3


def example_window():
    return summarize(example_npy(), format="vllm", paths=True).window


def test_journey_cells_hold_their_text_at_1024_and_390_px():
    """Written on one line, the example's four experts per cell ran into the next cell at 1024 and 390 px."""
    window = example_window()
    fig = journey_grid(window.ids, None, [f"#{t}" for t in range(window.num_tokens)], window.layers)
    heat = fig.data[0]
    assert heat.texttemplate == "%{text}"  # the experts are written in the cells
    T, L = len(heat.y), len(heat.x)
    row_px = (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b) / T
    font = heat.textfont.size
    for width, plot_px in PLOT_PX.items():
        for t, row in enumerate(heat.text):
            for i, cell in enumerate(row):
                lines = cell.split("<br>")
                # every expert of the dump is written, in the dump's order
                assert [int(name[1:]) for name in " ".join(lines).split()] == window.ids[t, i].tolist()
                widest = max(len(line) for line in lines) * CHAR_EM * font
                assert widest <= plot_px / L - heat.xgap, (width, cell)
                assert len(lines) * LINE_EM * font <= row_px - heat.ygap, (width, cell)


def test_journey_cells_too_narrow_for_any_name_leave_it_to_the_hover():
    """58 layers of top-8 of 256 (DeepSeek-V3's shape): no name fits a cell on a phone, so none is written."""
    ids = np.random.default_rng(0).integers(0, 256, size=(4, 58, 8))
    fig = journey_grid(ids, None, ["a", "b", "c", "d"], list(range(3, 61)))
    heat = fig.data[0]
    assert heat.texttemplate is None and "hover" in fig.layout.title.text
    assert heat.text[0][0] == " ".join(f"E{e}" for e in ids[0, 0])  # still in the hover
    from moeviz.figures.numbers import figure_tables
    table = figure_tables(fig)[0].frame  # and in the chart's table of numbers (read by screen readers)
    assert table.iloc[0, 0].startswith(" ".join(f"E{e}" for e in ids[0, 0]))


def naive_co_selection_share(ids: np.ndarray, a: int, b: int, num_experts: int) -> np.ndarray:
    """Of the tokens with expert i at layer a, the share with expert j among their experts at layer b."""
    share = np.zeros((num_experts, num_experts))
    for i in range(num_experts):
        tokens = [t for t in range(len(ids)) if i in ids[t, a]]
        for j in range(num_experts):
            share[i, j] = sum(j in ids[t, b] for t in tokens) / max(len(tokens), 1)
    return share


def test_co_selection_map_is_a_share_of_the_rows_tokens_and_rows_add_up_to_k():
    ids = fx.routing(60, 2, 3, 6, seed=2)
    summary = summarize(fx.npy_bytes(ids), format="vllm", paths=True)
    share = views.co_selection_share(summary.pairs[(0, 1)])
    expected = naive_co_selection_share(ids, 0, 1, 6)
    np.testing.assert_allclose(share, expected)
    fig = co_selection_share_map(share, 0, 1)
    z = np.array(fig.data[0].z)
    np.testing.assert_allclose(z, expected)
    np.testing.assert_allclose(z.sum(axis=1), np.full(6, 3.0))  # each token picks k = 3 at layer 1
    assert z.max() <= 1 and fig.data[0].zmax == 1
    # the colour bar says what a cell is: a share of its row's tokens (rows add up to k, so not a share of 1)
    assert plain(fig.data[0].colorbar.title.text) == "share of the row's tokens"


def test_co_selection_map_names_at_most_8_experts_across():
    """32 names across smeared into one another on a 390 px phone (columns ~7 px wide)."""
    fig = co_selection_share_map(np.full((32, 32), 1 / 32), 0, 1)
    assert list(fig.layout.xaxis.ticktext) == [f"E{e}" for e in range(0, 32, 4)]
    assert list(fig.layout.yaxis.ticktext) == [f"E{e}" for e in range(32)]  # rows are 14 px: all fit
