"""Trace JSON: what `python -m moeviz.hf trace` writes reads back equal; anything else is refused clearly."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch.testing import assert_close

from moeviz.hf.tracefile import TraceFileError, read_trace, routing_csv, routing_json, routing_rows
from moeviz.trace import LOSS_FIELDS

ROOT = Path(__file__).resolve().parents[2]
TEXT = "=SUM(A1) def f(x): return x  # the router"
FIELDS = ("router_logits", "router_probs", "selection_scores", "topk_indices", "topk_weights", "dropped",
          "tokens_per_expert")


@pytest.fixture(scope="module")
def routing(tiny_models):
    return tiny_models["deepseek_v3"].route(TEXT)


@pytest.fixture(scope="module")
def doc(routing):
    return json.loads(routing_json(routing))


def _same(a, b, exact=True):
    tol = dict(rtol=0, atol=0) if exact else {}  # another process may sum in another order (threads)
    assert (a.token_ids, a.tokens, a.layers, a.dense_layers, a.model_type) == \
        (b.token_ids, b.tokens, b.layers, b.dense_layers, b.model_type)
    for x, y in zip(a.traces, b.traces):
        for name in FIELDS:
            assert_close(getattr(x, name), getattr(y, name), **tol)
        for name in LOSS_FIELDS:
            assert_close(getattr(x, name), getattr(y, name).float(), **tol)
        assert (x.router, x.top_k, x.num_experts) == (y.router, y.top_k, y.num_experts)
        assert x.metrics.keys() == y.metrics.keys()
        if exact:
            assert x.metrics == y.metrics


def test_round_trip(routing):
    back = read_trace(routing_json(routing).encode())
    _same(back, routing)
    assert back.model_info["family"] == "DeepSeek-V3" and back.traces[0].input is None


def test_cli_writes_the_trace_with_progress(tiny_dirs, tiny_models, tmp_path):
    out = tmp_path / "trace.json"
    result = subprocess.run([sys.executable, "-m", "moeviz.hf", "trace", "--model", str(tiny_dirs["deepseek_v3"]),
                             "--text", TEXT, "--out", str(out), "--device", "cpu"],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "loading" in result.stderr and "MoE layers" in result.stderr and result.stdout == ""
    _same(read_trace(out.read_bytes()), tiny_models["deepseek_v3"].route(TEXT), exact=False)


def test_cli_refusal_is_a_message_not_a_traceback(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    result = subprocess.run([sys.executable, "-m", "moeviz.hf", "trace", "--model", str(tmp_path / "m"),
                             "--text", "hi"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "refused:" in result.stderr and "dense" in result.stderr
    assert "Traceback" not in result.stderr


def _broken(doc, edit):
    d = json.loads(json.dumps(doc))
    edit(d)
    return json.dumps(d)


def _layer(d):
    return d["layers"][0]["trace"]


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(format="other"), "not a moeviz trace"),
    (lambda d: d.update(version=9), "version 9"),
    (lambda d: d["tokens"].pop(), "same number"),
    (lambda d: d.update(layers=[]), "layers"),
    (lambda d: _layer(d)["router_logits"].pop(), "router_logits has shape"),
    (lambda d: _layer(d)["topk_indices"][0].__setitem__(0, 99), "topk_indices must lie in"),
    (lambda d: _layer(d)["topk_indices"][0].__setitem__(0, 1.5), "whole numbers"),
    (lambda d: _layer(d)["dropped"][0].__setitem__(0, 1), "true/false"),
    (lambda d: _layer(d).update(router="magic"), "router 'magic'"),
    (lambda d: _layer(d).update(top_k=0), "top_k"),
    (lambda d: _layer(d).update(balance_loss="low"), "balance_loss"),
    (lambda d: _layer(d)["metrics"].update(evil={"nested": 1}), "metrics"),
    (lambda d: _layer(d).update(router_probs="<script>"), "array of numbers"),
])
def test_bad_trace_files_are_named(doc, edit, words):
    with pytest.raises(TraceFileError, match=words.replace("(", r"\(")):
        read_trace(_broken(doc, edit).encode())


def test_not_json_too_big_nan_and_deep_nesting(doc):
    text = json.dumps(doc)
    with pytest.raises(TraceFileError, match="limit"):
        read_trace(text.encode(), max_bytes=100)
    for bad in (b"\x89PNG\r\n", b"{not json", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(TraceFileError, match="not a moeviz trace"):
            read_trace(bad)
    nan = text.replace(str(doc["layers"][0]["trace"]["router_logits"][0][0]), "NaN", 1)
    with pytest.raises(TraceFileError, match="non-finite"):
        read_trace(nan.encode())


def test_csv_rows_and_formula_cells(routing):
    rows = routing_rows(routing)
    assert len(rows) == len(routing.layers) * len(routing.token_ids)
    assert rows[0]["experts"] == " ".join(map(str, routing.traces[0].topk_indices[0].tolist()))
    assert routing.tokens[0] == "="  # the text starts with a spreadsheet formula
    assert routing_csv(routing).splitlines()[1].split(",")[2] == "'="
