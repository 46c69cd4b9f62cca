"""Routing a text through the model, the downloads, and the corpus specialization statistics."""
import csv
import io
import json

import numpy as np
import pytest
import torch

from moeviz.lm import analysis

SENTENCE = 'The "for" statement:\n   for i in range(3): print(i)'


def test_route_text_gives_per_layer_traces_for_every_token(tiny_model, tokenizer):
    r = analysis.route_text(tiny_model, tokenizer, SENTENCE[:20])
    T = len(tokenizer.encode(SENTENCE[:20]).ids)
    assert len(r.labels) == len(r.token_ids) == len(r.is_code) == T and not r.cut
    assert r.num_layers == tiny_model.cfg.n_layers
    for trace, h in zip(r.traces, r.moe_inputs):
        assert trace.router_probs.shape == (T, tiny_model.cfg.num_experts)
        assert h.shape == (T, tiny_model.cfg.d_model)
    assert "".join(tokenizer.decode([i]) for i in r.token_ids) == SENTENCE[:20]


def test_code_line_tokens_are_labelled_code(tiny_model, tokenizer):
    r = analysis.route_text(tiny_model, tokenizer, "Some prose.\n   x = 1\n")
    pairs = list(zip(r.labels, r.is_code))
    assert not pairs[0][1]  # the first word of the prose line
    assert [code for label, code in pairs if "x" in label] == [True]  # the x on the indented line


def test_long_text_is_cut_to_the_context(tiny_model, tokenizer):
    text = "word " * 5000
    r = analysis.route_text(tiny_model, tokenizer, text)
    assert len(r.token_ids) == tiny_model.cfg.context and r.cut and r.original_chars == len(text)
    assert r.text == text[:len(r.text)]


def test_empty_text_is_refused(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="empty"):
        analysis.route_text(tiny_model, tokenizer, "  \n ")


def test_hostile_text_gets_visible_labels(tiny_model, tokenizer):
    r = analysis.route_text(tiny_model, tokenizer, "a\x00b 🙂")
    assert "U+0000" in "".join(r.labels)
    assert [label for label in r.labels if label.startswith("🙂")] == [f"🙂({i}/4)" for i in range(1, 5)]


def test_visible_marks_whitespace_and_controls():
    assert analysis.visible(" a\n\t\u202e") == "␣a⏎⇥U+202E"


def test_csv_has_one_row_per_layer_and_token_and_defuses_formulas(tiny_model, tokenizer):
    r = analysis.route_text(tiny_model, tokenizer, "=cmd|x")
    rows = list(csv.DictReader(io.StringIO(analysis.routing_csv(r))))
    assert len(rows) == r.num_layers * len(r.token_ids)
    assert rows[0]["token"].startswith("'=")
    probs = np.array([[float(row[f"p_E{e}"]) for e in range(4)] for row in rows[:len(r.token_ids)]])
    np.testing.assert_allclose(probs, r.traces[0].router_probs.numpy(), atol=1e-6)


def test_json_holds_every_layer_trace(tiny_model, tokenizer):
    r = analysis.route_text(tiny_model, tokenizer, SENTENCE[:30])
    payload = json.loads(analysis.routing_json(r, {"checkpoint": "tiny"}))
    assert payload["model"] == {"checkpoint": "tiny"} and len(payload["layers"]) == r.num_layers
    assert payload["layers"][1]["topk_indices"] == r.traces[1].topk_indices.tolist()


def test_specialization_counts_match_a_naive_loop(tiny_model, tokenizer):
    text = "The for loop.\n   for i in x:\n       pass\nMore prose here, and again.\n" * 3
    stats = analysis.specialization(tiny_model, tokenizer, text)
    enc = tokenizer.encode(text)
    ids = torch.tensor(enc.ids)
    N = (len(ids) // tiny_model.cfg.context) * tiny_model.cfg.context
    code = analysis.corpus.token_is_code(enc.offsets, analysis.corpus.code_mask(text))[:N]
    chosen = analysis.corpus_routing(tiny_model, ids)[0]
    assert stats["tokens"] == N
    for x in stats["layers"][0]["experts"]:
        e = x["expert"]
        slots = [(t, j) for t in range(N) for j in range(2) if int(chosen[t, j]) == e]
        assert x["slots"] == len(slots)
        if slots:
            assert x["code_share"] == pytest.approx(sum(code[t] for t, _ in slots) / len(slots))
    assert sum(x["slots"] for x in stats["layers"][0]["experts"]) == 2 * N
    assert 0 < stats["layers"][0]["token_consistency"] <= 1
    assert len(analysis.reading(stats)) == tiny_model.cfg.n_layers
    assert len(analysis.expert_table(stats["layers"][0])) == 4


def test_smoothed_lift_follows_its_formula_and_needs_evidence():
    base = 0.25  # the expert gets a quarter of all occurrences
    sent = np.array([20, 2000, 10, 5, 3])
    seen = np.array([20, 2000, 40, 20, 3])
    lift = analysis.smoothed_lift(sent, seen, base, smoothing=20, min_count=20)
    expected = [((s + 20 * base) / (n + 20)) / base if n >= 20 else 0.0 for s, n in zip(sent, seen)]
    np.testing.assert_allclose(lift, expected)
    # always here, but 100x more often seen: ranks higher (the raw lift gave both the ceiling 1 / base = 4)
    assert lift[1] > lift[0] and lift[1] < 1 / base
    assert lift[3] == pytest.approx(1.0)  # at its base rate: no preference
    assert lift[4] == 0  # too rare to rank


def test_characteristic_tokens_carry_counts_and_rank_by_smoothed_lift(tiny_model, tokenizer):
    text = "The for loop.\n   for i in x:\n       pass\nMore prose here, and again.\n" * 12
    stats = analysis.specialization(tiny_model, tokenizer, text)
    enc = tokenizer.encode(text)
    ids = torch.tensor(enc.ids)
    N = stats["tokens"]
    chosen = analysis.corpus_routing(tiny_model, ids)[0].numpy()
    label = lambda v: analysis.visible(tokenizer.decode([int(v)], skip_special_tokens=False))
    seen = {v: int((ids[:N].numpy() == v).sum()) for v in set(ids[:N].tolist())}
    ranked_any = False
    for x in stats["layers"][0]["experts"]:
        e = x["expert"]
        base = x["slots"] / N
        lifts = []
        for v, n in seen.items():  # naive: one token type at a time
            sent = int(sum(int(e in chosen[t]) for t in range(N) if int(ids[t]) == v))
            if n >= analysis.MIN_TOKEN_COUNT:
                lifts.append((((sent + analysis.LIFT_SMOOTHING * base) / (n + analysis.LIFT_SMOOTHING)) / base,
                              sent, label(v), n))
        best = sorted((l for l in lifts if l[0] > 1), key=lambda l: (-l[0], -l[1]))[:analysis.CHARACTERISTIC_TOKENS]
        assert [[t, s, n] for _, s, t, n in best] == [entry[:3] for entry in x["characteristic_tokens"]]
        for (lift, *_), entry in zip(best, x["characteristic_tokens"]):
            assert entry[3] == pytest.approx(lift, abs=0.006)
        ranked_any |= bool(best)
    assert ranked_any
    rows = analysis.characteristic_table(stats["layers"][0])
    listed = [(x["expert"], entry) for x in stats["layers"][0]["experts"] for entry in x["characteristic_tokens"]]
    assert len(rows) == len(listed)
    for row, (e, (token, sent, seen, lift)) in zip(rows, listed):
        assert (row["expert"], row["token"], row["sent here"], row["seen"], row["lift"]) == (f"E{e}", token, sent,
                                                                                             seen, lift)
        assert row["share sent here"] == pytest.approx(sent / seen, abs=5e-4)
