"""The shipped checkpoints: they load, beat the unigram baseline clearly, and match the losses recorded in
summary.json (recomputed here on the validation split), and the app's hook gives real hidden states."""
import pytest
import torch

from moeviz.lm import corpus, data
from moeviz.lm.checkpoint import file_digest, load_checkpoint
from moeviz.lm.model import TinyMoELM
from moeviz.lm.shipped import load_shipped, load_summary, nearest_expert_count, shipped_expert_counts
from moeviz.lm.tokenizer import CHECKPOINT_DIR, TOKENIZER_FILE, shipped_tokenizer

CLEARLY_BELOW = 0.5  # nats (perplexity at least 40% lower): trained models must beat the unigram baseline by this
RECORD_TOLERANCE = 0.02  # nats: float16 storage and thread scheduling may move the loss a little


@pytest.fixture(scope="module")
def val_ids():
    return data.encode_split(shipped_tokenizer(), corpus.split()).val


@pytest.fixture(scope="module")
def summary():
    return load_summary()


def test_several_expert_counts_and_the_dense_baseline_are_shipped(summary):
    assert len(shipped_expert_counts()) >= 3
    assert {f"e{e}" for e in shipped_expert_counts()} | {"dense"} == set(summary["models"])
    assert summary["tokenizer_sha256"] == file_digest(TOKENIZER_FILE)
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.iterdir())
    assert total < 8_000_000  # small enough for git


def test_unigram_baseline_matches_the_record(summary, val_ids):
    train_ids = data.encode_split(shipped_tokenizer(), corpus.split()).train
    cfg = load_shipped(8).model.cfg
    recomputed = data.unigram_loss(train_ids, val_ids, cfg.vocab_size, cfg.context)
    assert recomputed == pytest.approx(summary["unigram_val_loss"], abs=1e-3)


@pytest.mark.parametrize("name", ["e4", "e8", "e16", "dense"])
def test_validation_loss_is_as_recorded_and_clearly_below_unigram(name, summary, val_ids):
    entry = summary["models"][name]
    model, _ = load_checkpoint(CHECKPOINT_DIR / entry["file"], file_digest(TOKENIZER_FILE))
    loss = data.validation_loss(model, val_ids)
    assert loss == pytest.approx(entry["val_loss"], abs=RECORD_TOLERANCE)
    assert loss < summary["unigram_val_loss"] - CLEARLY_BELOW


def test_nearest_expert_count_prefers_the_closest_then_the_smaller():
    assert nearest_expert_count(5, (4, 8, 16)) == 4
    assert nearest_expert_count(6, (4, 8, 16)) == 4
    assert nearest_expert_count(7, (4, 8, 16)) == 8
    assert nearest_expert_count(64, (4, 8, 16)) == 16
    assert nearest_expert_count(2, (4, 8, 16)) == 4


def test_shipped_notes_say_when_the_request_was_changed():
    lm = load_shipped(5, 8)
    assert lm.num_experts == 4 and lm.top_k == 4
    notes = " ".join(lm.notes())
    assert "nearest" in notes and "k = 8" in notes


def test_hidden_state_hook_reproduces_the_models_own_routing():
    text = "The for statement:\n   for i in range(3): print(i)"
    lm = load_shipped(8)
    labels, x, layer = lm.moe_layer_inputs(text, layer_index=1)
    routing = load_shipped(8).route(text)  # a fresh load: the hook's states must not depend on a shared model
    assert labels == list(routing.labels) and x.shape == (len(labels), layer.cfg.d_model)
    with torch.inference_mode():
        _, trace = layer(x)
    torch.testing.assert_close(trace.router_probs, routing.traces[1].router_probs)
    h, same_layer = lm.hidden_state(text, 3, layer_index=1)
    torch.testing.assert_close(h, x[3])
    assert same_layer is layer
    with pytest.raises(ValueError, match="out of range"):
        lm.hidden_state(text, 999)
    with pytest.raises(ValueError, match="out of range"):
        lm.moe_layer_inputs(text, layer_index=lm.model.cfg.n_layers)


def test_trained_walkthrough_runs_the_real_layer_on_real_states():
    text = "An iterator is created for the result."
    lm = load_shipped(8, 2, None)
    run = lm.walkthrough(text, 0)
    routing = lm.route(text)
    assert run.labels == routing.labels
    torch.testing.assert_close(run.trace.router_probs, routing.traces[0].router_probs)
    torch.testing.assert_close(run.trace.output, routing.traces[0].output)


def test_trained_walkthrough_keeps_at_most_max_tokens_and_dense_matches():
    text = "word " * 200
    lm = load_shipped(4, 2, None)
    run = lm.walkthrough(text, 1, 10)
    assert len(run.labels) == 10 and run.trace.num_tokens == 10
    dense = lm.dense_run(text, 1, 10)
    torch.testing.assert_close(dense.dense_output, run.trace.output, atol=1e-5, rtol=1e-5)
    assert dense.all_expert_outputs.shape == (4, 10, run.trace.output.shape[1])


@pytest.mark.parametrize("layer_index", [0, 1])
def test_untrained_walkthrough_is_the_same_layer_before_training_on_the_same_states(layer_index):
    text = "An iterator is created for the result."
    lm = load_shipped(8, 2, None)
    trained, untrained = lm.walkthrough(text, layer_index), lm.untrained_walkthrough(text, layer_index)
    assert untrained.labels == trained.labels
    torch.testing.assert_close(untrained.trace.input, trained.trace.input)  # the same hidden states
    initial = TinyMoELM(lm.model.cfg).blocks[layer_index].moe  # the model as built before training
    with torch.inference_mode():
        logits = trained.trace.input @ initial.router.weight.T
    torch.testing.assert_close(untrained.trace.router_logits, logits)
    assert not torch.allclose(untrained.trace.router_logits, trained.trace.router_logits)
