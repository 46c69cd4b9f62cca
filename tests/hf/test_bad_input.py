"""Checkpoints moeviz must refuse, each with a message that says what is wrong (and what is supported)."""
import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from moeviz.hf import SUPPORTED_MODEL_TYPES, CheckpointError, load_checkpoint
from moeviz.hf import memory


@pytest.fixture
def folder(tiny_dirs, tmp_path):
    """A private copy of the tiny Mixtral checkpoint, safe to break."""
    return shutil.copytree(tiny_dirs["mixtral"], tmp_path / "broken")


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _refused(folder, *words):
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(folder, device="cpu")
    for word in words:
        assert word in str(error.value), str(error.value)
    return str(error.value)


def test_missing_tokenizer(folder):
    (folder / "tokenizer.json").unlink()
    _refused(folder, "no tokenizer", "tokenizer.json")


def test_missing_weights(folder):
    (folder / "model.safetensors").unlink()
    _refused(folder, "no weights", ".safetensors")


def test_truncated_safetensors(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    _refused(folder, "not a readable safetensors file", "truncated")


def test_garbage_safetensors(folder):
    (folder / "model.safetensors").write_bytes(b"\xff" * 64)
    _refused(folder, "not a readable safetensors file")


def test_pickle_weights_only_are_never_opened(folder, tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:  # unpickling this would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    _refused(folder, "pickle", "pytorch_model.bin", "safetensors")
    assert not marker.exists()


def test_unsupported_model_type_names_the_supported_ones(folder):
    _edit_config(folder, model_type="jamba")
    message = _refused(folder, "jamba")
    assert all(t in message for t in SUPPORTED_MODEL_TYPES)


def test_dense_model_type(folder):
    _edit_config(folder, model_type="llama")
    _refused(folder, "dense", "mixtral")


def test_config_with_no_moe_layer(tiny_dirs, tmp_path):
    folder = shutil.copytree(tiny_dirs["deepseek_v3"], tmp_path / "all-dense")
    _edit_config(folder, first_k_dense_replace=3)
    _refused(folder, "no MoE layer")


def test_remote_code_is_never_run(folder, tmp_path):
    """A supported type with an auto_map still loads with transformers' own class; the folder's code never runs."""
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    _edit_config(folder, auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"})
    model = load_checkpoint(folder, device="cpu")
    assert type(model.model).__module__.startswith("transformers.models.mixtral") and not marker.exists()
    _edit_config(folder, model_type="evil_moe")
    _refused(folder, "trust_remote_code", "never runs")
    assert not marker.exists()


def test_quantized_checkpoint(folder):
    _edit_config(folder, quantization_config={"quant_method": "mxfp4"})
    _refused(folder, "quantized", "mxfp4")


def test_config_disagrees_with_weight_shapes(folder):
    _edit_config(folder, num_local_experts=6)
    _refused(folder, "do not match config.json", "is (4, 16", "needs (6, 16")


def test_weight_missing_from_files(folder):
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.1.block_sparse_moe.gate.weight"]  # the hub layout save_pretrained writes
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    _refused(folder, "model.layers.1.mlp.gate.weight", "not in the safetensors files")


def test_model_too_big_for_free_memory_is_refused_before_loading(folder, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 20)  # 1 MiB "free"
    message = _refused(folder, "GiB", "free now")
    assert "0.3 GiB to run" in message  # the numbers: weights + runtime allowance vs 80 % of free


def test_fit_problem_leaves_headroom():
    weights = 8 << 30
    need = memory.required_bytes(weights)
    assert memory.fit_problem("m", weights, torch.device("cpu"), free=int(need / memory.FREE_SHARE) + 1) is None
    assert "m needs about" in memory.fit_problem("m", weights, torch.device("cpu"), free=need)


def test_text_longer_than_the_context_is_routed_in_windows(tiny_models):
    model = tiny_models["mixtral"]
    routing = model.route("word " * 400)
    assert len(routing.traces[0].router_logits) == len(routing.token_ids) > model.context
    with pytest.raises(CheckpointError, match="at most 5 are routed"):
        model.route("one two three four five six seven", max_tokens=5)


def test_empty_text(tiny_models):
    with pytest.raises(CheckpointError, match="empty"):
        tiny_models["olmoe"].route("   ")


def test_not_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not a folder"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")
