"""Checkpoints: safetensors round trip, and every kind of bad file refused with a clear error."""
import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from moeviz.lm.checkpoint import CheckpointError, load_checkpoint, read_header, save_checkpoint
from moeviz.lm.model import LMConfig, TinyMoELM

SHA = "0" * 64


@pytest.fixture
def saved(tmp_path, tiny_model):
    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny_model, path, SHA, extra={"note": "test"})
    return path


def test_round_trip_keeps_config_and_weights_to_float16_precision(saved, tiny_model):
    model, header = load_checkpoint(saved, SHA)
    assert model.cfg == tiny_model.cfg and header["extra"] == {"note": "test"}
    for name, value in tiny_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value.half().float())
    ids = torch.arange(8).unsqueeze(0)
    torch.testing.assert_close(model(ids).logits, tiny_model(ids).logits, atol=2e-3, rtol=2e-3)


def test_file_is_plain_safetensors_not_pickle(saved):
    raw = saved.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    assert raw[8:9] == b"{" and json.loads(raw[8:8 + header_len])["__metadata__"]["moeviz_lm"]
    assert b"\x80\x04" not in raw[:2]  # a pickle stream starts with the protocol opcode


def test_truncated_file_is_refused(saved):
    saved.write_bytes(saved.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(saved)


def test_garbage_is_refused(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(path)


def test_flipped_weight_byte_is_refused(saved):
    raw = bytearray(saved.read_bytes())
    raw[-3] ^= 0xFF  # inside the tensor data, after the header
    saved.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(saved)


def test_other_tokenizer_is_refused(saved):
    with pytest.raises(CheckpointError, match="different tokenizer"):
        load_checkpoint(saved, "f" * 64)


def test_config_that_does_not_match_the_tensors_is_refused(saved, tmp_path, tiny_cfg):
    tensors = load_file(str(saved))
    header = read_header(saved)
    header["config"] = LMConfig(**{**tiny_cfg.to_dict(), "num_experts": 8}).to_dict()
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={"moeviz_lm": json.dumps(header)})
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(bad)


def test_safetensors_without_our_header_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a moeviz checkpoint"):
        load_checkpoint(path)


def test_future_version_is_refused(saved, tmp_path):
    header = read_header(saved)
    header["version"] = 99
    path = tmp_path / "v99.safetensors"
    save_file(load_file(str(saved)), str(path), metadata={"moeviz_lm": json.dumps(header)})
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing.safetensors")
