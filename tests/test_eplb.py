"""EPLB against DeepSeek's published example, its properties, and an exhaustive search on small cases."""
import json

import numpy as np
import pytest

from moeviz.eplb import (balancedness, default_plan, hierarchical_plan, main, plan_replicas, refine_packing,
                         replicate, balanced_packing)

# github.com/deepseek-ai/EPLB README: 2 layers x 12 experts, 16 slots, 4 groups, 2 nodes, 8 GPUs, and its output.
README_LOAD = np.array([[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
                        [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27]])
README_PHY2LOG = [[5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
                  [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]


@pytest.mark.parametrize("refine", [False, True])
def test_reproduces_deepseeks_published_example(refine):
    for load, expected in zip(README_LOAD, README_PHY2LOG):
        assert hierarchical_plan(load, 16, 4, 2, 8, refine=refine).phy2log.tolist() == expected
        assert plan_replicas(load, replicas=4, gpus=8, nodes=2, groups=4).phy2log.tolist() == expected


def test_deepseeks_greedy_can_put_both_copies_of_an_expert_on_one_gpu():
    """Copies go heaviest first to the lightest GPU with a free slot, with no rule against the GPU that holds the
    other copy: [10, 9, 8, 1] over 2 GPUs with 2 replicas gives E0 two copies of 5 and E1 two of 4.5; E2 (8)
    takes GPU 0, E0's first copy GPU 1, and GPU 1 (5) is still lighter than GPU 0 (8), so it takes the second
    copy too. (refine=False is DeepSeek's code: the README test above.)"""
    load = np.array([10.0, 9.0, 8.0, 1.0])
    plan = hierarchical_plan(load, 6, 1, 1, 2, refine=False)
    gpu_of_e0 = {s // plan.slots_per_gpu for s in np.flatnonzero(plan.phy2log == 0)}
    assert plan.replica_count(4)[0] == 2 and len(gpu_of_e0) == 1
    # the two copies do the work of one: that GPU computes all of E0's tokens
    g = gpu_of_e0.pop()
    assert plan.gpu_load(load)[g] == load[0] + load[1] / 2


def random_cases(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        gpus = int(rng.choice([1, 2, 4, 8]))
        experts = gpus * int(rng.integers(1, 5))
        replicas = gpus * int(rng.integers(0, 3))
        nodes = int(rng.choice([n for n in (1, 2, 4) if gpus % n == 0]))
        load = (rng.pareto(1.2, experts) * 100).astype(int) * (rng.random(experts) < 0.9)
        yield load, replicas, gpus, nodes


def test_properties_on_random_loads():
    for load, replicas, gpus, nodes in random_cases(400):
        plan = plan_replicas(load, replicas, gpus, nodes)
        E = len(load)
        assert len(plan.phy2log) == E + replicas
        assert (plan.replica_count(E) >= 1).all()  # every logical expert keeps a replica
        assert plan.phy2log.reshape(gpus, -1).shape[1] == (E + replicas) // gpus  # same slots on every GPU
        after, before = plan.gpu_load(load), default_plan(E, gpus).gpu_load(load)
        np.testing.assert_allclose(after.sum(), load.sum())  # load is conserved
        assert balancedness(after) >= balancedness(before) - 1e-12  # never worse than no replicas


def test_hierarchical_keeps_each_group_on_one_node():
    rng = np.random.default_rng(5)
    for _ in range(50):
        load = rng.integers(0, 1000, 16)
        plan = hierarchical_plan(load, 24, num_groups=4, num_nodes=2, num_gpus=4)
        per_node = plan.phy2log.reshape(2, -1)
        for group in range(4):
            nodes = {n for n in range(2) if np.isin(np.arange(group * 4, group * 4 + 4), per_node[n]).any()}
            assert len(nodes) == 1


def compositions(total, parts):
    if parts == 1:
        yield (total,)
        return
    for first in range(1, total - parts + 2):
        for rest in compositions(total - first, parts - 1):
            yield (first,) + rest


def optimum(load, slots, gpus):
    """The smallest busiest-GPU load over every replica count and every equal-size assignment of the copies."""
    best = np.inf

    def place(items, i, totals, sizes):  # every assignment, skipping GPUs in the same state (symmetry)
        nonlocal best
        if max(totals) >= best:
            return
        if i == len(items):
            best = max(totals)
            return
        for g in {(totals[g], sizes[g]): g for g in range(gpus) if sizes[g] < slots // gpus}.values():
            totals[g] += items[i]
            sizes[g] += 1
            place(items, i + 1, totals, sizes)
            totals[g] -= items[i]
            sizes[g] -= 1

    for count in compositions(slots, len(load)):
        place([load[e] / count[e] for e in range(len(load)) for _ in range(count[e])], 0, [0.0] * gpus, [0] * gpus)
    return best


def test_replication_is_optimal_and_the_plan_within_lpts_bound():
    rng = np.random.default_rng(2)
    for _ in range(40):
        gpus = int(rng.choice([2, 3]))
        experts = gpus * int(rng.integers(1, 3))
        slots = experts + gpus * int(rng.integers(0, 2))
        load = rng.integers(1, 200, experts).astype(float)
        # replicate() minimises the largest load per copy over every way of giving out the copies
        count = np.bincount(replicate(load, slots), minlength=experts)
        assert (load / count).max() == min((load / np.array(c)).max() for c in compositions(slots, experts))
        # the whole plan is within Graham's 4/3 of the best possible busiest GPU (exhaustive search)
        plan = plan_replicas(load, slots - experts, gpus)
        assert plan.gpu_load(load).max() <= 4 / 3 * optimum(load, slots, gpus) + 1e-9


def test_refine_never_raises_the_busiest_pack():
    rng = np.random.default_rng(7)
    for _ in range(200):
        weights = rng.integers(1, 100, 12).astype(float)
        pack, _ = balanced_packing(weights, 3)
        refined = refine_packing(weights, pack)
        assert np.bincount(refined).tolist() == [4, 4, 4]
        assert np.bincount(refined, weights).max() <= np.bincount(pack, weights).max()


def test_bad_shapes_say_what_fits():
    with pytest.raises(ValueError, match="multiple of the GPUs"):
        plan_replicas(np.ones(8), replicas=3, gpus=4)
    with pytest.raises(ValueError, match="split evenly over 3 nodes"):
        plan_replicas(np.ones(8), replicas=0, gpus=4, nodes=3)


def test_command_line_json(tmp_path, capsys):
    summary = {"format": "vllm", "layers": [{"layer": n, "tokens": int(row.sum()) // 2, "top_k": 2,
                                             "tokens_per_expert": row.tolist()} for n, row in enumerate(README_LOAD)]}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    assert main(["plan", "--load", str(path), "--replicas", "4", "--gpus", "8", "--nodes", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"layers"}
    for layer, load in zip(doc["layers"], README_LOAD):
        assert set(layer) == {"layer", "phy2log", "gpu_load_before", "gpu_load_after"}
        assert layer["gpu_load_before"] is None  # 12 experts have no even default placement on 8 GPUs
        assert sum(layer["gpu_load_after"]) == pytest.approx(load.sum())
    assert main(["plan", "--load", str(path), "--replicas", "3", "--gpus", "8"]) == 2
    assert main(["plan", "--load", str(path), "--replicas", "4", "--gpus", "4", "--json"]) == 0
    layer = json.loads(capsys.readouterr().out)["layers"][0]
    assert layer["gpu_load_before"] == default_plan(12, 4).gpu_load(README_LOAD[0]).tolist()
