"""Every format, built in its documented layout (traps included), reads to the plain numpy count."""
import base64
import json

import numpy as np
import pytest
import torch

from moeviz.routes import FORMATS, RoutesError, Source, detect_format, summarize
from moeviz.routes import vllm as vllm_reader
from moeviz.routes.megatron import read_logits
from tests.routes import fixtures as fx
from tests.routes.fixtures import E, K, L, T, counts_of



def test_vllm_npy_file_with_a_zero_filled_dense_layer(tmp_path, ids, monkeypatch):
    dump = ids.copy()
    dump[:, 0, :] = 0  # DeepSeek-style first dense layer: never captured, the buffer's zeros remain
    path = tmp_path / "routed_experts.npy"
    np.save(path, dump)
    monkeypatch.setattr(vllm_reader, "BLOCK_BYTES", 7 * L * K * 4)  # several blocks: the streamed path
    summary = summarize(path)
    assert summary.format == "vllm" and summary.dense_layers == [0]
    expected = fx.numpy_counts(ids, E)
    assert counts_of(summary) == {l: expected[l] for l in range(1, L)}
    assert all(s.tokens == T and s.top_k == K for s in summary.layers)


def test_vllm_openai_response_is_one_row_short(ids):
    summary = summarize(fx.vllm_response(ids, prompt_tokens=20))
    assert counts_of(summary) == fx.numpy_counts(ids, E)
    assert any("last sampled token" in n for n in summary.notes)
    with pytest.raises(RoutesError, match="last sampled token is never forwarded"):
        summarize(fx.vllm_response(ids, prompt_tokens=19).replace(b'"prompt_tokens": 19', b'"prompt_tokens": 20'))


def test_sglang_request_needs_its_shape_and_reads_minus_one_dense_rows(ids):
    dump = ids.copy()
    dump[:, 2, :] = -1  # a dense layer written as -1
    data = fx.sglang_response(dump, prompt_tokens=30)
    with pytest.raises(RoutesError, match="--layers N --top-k K"):
        summarize(data)
    summary = summarize(data, layers=L, top_k=K)
    assert summary.format == "sglang" and summary.dense_layers == [2]
    assert counts_of(summary) == fx.numpy_counts(dump, E)
    with pytest.raises(RoutesError, match="check --layers and --top-k|expected"):
        summarize(data, layers=L + 1, top_k=K)
    bare = json.loads(data)["meta_info"]["routed_experts"].encode()
    assert counts_of(summarize(bare, format="sglang", layers=L, top_k=K)) == fx.numpy_counts(dump, E)


def test_sglang_recorder_stat_mode():
    logical = np.random.default_rng(3).integers(0, 50, size=(5, L, E))
    logical[:, 1] = 0  # a dense layer: never counted
    summary = summarize(fx.sglang_stat(logical), top_k=K)
    assert summary.format == "sglang-recorder" and summary.dense_layers == [1]
    total = logical.sum(axis=0)
    assert counts_of(summary) == {l: total[l].tolist() for l in (0, 2, 3)}
    assert summary.layers[0].tokens == total[0].sum() // K


@pytest.mark.parametrize("mode", ["per_token", "per_pass"])
def test_sglang_recorder_maps_physical_to_logical(ids, mode):
    physical, phy2log = fx.physical_layout(ids, E, redundant=2)
    assert physical.max() >= E  # some copies really went to the replicas' slots
    data = (fx.sglang_per_token if mode == "per_token" else fx.sglang_per_pass)(physical, phy2log, passes=3)
    summary = summarize(data, top_k=K)
    assert counts_of(summary) == fx.numpy_counts(ids, E)  # logical ids, as the router chose them
    assert all(s.tokens == T and s.top_k == K for s in summary.layers)


def test_megatron_jsonl_with_logits_sidecar(tmp_path):
    logits = np.random.default_rng(4).normal(size=(T, L, E)).astype(np.float32)
    logits = torch.from_numpy(logits).to(torch.bfloat16).float().numpy()  # what bf16 keeps
    ids = np.argsort(-logits, axis=2, kind="stable")[:, :, :K]
    trace, sidecar = fx.megatron_jsonl(ids, steps=3, logits=logits)
    (tmp_path / "router_trace_rank0.jsonl").write_bytes(trace)
    (tmp_path / "logits_rank0.bin").write_bytes(sidecar)
    summary = summarize(tmp_path / "router_trace_rank0.jsonl")
    assert summary.format == "megatron" and counts_of(summary) == fx.numpy_counts(ids, E)
    assert any("mtp" in n for n in summary.notes) and any("logits sidecar" in n for n in summary.notes)
    record = json.loads(trace.splitlines()[L])  # step 1, layer 0
    got = read_logits(tmp_path, record)
    rows = np.array_split(np.arange(T), 3)[1]
    np.testing.assert_array_equal(got, logits[rows, 0, :])
    np.testing.assert_array_equal(np.argsort(-got, axis=1, kind="stable")[:, :K], record["top_indices"])


def test_moeviz_trace_and_summary_round_trip():
    from moeviz import MoEConfig, MoELayer
    from moeviz.hf.model import CheckpointRouting
    from moeviz.hf.tracefile import routing_json
    layer = MoELayer(MoEConfig(d_model=16, d_hidden=32, num_experts=E, top_k=K, seed=0, device="cpu")).eval()
    traces = tuple(layer(torch.randn(T, 16, generator=torch.Generator().manual_seed(s)))[1] for s in range(2))
    routing = CheckpointRouting("tiny", "moeviz", "x", tuple(range(T)), tuple("t" * T), traces, (1, 3), ((0, "dense"),))
    summary = summarize(routing_json(routing).encode())
    assert summary.format == "moeviz"
    assert counts_of(summary) == {1: traces[0].tokens_per_expert.tolist(), 3: traces[1].tokens_per_expert.tolist()}
    again = summarize(json.dumps(summary.to_dict()).encode())
    assert again.format == "summary" and counts_of(again) == counts_of(summary)
    assert [s.tokens for s in again.layers] == [T, T] and [s.top_k for s in again.layers] == [K, K]


def test_detection_names_every_layout(ids):
    physical, phy2log = fx.physical_layout(ids, E, 2)
    made = {"vllm": fx.npy_bytes(ids), "sglang": fx.sglang_response(ids, 10),
            "sglang-recorder": fx.sglang_stat(np.ones((1, L, E), dtype=np.int64)),
            "megatron": fx.megatron_jsonl(ids, 2)[0]}
    made["vllm-response"] = fx.vllm_response(ids, 10)
    for name, data in made.items():
        assert detect_format(Source.of(data)) == name.split("-response")[0]
    with pytest.raises(RoutesError, match="could not tell") as error:
        detect_format(Source.of(b"hello, world: not a dump"))
    assert all(name in str(error.value) for name in FORMATS)


def test_refuses_unsafe_and_malformed_files(tmp_path, ids):
    class Evil:
        def __reduce__(self):
            return (print, ("pickle code ran",))
    with pytest.raises(RoutesError, match="weights_only=True"):
        summarize(fx.torch_bytes({"logical_count": Evil()}), format="sglang-recorder")
    with pytest.raises(RoutesError, match="integer expert ids"):
        summarize(fx.npy_bytes(np.array([[[object()]]], dtype=object)), format="vllm")
    with pytest.raises(RoutesError, match="integer expert ids"):
        summarize(fx.npy_bytes(ids.astype(np.float32)))
    with pytest.raises(RoutesError, match="MB"):
        summarize(fx.vllm_response(ids, 10), max_bytes=100)
    twice = ids.copy()
    twice[5, 1, :] = 3
    with pytest.raises(RoutesError, match="expert 3 twice"):
        summarize(fx.npy_bytes(twice))
    with pytest.raises(RoutesError, match="model has 4 experts"):
        summarize(fx.npy_bytes(ids), num_experts=4)
    bad = ids.copy()
    bad[0, 0, 0] = -5
    with pytest.raises(RoutesError, match="-1 for no expert"):
        summarize(fx.npy_bytes(bad))
    with pytest.raises(RoutesError, match="header promises"):
        path = tmp_path / "cut.npy"
        path.write_bytes(fx.npy_bytes(ids)[:-40])
        summarize(path)
    with pytest.raises(RoutesError, match="top_indices must be"):
        summarize(b'{"layer": 0, "num_tokens": 2, "topk": 2, "top_indices": [[1, 2]]}\n')
    with pytest.raises(RoutesError, match="last_physical_to_logical_map"):
        summarize(fx.torch_bytes({"records": [], "last_physical_to_logical_map": torch.zeros(2, 3)}))


def test_command_line_json_shape(tmp_path, ids, capsys):
    from moeviz.routes.__main__ import main
    path = tmp_path / "dump.npy"
    np.save(path, ids)
    assert main(["summary", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"format", "layers"} and doc["format"] == "vllm"
    assert all(set(layer) == {"layer", "tokens", "top_k", "tokens_per_expert"} for layer in doc["layers"])
    assert {l["layer"]: l["tokens_per_expert"] for l in doc["layers"]} == fx.numpy_counts(ids, E)
    assert main(["summary", str(path)]) == 0 and "max/mean" in capsys.readouterr().out
    assert main(["summary", str(path), "--format", "sglang"]) == 2
    assert "--layers" in capsys.readouterr().err


def test_sglang_openai_payload_detected_apart_from_vllm(ids):
    flat = base64.b64encode(ids.astype("<i4").tobytes()).decode()
    doc = json.dumps({"choices": [{"index": 0, "routed_experts": flat}]}).encode()
    assert detect_format(Source.of(doc)) == "sglang"
    assert counts_of(summarize(doc, layers=L, top_k=K)) == fx.numpy_counts(ids, E)
