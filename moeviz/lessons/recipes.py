"""The numbers a lesson's view shows, recomputed with moeviz's library calls: for the hand-outs and the polls.

Each recipe is a plain function of typed values (what the app's link parsers give for the view's link:
moeviz.app.lesson_views turns a view into a recipe and its arguments) that returns {name: number or list}.
Each keeps its imports inside its body on purpose: the notebook hand-out copies a recipe's source into a cell
as it stands (inspect.getsource), so the cell runs alone and shows the student the real calls.

    RECIPES[name](**arguments) -> dict           # e.g. RECIPES["walkthrough"](num_experts=8, ..., token=3)
"""
from __future__ import annotations

from typing import Callable


def layer_numbers(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                  text: str, d_model: int = 32, d_hidden: int = 64) -> dict:
    """The sidebar's layer (random weights from `seed`) on a sentence: how its tokens spread over the experts.
    The sentence is cut into olmoe-tiny's tokens, as on every page, each a vector hashed from its text."""
    import torch
    from moeviz.config import MoEConfig
    from moeviz.hf.shipped import sentence_tokens
    from moeviz.layer import MoELayer
    from moeviz.text import MAX_TOKENS, embed_tokens
    from moeviz.walkthrough import load_summary

    cfg = MoEConfig(num_experts=num_experts, top_k=MoEConfig.routed_top_k(router, top_k), router=router,
                    capacity_factor=capacity_factor, seed=seed, d_model=d_model, d_hidden=d_hidden, device="cpu")
    tokens = sentence_tokens(text, MAX_TOKENS)
    with torch.inference_mode():
        _, trace = MoELayer(cfg).eval()(embed_tokens(tokens, cfg.d_model, seed=0))
    summary = load_summary(trace)
    return {"tokens": len(tokens), "tokens_per_expert": [int(n) for n in trace.tokens_per_expert.tolist()],
            "idle_experts": summary["idle"], "max_mean_load": round(summary["max_mean_load"], 3),
            "dropped_fraction": round(summary["dropped_fraction"], 3)}


def walkthrough_numbers(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                        source: str, text: str, vector_seed: int, token: int, trained: bool, lm_layer: int,
                        model: str = "olmoe-tiny", d_model: int = 32, d_hidden: int = 64) -> dict:
    """The walkthrough (/) for one token: its router probabilities, the experts that ran and their weights,
    and the sentence's load. With `trained` (and a sentence): MoE layer `lm_layer` of the shipped olmoe-tiny
    nearest `num_experts`, fed the hidden states the model gave that layer (or moeviz's older moeviz-lm when
    `model` names it); else the sidebar's random layer on olmoe-tiny's tokens of the sentence (or random vectors)."""
    import torch
    from moeviz.config import MoEConfig
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.shipped import as_moe_layer, layer_inputs, nearest_olmoe, sentence_tokens
    from moeviz.layer import MoELayer
    from moeviz.lm.shipped import load_shipped
    from moeviz.text import MAX_TOKENS, embed_tokens
    from moeviz.walkthrough import load_summary, run_walkthrough, token_view, walkthrough_inputs

    if trained and source == "sentence" and model == "moeviz-lm":
        run = load_shipped(num_experts, top_k, capacity_factor).walkthrough(text, lm_layer)
    elif trained and source == "sentence":
        checkpoint = load_checkpoint(nearest_olmoe(num_experts)[1])
        k = max(1, min(top_k, checkpoint.info()["num_experts"]))
        lm_layer = min(lm_layer, len(checkpoint.blocks) - 1)  # as the page's layer picker does
        labels, x = layer_inputs(checkpoint.route(text, states=True), lm_layer, MAX_TOKENS)
        run = run_walkthrough(as_moe_layer(checkpoint.blocks[lm_layer], k, capacity_factor), labels, x)
    else:
        cfg = MoEConfig(num_experts=num_experts, top_k=MoEConfig.routed_top_k(router, top_k), router=router,
                        capacity_factor=capacity_factor, seed=seed, d_model=d_model, d_hidden=d_hidden,
                        device="cpu")
        if source == "sentence":
            labels = sentence_tokens(text, MAX_TOKENS)
            x = embed_tokens(labels, cfg.d_model, seed=0)
        else:
            labels, x = walkthrough_inputs(source, text, vector_seed, cfg.d_model)
        run = run_walkthrough(MoELayer(cfg).eval(), labels, x)
    token = min(token, len(run.labels) - 1)  # as the page does: a token past the sentence's end is its last
    view = token_view(run.trace, token, run.labels)
    summary = load_summary(run.trace)
    # token_text here is the token as the page names it (␣ = a space), as the lesson's notes quote it; the
    # /variants CSV's token_text is the real text, with that label beside it in token_label
    return {"token": token, "token_text": view.label,
            "router_probs": [round(float(p), 3) for p in view.probs],
            "experts_run": [int(e) for e in view.running],
            "weights_run": [round(float(w), 3) for w in view.running_weights],
            "experts_run_count": int(len(view.running)),
            "tokens_per_expert": [int(n) for n in run.trace.tokens_per_expert.tolist()],
            "max_mean_load": round(summary["max_mean_load"], 3),
            "dropped_fraction": round(summary["dropped_fraction"], 3)}


def capacity_numbers(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                     drop_policy: str, tokens: int, d_model: int = 32, d_hidden: int = 64) -> dict:
    """/parallel's first section: `tokens` seeded random tokens through the sidebar's layer with a capacity
    limit: slots per expert, dropped copies, tokens that lost every expert."""
    from moeviz.config import MoEConfig
    from moeviz.parallel.capacity import capacity_demo, dropped_tokens

    cfg = MoEConfig(num_experts=num_experts, top_k=MoEConfig.routed_top_k(router, top_k), router=router,
                    capacity_factor=capacity_factor, seed=seed, d_model=d_model, d_hidden=d_hidden,
                    drop_policy=drop_policy, device="cpu")
    trace = capacity_demo(cfg, tokens, token_seed=cfg.seed + 1).trace
    return {"capacity": trace.capacity, "dropped_fraction": round(float(trace.metrics["dropped_fraction"]), 3),
            "dropped_copies": int(trace.dropped.sum()), "tokens_without_expert": len(dropped_tokens(trace)),
            "tokens_per_expert": [int(n) for n in trace.tokens_per_expert.tolist()]}


def compute_numbers(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                    d_model: int = 256, d_hidden: int = 512) -> dict:
    """/compute's counts: the layer's parameters, those a token uses, and the k/N rule of thumb."""
    from moeviz.config import MoEConfig
    from moeviz.costs import cost_summary

    cfg = MoEConfig(num_experts=num_experts, top_k=MoEConfig.routed_top_k(router, top_k), router=router,
                    capacity_factor=capacity_factor, seed=seed, d_model=d_model, d_hidden=d_hidden, device="cpu")
    s = cost_summary(cfg)
    return {"total_params": int(s["total_params"]), "active_params": int(s["active_params"]),
            "active_share": round(float(s["active_share"]), 4),
            "rule_of_thumb_share": round(float(s["rule_of_thumb_share"]), 4)}


def variants_numbers(num_experts: int, top_k: int, capacity_factor: float | None, text: str, bias_steps: int,
                     lm_layer: int = 0) -> dict:
    """/variants: the router scores of MoE layer `lm_layer` of the shipped olmoe-tiny nearest `num_experts` for
    the sentence, through every router variant: experts per token and load, per variant."""
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.shipped import nearest_olmoe, variants_on_logits
    from moeviz.variants import variant_summary

    checkpoint = load_checkpoint(nearest_olmoe(num_experts)[1])
    k = max(1, min(top_k, checkpoint.info()["num_experts"]))
    lm_layer = min(lm_layer, len(checkpoint.blocks) - 1)  # as the page's layer picker does
    logits = checkpoint.route(text).traces[lm_layer].router_logits
    rows = variant_summary(variants_on_logits(logits, k, capacity_factor, bias_steps))
    return {f"{key}:{row['variant']}": row[key] for row in rows
            for key in ("mean experts/token", "tokens with no expert", "max/mean load")}


RECIPES: dict[str, Callable[..., dict]] = {
    "layer": layer_numbers, "walkthrough": walkthrough_numbers, "capacity": capacity_numbers,
    "compute": compute_numbers, "variants": variants_numbers,
}
# A view's numbers in words, for a class poll's reveal and the hand-outs ("2 (how many experts ran for the
# token)", not the key): the keys are the lesson file's, so they stay as they are.
NUMBER_WORDS = {
    "tokens": "tokens in the sentence", "idle_experts": "experts that got no token",
    "max_mean_load": "the busiest expert's load ÷ the mean load", "dropped_fraction": "share of copies dropped",
    "token": "the token's position", "experts_run_count": "how many experts ran for the token",
    "capacity": "slots per expert", "dropped_copies": "copies dropped", "tokens_without_expert":
    "tokens that lost every expert", "total_params": "the layer's parameters", "active_params":
    "parameters one token uses", "active_share": "share of parameters one token uses",
    "rule_of_thumb_share": "k ÷ N, the rule of thumb",
}


def number_words(key: str) -> str:
    """A number's name in words: NUMBER_WORDS, else the key with spaces ("mean experts/token:top-k")."""
    return NUMBER_WORDS.get(key, key.replace("_", " "))


RECIPE_TITLES = {
    "layer": "The sidebar's layer on the sentence (this page's own numbers need a button press or a checkpoint)",
    "walkthrough": "The token's trip through the layer", "capacity": "Capacity and dropped copies",
    "compute": "Parameters and the share a token uses", "variants": "Every router variant on the sentence",
}

__all__ = ["RECIPES", "RECIPE_TITLES", "layer_numbers", "walkthrough_numbers", "capacity_numbers",
           "compute_numbers", "variants_numbers"]
