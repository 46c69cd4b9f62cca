"""/replicas under AppTest: the example, an upload and the checkpoint read to the summaries moeviz.routes gives;
the plan's metrics match moeviz.eplb's; bad links and bad files get messages; the worker run (slow)."""
import json

import numpy as np
import pytest

from moeviz.eplb import balancedness, default_plan, plan_replicas
from moeviz.parallel import shutdown_pool
from moeviz.routes import summarize
from moeviz.routes.example import example_npy
from tests.app.pages import metrics, open_page
from tests.routes import fixtures as fx

PAGE = "pages/8_replicas.py"


def plan_figure(at) -> dict:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs if f["layout"]["title"]["text"].startswith("Token copies each GPU"))


def test_example_plan_matches_the_planner():
    at = open_page(PAGE, {"gpus": "4", "replicas": "4", "routes_layer": "2"})
    assert not at.exception and not at.error
    counts = summarize(example_npy()).layers[2].tokens_per_expert
    plan = plan_replicas(counts, 4, 4)
    m = metrics(at)
    assert m["Format"] == "vllm" and m["MoE layers"] == "8" and m["Experts per layer"] == "32"
    assert m["Balancedness (mean / max per GPU)"] == f"{balancedness(plan.gpu_load(counts)):.2f}"
    bars = {t["name"]: t["y"] for t in plan_figure(at)["data"] if t["type"] == "bar"}
    np.testing.assert_allclose(bars["no replicas"], default_plan(32, 4).gpu_load(counts))
    np.testing.assert_allclose(bars["4 replicas (EPLB)"], plan.gpu_load(counts))


@pytest.mark.slow  # loads the checkpoint (transformers)
def test_checkpoint_routing_is_read_like_its_trace():
    at = open_page(PAGE, {"routes_source": "checkpoint"})
    assert not at.exception and not at.error
    m = metrics(at)
    assert m["Format"] == "moeviz" and m["MoE layers"] == "4" and m["Experts per layer"] == "8"


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
    assert metrics(at)["Format"] == "vllm"


@pytest.mark.slow  # starts worker processes
def test_run_with_and_without_replicas():
    try:
        at = open_page(PAGE, {"replica_workers": "2", "replica_skew": "0.9"}, timeout=300)
        at.button(key="run_replicas").click().run()
        assert not at.exception and not at.error
        m = metrics(at)
        assert float(m["Largest output difference vs one process"]) < 1e-4
        rows = {t["name"]: t["y"] for t in [json.loads(c.proto.spec) for c in at.get("plotly_chart")][-2]["data"]
                if t["type"] == "bar"}
        assert max(rows["with replicas"]) < max(rows["no replicas"])
    finally:
        shutdown_pool()
