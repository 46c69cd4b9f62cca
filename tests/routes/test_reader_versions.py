"""Layouts that differ between releases (dtypes, vLLM's split prompt routing, SGLang's start_len and wire dtype,
the recorder's per-rank files), each built in the test and read to the plain numpy count."""
import json

import numpy as np
import pytest

from moeviz.routes import RoutesError, Source, detect_format, summarize
from moeviz.routes import vllm as vllm_reader
from tests.routes import fixtures as fx
from tests.routes.fixtures import E, K, L, T, counts_of

CACHED = 9  # leading positions served from vLLM's prefix cache: rows of -1


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "int64"])
def test_vllm_npy_of_any_integer_dtype(tmp_path, ids, monkeypatch, dtype):
    dump = ids.astype(dtype)
    if np.issubdtype(dump.dtype, np.signedinteger):
        dump[:CACHED] = -1  # prefix-cached positions: never computed in this request
    path = tmp_path / "routed_experts.npy"
    np.save(path, dump)
    monkeypatch.setattr(vllm_reader, "BLOCK_BYTES", 5 * L * K * dump.itemsize)  # several blocks
    summary = summarize(path)
    assert summary.format == "vllm" and summary.dense_layers == []
    assert counts_of(summary) == fx.numpy_counts(dump.astype(np.int64), E)
    routed = T - CACHED if dump.dtype.kind == "i" else T
    assert all(s.tokens == routed and s.top_k == K for s in summary.layers)
    if dump.dtype.kind == "i":
        assert any(f"{CACHED} rows had no routing" in n and "prefix-cached" in n for n in summary.notes)


def test_vllm_split_prompt_and_generation_routing(ids):
    prompt = ids[:30].astype(np.int16)
    prompt[:CACHED] = -1
    gens = [ids[30:45], ids[45:]]  # two choices (n = 2), generated tokens only
    data = fx.vllm_split_response(prompt, gens)
    assert detect_format(Source.of(data)) == "vllm"
    summary = summarize(data)
    every = np.concatenate([prompt.astype(np.int64), *gens])
    assert counts_of(summary) == fx.numpy_counts(every, E)
    assert summary.layers[0].tokens == T - CACHED
    doc = json.loads(data)
    doc["usage"]["prompt_tokens"] = 31
    with pytest.raises(RoutesError, match="expected 31"):
        summarize(json.dumps(doc).encode())
    doc["usage"]["prompt_tokens"] = 30
    doc["choices"][0]["routed_experts"][0][0] = [1]  # ragged
    with pytest.raises(RoutesError, match="equally long"):
        summarize(json.dumps(doc).encode())


@pytest.mark.parametrize("dtype", [None, "int32", "uint16", "uint8"])
def test_sglang_payload_in_the_dtype_meta_info_names(ids, dtype):
    summary = summarize(fx.sglang_response(ids, prompt_tokens=30, dtype=dtype), layers=L, top_k=K)
    assert counts_of(summary) == fx.numpy_counts(ids, E)
    if dtype == "uint8":  # read as int32 it would be a quarter as many rows: the row check catches it
        doc = json.loads(fx.sglang_response(ids, prompt_tokens=30, dtype=dtype))
        del doc["meta_info"]["routed_experts_dtype"]
        with pytest.raises(RoutesError, match="token rows|not a whole number"):
            summarize(json.dumps(doc).encode(), layers=L, top_k=K)


@pytest.mark.parametrize("start_in", ["meta_info", "request"])
def test_sglang_rows_begin_at_routed_experts_start_len(ids, start_in):
    data = fx.sglang_response(ids, prompt_tokens=30, dtype="uint16", start_len=12, start_in=start_in)
    summary = summarize(data, layers=L, top_k=K)
    assert counts_of(summary) == fx.numpy_counts(ids[12:], E)
    assert summary.layers[0].tokens == T - 12
    doc = json.loads(data)
    doc["meta_info"].pop("routed_experts_start_len", None)
    doc.pop("request", None)
    with pytest.raises(RoutesError, match="routed_experts_start_len"):
        summarize(json.dumps(doc).encode(), layers=L, top_k=K)


@pytest.mark.parametrize("utilization", [None, 0.83])
def test_sglang_stat_and_stat_approx_files(utilization):
    # stat_approx uses the same _StatAccumulator as stat: the same file, metrics on or off
    logical = np.random.default_rng(5).integers(0, 40, size=(3, L, E))
    summary = summarize(fx.sglang_stat(logical, utilization), top_k=K)
    assert counts_of(summary) == {l: logical.sum(axis=0)[l].tolist() for l in range(L)}


def test_sglang_per_rank_recorder_files_add_up(tmp_path, ids, capsys):
    physical, phy2log = fx.physical_layout(ids, E, redundant=2)
    files = []
    for rank, part in enumerate(np.array_split(physical, 2)):  # each rank's own tokens
        path = tmp_path / f"expert_distribution_recorder_1767225600.0_{rank}.pt"
        path.write_bytes(fx.sglang_per_token(part, phy2log, passes=2, rank=rank))
        files.append(path)
    summary = summarize(files, top_k=K)
    assert counts_of(summary) == fx.numpy_counts(ids, E)
    assert all(s.tokens == T for s in summary.layers) and any("2 files added up" in n for n in summary.notes)
    from moeviz.routes.__main__ import main
    assert main(["summary", *map(str, files), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {l["layer"]: l["tokens_per_expert"] for l in doc["layers"]} == fx.numpy_counts(ids, E)
    other = tmp_path / "dump.npy"
    np.save(other, ids)
    with pytest.raises(RoutesError, match="different formats"):
        summarize([files[0], other])
