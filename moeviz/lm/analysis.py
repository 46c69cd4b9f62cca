"""What the trained routers do: one text's routing per layer, and which tokens each expert gets in the corpus.

    routing = route_text(model, tokenizer, "The for loop: for i in range(3): print(i)")
    routing.traces[layer].router_probs   # (T, E) per layer; routing.labels, routing.is_code per token
    stats = specialization(model, tokenizer, corpus_text)   # per layer, per expert: top tokens, code share
    reading(stats)                                          # one honest sentence per layer

Routing is read from each layer's RoutingTrace (moeviz.MoELayer), never recomputed here.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

from moeviz.lm import corpus
from moeviz.text import csv_text
from moeviz.trace import RoutingTrace

MAX_CHARS = 2000  # longer text is cut before tokenising (the model reads at most `context` tokens anyway)
TOP_TOKENS = 8  # tokens listed per expert
MIN_TOKEN_COUNT = 20  # a token must occur this often to count as "characteristic" of an expert
CHARACTERISTIC_TOKENS = 4  # listed per expert: each entry carries its counts, so the cell is wider
# Pseudo-occurrences at the expert's base rate added to every token's counts (additive smoothing): a token seen
# 20 times, always at this expert, no longer ties with one seen 2,000 times (both had the ceiling lift N/k).
LIFT_SMOOTHING = 20
LEAN_THRESHOLD = 0.15  # an expert "leans to code" when its code share beats the corpus share by this much


def visible(text: str) -> str:
    """Text with whitespace and control characters made visible (␣, ⏎, ⇥, U+XXXX)."""
    out = []
    for ch in text:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("⏎")
        elif ch == "\t":
            out.append("⇥")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(f"U+{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


SUBWORD_NOTE = ("The model reads subword pieces, not words: its tokenizer cuts the text into pieces it learned in "
                "training, and the router routes each piece on its own (a sentence may say “word”; the router sees "
                "pieces). ␣ marks a space: a piece starting with ␣ begins a new word (⏎ is a line break, ⇥ a tab).")


def subword_note(labels) -> str:
    """SUBWORD_NOTE with the count, for where a model's tokens first appear ("" for labels that are not pieces)."""
    if not any(ch in label for label in labels for ch in "␣⏎⇥"):
        return ""
    return f"{len(labels)} tokens. " + SUBWORD_NOTE


def token_labels(tokenizer, text: str, encoding) -> list[str]:
    """One readable label per token. A token holding only part of a character's UTF-8 bytes (emoji, most
    non-Latin scripts) shows that character with a marker of which piece it is, e.g. '🙂(1/4)'."""
    labels, spans = [], encoding.offsets
    for i, (token_id, (start, end)) in enumerate(zip(encoding.ids, spans)):
        decoded = tokenizer.decode([token_id], skip_special_tokens=False)
        if "\ufffd" in decoded and "\ufffd" not in text[start:end]:
            same = [j for j, span in enumerate(spans) if span == (start, end)]
            decoded = f"{text[start:end]}({same.index(i) + 1}/{len(same)})"
        labels.append(visible(decoded) or "∅")
    return labels


@dataclass(frozen=True)
class TextRouting:
    """The routing of one text through every MoE layer of the model."""
    text: str  # the text actually routed (after cutting)
    token_ids: tuple[int, ...]
    labels: tuple[str, ...]  # readable token labels
    is_code: tuple[bool, ...]  # the corpus heuristic applied to this text (indented line = code)
    traces: tuple[RoutingTrace, ...]  # one per layer
    moe_inputs: tuple[torch.Tensor, ...]  # (T, D) per layer: the hidden state entering that MoE layer
    original_chars: int  # length of the text as given
    original_tokens: int  # tokens of the (char-cut) text before cutting to the context

    @property
    def cut(self) -> bool:
        return self.original_chars > len(self.text) or self.original_tokens > len(self.token_ids)

    @property
    def num_layers(self) -> int:
        return len(self.traces)


def route_text(model, tokenizer, text: str, max_chars: int = MAX_CHARS) -> TextRouting:
    """Tokenise `text` (cut to max_chars characters, then to the model's context) and run the model once."""
    if not text or not text.strip():
        raise ValueError("the text is empty: type a sentence to route.")
    kept = text[:max_chars]
    encoding = tokenizer.encode(kept)
    context = model.cfg.context
    if len(encoding.ids) > context:
        encoding.truncate(context)
    ids = torch.tensor([encoding.ids], dtype=torch.long)
    routed = kept[:encoding.offsets[-1][1]] if encoding.offsets else kept
    with torch.inference_mode():
        out = model(ids)
    is_code = corpus.token_is_code(encoding.offsets, corpus.code_mask(routed))
    return TextRouting(routed, tuple(encoding.ids), tuple(token_labels(tokenizer, kept, encoding)),
                       tuple(bool(c) for c in is_code), tuple(out.traces),
                       tuple(h[0] for h in out.moe_inputs), len(text),
                       len(tokenizer.encode(kept).ids))


def routing_rows(routing: TextRouting) -> list[dict]:
    """One row per (layer, token): the token, its chosen experts, weights, dropped flags, and all probs."""
    rows = []
    for layer, trace in enumerate(routing.traces):
        probs = trace.router_probs.tolist()
        for t, label in enumerate(routing.labels):
            row = {"layer": layer, "position": t, "token": label, "token_id": routing.token_ids[t],
                   "is_code": routing.is_code[t],
                   "experts": " ".join(str(e) for e in trace.topk_indices[t].tolist()),
                   "weights": " ".join(f"{w:.4f}" for w in trace.topk_weights[t].tolist()),
                   "dropped": " ".join(str(int(d)) for d in trace.dropped[t].tolist())}
            row.update({f"p_E{e}": round(p, 6) for e, p in enumerate(probs[t])})
            rows.append(row)
    return rows


def routing_csv(routing: TextRouting) -> str:
    """routing_rows as CSV text. Cells starting with = + - @ are prefixed with ' so spreadsheets show, not run, them."""
    return csv_text(routing_rows(routing))


def routing_json(routing: TextRouting, model_info: dict | None = None) -> str:
    """The whole routing as JSON: text, tokens, and each layer's RoutingTrace (moeviz's to_dict)."""
    payload = {"model": model_info or {}, "text": routing.text, "cut": routing.cut,
               "token_ids": list(routing.token_ids), "labels": list(routing.labels),
               "is_code": list(routing.is_code),
               "layers": [trace.to_dict() for trace in routing.traces]}
    return json.dumps(payload, ensure_ascii=False, allow_nan=False)


@torch.inference_mode()
def corpus_routing(model, ids: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
    """Per layer, (N, k) experts chosen for each of N corpus tokens (windows of the model's context)."""
    context = model.cfg.context
    usable = (len(ids) // context) * context
    windows = ids[:usable].view(-1, context)
    chosen = [[] for _ in range(model.cfg.n_layers)]
    for chunk in windows.split(batch_size):
        for layer, trace in enumerate(model(chunk).traces):
            chosen[layer].append(trace.topk_indices.cpu())
    return [torch.cat(c) for c in chosen]


def specialization(model, tokenizer, text: str, max_chars: int | None = None) -> dict:
    """Per layer and expert, from routing `text` (the training corpus): slots received, share of code tokens,
    most frequent tokens, most characteristic tokens, plus how consistently a token type goes to one expert."""
    text = text[:max_chars] if max_chars else text
    encoding = tokenizer.encode(text)
    ids = torch.tensor(encoding.ids, dtype=torch.long)
    code = corpus.token_is_code(encoding.offsets, corpus.code_mask(text))
    layers = corpus_routing(model, ids)
    n = layers[0].shape[0]
    ids_np, code_np = ids[:n].numpy(), code[:n]
    V, E = model.cfg.vocab_size, layers[0].max().item() + 1 if model.cfg.dense else model.cfg.num_experts
    label = lambda v: visible(tokenizer.decode([int(v)], skip_special_tokens=False))
    result = {"tokens": int(n), "corpus_code_share": float(code_np.mean()), "layers": []}
    for chosen in layers:
        result["layers"].append(_layer_stats(chosen.numpy(), ids_np, code_np, V, E, label))
    return result


def _layer_stats(chosen: np.ndarray, ids: np.ndarray, code: np.ndarray, V: int, E: int, label) -> dict:
    N, k = chosen.shape
    pair_counts = np.zeros((E, V), dtype=np.int64)  # slots expert e received with token v
    np.add.at(pair_counts, (chosen.reshape(-1), np.repeat(ids, k)), 1)
    code_slots = np.bincount(chosen.reshape(-1), weights=np.repeat(code, k).astype(float), minlength=E)
    slots = pair_counts.sum(1)
    token_totals = np.bincount(ids, minlength=V)
    experts = []
    for e in range(E):
        frequent = np.argsort(-pair_counts[e], kind="stable")[:TOP_TOKENS]
        lift = smoothed_lift(pair_counts[e], token_totals, slots[e] / max(1, N))
        characteristic = np.lexsort((-pair_counts[e], -lift))[:CHARACTERISTIC_TOKENS]  # by lift, ties by count
        experts.append({
            "expert": e, "slots": int(slots[e]), "load_share": float(slots[e] / max(1, N * k)),
            "code_share": float(code_slots[e] / max(1, slots[e])),
            "top_tokens": [[label(v), int(pair_counts[e, v])] for v in frequent if pair_counts[e, v] > 0],
            # [token, times sent to e, times seen, smoothed lift]
            "characteristic_tokens": [[label(v), int(pair_counts[e, v]), int(token_totals[v]), round(float(lift[v]), 2)]
                                      for v in characteristic if lift[v] > 1]})
    top1 = np.zeros((E, V), dtype=np.int64)
    np.add.at(top1, (chosen[:, 0], ids), 1)
    consistency = float(top1.max(0).sum() / N)  # share of tokens whose type's favourite expert they went to
    chance = float(np.bincount(chosen[:, 0], minlength=E).max() / N)  # same, if routing ignored the token
    return {"experts": experts, "token_consistency": consistency, "consistency_if_random": chance}


def smoothed_lift(sent: np.ndarray, seen: np.ndarray, base_rate: float,
                  smoothing: float = LIFT_SMOOTHING, min_count: int = MIN_TOKEN_COUNT) -> np.ndarray:
    """How many times more often an expert gets each token than it gets tokens overall, with additive smoothing.

    sent[v]: occurrences of token v routed to the expert (one of its k slots); seen[v]: occurrences of v;
    base_rate: the expert's share of all occurrences (slots / N). The rate sent/seen is pulled towards
    base_rate by `smoothing` pseudo-occurrences, so rare tokens need more evidence to rank high:
        lift = ((sent + smoothing · base_rate) / (seen + smoothing)) / base_rate.
    1 = no preference; the ceiling 1 / base_rate is only approached by frequent tokens that always come here.
    Tokens seen fewer than `min_count` times get 0 (not ranked)."""
    if base_rate <= 0:
        return np.zeros(len(seen))
    return np.where(seen >= min_count, smoothed_rate(sent, seen, base_rate, smoothing) / base_rate, 0.0)


def smoothed_rate(sent, seen, base_rate: float, smoothing: float = LIFT_SMOOTHING):
    """The share of a token's occurrences sent to the expert, pulled towards base_rate by `smoothing`
    pseudo-occurrences: (sent + smoothing · base_rate) / (seen + smoothing). smoothed_lift divides it by base_rate."""
    return (sent + smoothing * base_rate) / (seen + smoothing)


def reading(stats: dict) -> list[str]:
    """One plain sentence per layer saying what the routers learned, including when it is little."""
    base = stats["corpus_code_share"]
    lines = []
    for layer, s in enumerate(stats["layers"]):
        shares = [(x["code_share"], x["expert"]) for x in s["experts"] if x["slots"]]
        (lo, e_lo), (hi, e_hi) = min(shares), max(shares)
        identity = (f"a token type goes to its usual first-choice expert {s['token_consistency']:.0%} of the time "
                    f"(a router blind to the token would manage {s['consistency_if_random']:.0%})")
        if hi - base >= LEAN_THRESHOLD or base - lo >= LEAN_THRESHOLD:
            split = (f"experts split prose from code: E{e_hi} gets {hi:.0%} code tokens and E{e_lo} {lo:.0%}, "
                     f"against {base:.0%} in the corpus")
        else:
            split = (f"experts barely split prose from code (code share {lo:.0%}…{hi:.0%} against {base:.0%} in "
                     f"the corpus)")
        lines.append(f"Layer {layer}: {split}; {identity}.")
    return lines


def expert_table(layer_stats: dict) -> list[dict]:
    """Rows for a table of one layer's experts: load, code share, most frequent tokens."""
    return [{"expert": f"E{x['expert']}", "tokens received": x["slots"], "share of load": round(x["load_share"], 3),
             "code share": round(x["code_share"], 3),
             "most frequent tokens": "  ".join(t for t, _ in x["top_tokens"])}
            for x in layer_stats["experts"]]


def characteristic_table(layer_stats: dict) -> list[dict]:
    """One row per (expert, characteristic token), best first within each expert (ranked by smoothed_lift): how
    often the token came to this expert out of how often it occurs. A long table of short columns, where one
    text cell per expert ran past the edge of the page."""
    return [{"expert": f"E{x['expert']}", "token": token, "sent here": sent, "seen": seen,
             "share sent here": round(sent / seen, 3), "lift": lift}
            for x in layer_stats["experts"] for token, sent, seen, lift in x["characteristic_tokens"]]
