"""The replicas figures show exactly the loads and placement they are given."""
import numpy as np

from moeviz.eplb import plan_replicas
from moeviz.figures.replicas import gpu_load_bars, placement_map


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
