"""/replicas under AppTest: the example, an upload and the checkpoint read to the summaries moeviz.routes gives;
the views (drops, journeys, co-selection, probabilities, what-if) match moeviz.routes.views;
the plan's metrics match moeviz.eplb's; bad links and bad files get messages; the worker run (slow)."""
import json
import re

import numpy as np
import pytest

from moeviz.eplb import balancedness, default_plan, plan_replicas
from moeviz.parallel import shutdown_pool
from moeviz.routes import summarize, views
from moeviz.routes.example import example_npy
from tests.app.pages import metrics, open_page
from tests.helpers import plotly_values
from tests.routes import fixtures as fx

PAGE = "pages/8_replicas.py"


def plan_figure(at) -> dict:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs if f["layout"]["title"]["text"].endswith("token copies each GPU computes"))


def test_example_plan_matches_the_planner():
    at = open_page(PAGE, {"gpus": "4", "replicas": "4", "routes_layer": "2"})
    assert not at.exception and not at.error
    counts = summarize(example_npy()).layers[2].tokens_per_expert
    plan = plan_replicas(counts, 4, 4)
    m = metrics(at)
    assert m["Format"] == "vLLM" and m["MoE layers"] == "8" and m["Experts per layer"] == "32"
    assert m["Balancedness"] == f"{balancedness(plan.gpu_load(counts)):.2f}"
    bars = {t["name"]: t["y"] for t in plan_figure(at)["data"] if t["type"] == "bar"}
    np.testing.assert_allclose(bars["no replicas"], default_plan(32, 4).gpu_load(counts))
    np.testing.assert_allclose(bars["4 replicas (EPLB)"], plan.gpu_load(counts))
    # the gain split in two: EPLB placing whole experts alone (R = 0), then the replicas (a reader saw all of it
    # credited to replicas while placing alone already balanced the layer)
    placed = plan_replicas(counts, 0, 4).gpu_load(counts)
    np.testing.assert_allclose(bars["EPLB, placing only"], placed)
    said = next(c.value for c in at.caption if c.value.startswith("Three layouts of the same token copies"))
    assert f"EPLB placing whole experts with no replica, {balancedness(placed):.2f}" in said


def same_gpu_copies(plan) -> list[str]:
    """Each GPU's experts held more than once, found by a loop over the plan's slots."""
    twins = []
    for g in range(plan.num_gpus):
        slots = plan.phy2log[g * plan.slots_per_gpu:(g + 1) * plan.slots_per_gpu].tolist()
        twins += [f"E{e} on GPU {g}" for e in sorted(set(slots)) if slots.count(e) > 1]
    return twins


@pytest.mark.parametrize("gpus, replicas", [(4, 4), (8, 8), (2, 2)])
def test_two_copies_on_one_gpu_are_explained(gpus, replicas):
    """DeepSeek's EPLB (and so the page's plan) can put both copies of an expert on one GPU, as at 4 GPUs and
    4 replicas: the page says where, why, and that such a copy moves no load."""
    at = open_page(PAGE, {"gpus": str(gpus), "replicas": str(replicas), "routes_layer": "0"})
    assert not at.exception and not at.error
    counts = summarize(example_npy()).layers[0].tokens_per_expert
    twins = same_gpu_copies(plan_replicas(counts, replicas, gpus))
    said = [m.value for m in at.markdown if "Two replicas on one GPU" in m.value]
    if (gpus, replicas) == (4, 4):
        assert twins  # every layer of the example has one such pair here
    if not twins:
        assert not said
        return
    assert len(said) == 1 and all(t in said[0] for t in twins)
    assert "least busy GPU that still has a free slot" in said[0] and "takes no work off any GPU" in said[0]


def test_default_plan_metrics_have_labels_that_fit_three_columns():
    at = open_page(PAGE)
    labels = [m.label for m in at.metric if m.label in ("Balancedness", "Busiest GPU")]
    assert labels == ["Balancedness", "Busiest GPU"]  # 30-odd characters were cut to "Busiest GPU (sets the step ti…"
    assert all(m.help for m in at.metric if m.label in labels)


@pytest.mark.slow  # loads the checkpoint (transformers)
def test_checkpoint_routing_is_read_like_its_trace():
    at = open_page(PAGE, {"routes_source": "checkpoint"})
    assert not at.exception and not at.error
    m = metrics(at)
    assert m["Format"] == "moeviz trace" and m["MoE layers"] == "4" and m["Experts per layer"] == "8"
    assert figure_titled(at, "Layer 0: router probabilities")  # a checkpoint's trace carries its logits
    assert not any("No probabilities" in i.value for i in at.info)


def test_upload_reads_a_dump_and_names_a_bad_one():
    ids = fx.routing(40, 3, 2, 8)
    at = open_page(PAGE, {"routes_source": "upload"})
    at.file_uploader(key="routes_upload").set_value(("dump.json", fx.vllm_response(ids, 10), "application/json")).run()
    assert not at.exception and not at.error
    assert metrics(at)["MoE layers"] == "3"
    at.file_uploader(key="routes_upload").set_value(("bad.bin", b"not a dump <b>x</b>", "text/plain")).run()
    assert not at.exception
    assert "could not tell" in at.error[0].value


def test_hostile_links_fall_back_with_a_warning():
    at = open_page(PAGE, {"routes_source": "../../etc/passwd", "gpus": "3", "replicas": "7", "routes_layer": "99"})
    assert not at.exception and len(at.warning) >= 3
    assert metrics(at)["Format"] == "vLLM"


@pytest.mark.slow  # starts worker processes
def test_run_with_and_without_replicas():
    try:
        at = open_page(PAGE, {"replica_workers": "2", "replica_skew": "0.9"}, timeout=300)
        at.button(key="run_replicas").click().run()
        assert not at.exception and not at.error
        m = metrics(at)
        assert float(m["Error vs one GPU"]) < 1e-4
        rows = {t["name"]: t["y"] for t in [json.loads(c.proto.spec) for c in at.get("plotly_chart")][-2]["data"]
                if t["type"] == "bar"}
        assert max(rows["with replicas"]) < max(rows["no replicas"])
        # one word for the machines: the measured charts say GPU, as section 3 does (issue 18)
        timelines = [json.loads(c.proto.spec) for c in at.get("plotly_chart")][-1]
        assert timelines["layout"]["title"]["text"] == "Where each GPU's step time went"
        assert all(" · GPU " in y for y in timelines["data"][0]["y"])
        assert [t["name"] for t in timelines["data"]] == ["route", "compute", "sending tokens (all-to-all)",
                                                          "waiting", "other"]  # no function names in the legend
        assert re.search(r"The plan replicated E\d+(, E\d+)*;", " ".join(c.value for c in at.caption))
    finally:
        shutdown_pool()


def figure_titled(at, start: str) -> dict:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs if f["layout"]["title"]["text"].startswith(start))


values = plotly_values


def test_example_views_match_moeviz_routes():
    at = open_page(PAGE, {"routes_layer": "2", "routes_capacity": "1", "routes_window": "3000"})
    assert not at.exception and not at.error
    summary = summarize(example_npy(), paths=True, window_start=3000)
    drops = views.capacity_drops(summary, 1.0)
    bars = {t["name"]: t for t in figure_titled(at, "Layer 2: token copies each expert keeps")["data"]}
    np.testing.assert_allclose(values(bars["dropped (over capacity)"]["y"]), drops[2].dropped)
    assert bars[f"capacity C = {drops[2].capacity}"]
    journey = figure_titled(at, "Each token's experts")["data"][0]
    firsts = [[int(re.match(r"E(\d+)", cell)[1]) for cell in row] for row in journey["text"]]  # "E7 E3": in order
    np.testing.assert_array_equal(np.array(firsts), summary.window.ids[:, :, 0])
    lost = views.dropped_copies(summary.window, drops)
    assert lost and any(len(d.value) == len(lost) for d in at.dataframe)
    share = figure_titled(at, "Layer 2 → layer 3")["data"][0]["z"]
    np.testing.assert_allclose(values(share), views.co_selection_share(summary.pairs[(2, 3)]))
    # a row adds up to k (4 here), and the caption says so next to the colour bar's "share of the row's tokens"
    np.testing.assert_allclose(values(share).sum(axis=1)[summary.pairs[(2, 3)].chose > 0], 4.0)
    assert any("a row adds up to k, not 1" in c.value for c in at.caption)
    assert any("no router logits" in i.value for i in at.info)  # vLLM's layout has ids only: said on screen
    assert any("cannot show" in m.value and "router probabilities" in m.value for m in at.markdown)


def tiny_trace() -> bytes:
    return fx.moeviz_trace(30, 8, 2, layers=(0, 1))[0]


def test_uploaded_trace_with_logits_shows_probabilities_and_what_if():
    at = open_page(PAGE, {"routes_source": "upload", "routes_whatif": "switch", "routes_whatif_capacity": "1"})
    at.file_uploader(key="routes_upload").set_value(("trace.json", tiny_trace(), "application/json")).run()
    assert not at.exception and not at.error
    summary = summarize(tiny_trace(), paths=True)
    probs = figure_titled(at, "Layer 0: router probabilities")["data"][0]["z"]
    np.testing.assert_allclose(values(probs), views.window_probs(summary.window, 0), rtol=1e-6)
    w = views.window_what_if(summary.window, 0, "switch", 1.0, "weight")
    whatif = figure_titled(at, "Layer 0 under Switch")["data"]
    np.testing.assert_allclose(values(whatif[0]["z"]), w.trace.router_probs.numpy(), rtol=1e-6)
    assert not any("No probabilities" in i.value for i in at.info)


def test_count_only_upload_says_what_it_cannot_show():
    logical = np.random.default_rng(3).integers(0, 50, size=(2, 3, 8))
    at = open_page(PAGE, {"routes_source": "upload"})
    at.file_uploader(key="routes_upload").set_value(("stat.pt", fx.sglang_stat(logical), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error
    infos = " ".join(i.value for i in at.info)
    assert "No journeys" in infos and "counts only" in infos and "No drops" in infos


def test_the_page_says_where_the_sidebar_acts_and_that_the_example_has_paths():
    """A learner moved N and k and saw sections 1-6 stay at 32 experts, top-4; then the example's layer-to-layer
    map showed no paths (its layers were drawn independently). Now the example's tokens keep their place from
    layer to layer, and every pair of layers shows it: a row far from the mean row is a path."""
    at = open_page(PAGE)
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "act only in section 7" in at.info[0].value and "section 5 shows them" in captions
    summary = summarize(example_npy(), format="vllm", paths=True)
    for pair in summary.pairs.values():
        share = np.asarray(views.co_selection_share(pair))
        rows = share[pair.chose >= 50]  # the cold experts' rows (few tokens) wander by sampling alone
        assert np.abs(rows - rows.mean(axis=0)).max() > 0.3


def test_where_replicas_add_nothing_the_page_says_where_they_start_to_matter():
    """At the page's layout (2 GPUs) EPLB placing whole experts already balances the built-in example, so the
    replicas add nothing there; the page says why, and at which GPU count they start to matter on this layer, from
    the planner's own numbers (a reader saw the gain credited to replicas and no layout where they paid). The
    metrics give the replicas' own share of the gain."""
    at = open_page(PAGE)
    counts = summarize(example_npy()).layers[0].tokens_per_expert
    said = next(c.value for c in at.caption if c.value.startswith("Three layouts of the same token copies"))
    assert "placing alone does all of it" in said
    alone = balancedness(plan_replicas(counts, 0, 8).gpu_load(counts))
    copied = balancedness(plan_replicas(counts, 8, 8).gpu_load(counts))
    assert alone < 0.99 <= copied
    pays = next(m.value for m in at.markdown if m.value.startswith("**When replicas pay.**"))
    assert f"the busiest expert carries {max(counts) / sum(counts):.0%} of the layer's token copies" in pays
    assert "a GPU's share is 50%" in pays and "the replicas are pure cost" in pays
    assert (f"Replicas start to matter on this layer at 8 GPUs: placing alone reaches {alone:.2f}, and 8 replicas "
            f"{copied:.2f}") in pays
    assert metrics(at)["From the replicas"] == "+0.00"  # not "-0.00": the plan is a hair below 1.000 here
    at = open_page(PAGE, {"gpus": "8", "replicas": "8"})  # there the replicas' own share is said instead
    said = next(c.value for c in at.caption if c.value.startswith("Three layouts of the same token copies"))
    assert "the replicas bring the other" in said
    assert not any(m.value.startswith("**When replicas pay.**") for m in at.markdown)
    assert metrics(at)["From the replicas"] == f"{copied - alone:+.2f}"
