"""/variants' words for a newcomer: the capacity each row has, what a DeepSeek bias update is, where noisy top-k's
noise scale comes from, how to read the table of what each rule did, and the note under the sigmoid heatmap. Our
own words and numbers only (never user text); moeviz.app is the only streamlit-side importer."""
from __future__ import annotations

from moeviz.config import DEFAULT_EXPERT_CHOICE_CAPACITY, DEFAULT_SWITCH_CAPACITY, SWITCH_EVAL_CAPACITY
from moeviz.glossary import glossary_link
from moeviz.layer import NOISE_EPS
from moeviz.text import escape_markdown
from moeviz.variants import DEFAULT_BIAS_RATE

DEEPSEEK_BIAS_RATE = 0.001  # DeepSeek-V3's bias update speed γ (arXiv 2412.19437: rule §2.1.2, value §4.2)
MAX_BIASES_LISTED = 16  # beyond this many experts the biases are not listed one by one


def capacity_words(capacity: float | None) -> str:
    """The intro's capacity clause: the sidebar's factor, or, when it is off, the two rows that keep their own."""
    if capacity is not None:
        return f"Capacity factor {capacity:g} for every row."
    return (f"The sidebar's capacity factor is off (no limit), but two rows always have a capacity of their own: "
            f"Switch uses {DEFAULT_SWITCH_CAPACITY:g}, the factor it trains with (Google's Mesh TensorFlow, the "
            f"library Switch was written in, evaluates with {SWITCH_EVAL_CAPACITY:g} by default), and expert choice uses "
            f"{DEFAULT_EXPERT_CHOICE_CAPACITY:g}.")


BIAS_HELP = (
    "A bias update is one step of DeepSeek-V3's balancing without an auxiliary loss. Each expert has a bias, "
    "starting at 0. One update routes this sentence's tokens with the current biases, counts the tokens each expert "
    f"got, then adds {DEFAULT_BIAS_RATE:g} to the bias of every expert that got fewer than the mean and subtracts "
    f"{DEFAULT_BIAS_RATE:g} from every expert that got more. DeepSeek-V3 makes one such update per training step, "
    f"over a whole batch, with a step of {DEEPSEEK_BIAS_RATE:g}; here the step is larger and the data is only your "
    "sentence, so a few updates visibly change the choice. It changes only the “sigmoid + selection bias” rule.")


def bias_caption(steps: int) -> str:
    """The line under the slider: what the updates are and which parts of the page they change."""
    return (f"**{steps} bias {'update' if steps == 1 else 'updates'}** for the “sigmoid + selection bias” rule "
            f"(DeepSeek-V3): each update counts the tokens per expert on this sentence and moves every expert's bias "
            f"by {DEFAULT_BIAS_RATE:g} towards even load (down for a busy expert, up for an idle one; an expert busy after one update and idle after the next goes "
            "back down, so a bias can end near 0). The bias is "
            "added to the scores only to choose the experts, never to their weights. The bias is tuned and scored "
            "on the same sentence, so that rule's even load here is a best case. It changes that rule's row "
            "in the table, its column of the grid of experts per token, its row of load bars and the outlines of "
            "its heatmap; the other rules do not use it.")


def noise_words(std: float) -> str:
    """Where noisy top-k's noise scale comes from, said plainly (std: moeviz.variants.initial_noise_std())."""
    return (f"Its noise on each score is Gaussian, with a standard deviation of softplus(noise weights · x) + "
            f"{NOISE_EPS:g} (the {NOISE_EPS:g} floor is from the reference code, tensor2tensor's noisy_top_k_gating; "
            f"the paper has none): x is the token's vector, the noise weights are a matrix that training learns, and "
            "softplus(z) = ln(1 + e^z) keeps the result positive. Shazeer et al. start the noise weights at zero, and "
            f"so does this page: every score of every token gets noise of standard deviation softplus(0) + "
            f"{NOISE_EPS:g} = ln 2 + {NOISE_EPS:g} ≈ {std:.2f}.")


TABLE_HOW_TO_READ = (
    "How to read it: **experts/token** gives the fewest and the most experts that ran for any one token, as "
    "fewest–most (2–2: every token got 2; 0–1: some token got none and none got more than 1). **mean**: the "
    "average over the tokens. **< k** and **> k**: how many tokens got fewer, or more, experts than the rule's k "
    "(column k; Switch's is 1). **none**: how many tokens got no expert at all: they skip the experts, and only "
    f"the {glossary_link('Residual path', 'residual path')} carries them on.")


def sigmoid_note(steps: int, moved: int, tokens: int, biases: list[float]) -> str:
    """The line under the sigmoid + selection bias heatmap: why its outlines may skip the darkest cell."""
    listed = (" (" + ", ".join(f"E{e} {b:+.2f}".replace("-", "−") for e, b in enumerate(biases)) + ")"
              if 0 < len(biases) <= MAX_BIASES_LISTED and any(biases) else "")
    if steps == 0:
        return ("**Sigmoid + selection bias**, no bias update yet: every bias is 0, so the outlines are each token's "
                "k darkest cells. The colour is each expert's sigmoid score, in 0…1 on its own: a token's scores "
                "do not sum to 1, so the colour bar says “score”, not “prob”.")
    return (f"**Sigmoid + selection bias**: the outlines are not always the darkest cells. The choice adds each "
            f"expert's bias, after {steps} {'update' if steps == 1 else 'updates'}{listed}, to its score and picks "
            f"the k largest sums; the colour shows the score without the bias, which is also what the weights are "
            f"made from. On this "
            f"sentence the bias changed the experts of {moved} of {tokens} tokens. The scores are sigmoids, each in "
            "0…1 on its own: they do not sum to 1 per token, so the colour bar says “score”, not “prob”.")


NOTE_WORDS = (
    f"Words in these notes: an **auxiliary loss** is an extra term added to the training loss to even out the load "
    f"({glossary_link('Load balancing loss', 'load balancing loss')}); the **update** a layer gives a token is its "
    f"output, added to the token's vector on the {glossary_link('Residual path', 'residual path')}, weighted by the "
    f"{glossary_link('Combine weight', 'combine weights')}; a **decoder** writes text one token at a time and may "
    f"only look back, so a rule that looks at later tokens ({glossary_link('Expert choice', 'expert choice')}) "
    "breaks that.")


# The layer line's note on /variants: what routes here (the line itself says what d_model and d_hidden are).
LAYER_NOTE = "Its router's scores go through every rule below; Switch runs them with k = 1"


__all__ = ["capacity_words", "BIAS_HELP", "bias_caption", "noise_words", "TABLE_HOW_TO_READ", "sigmoid_note",
           "NOTE_WORDS", "LAYER_NOTE"]


SAME_CHOICE = ("softmax_topk_norm", "softmax_topk_raw", "topk_softmax")  # the rules that differ only in weights


def weights_example(runs, tokens, token: int = 0) -> str:
    """The combine weights of one token under the three rules that pick the same experts, read from their traces:
    the page said they "differ only in the weights" and never showed a weight."""
    by_key = {run.variant.key: run for run in runs}
    parts = []
    for key in SAME_CHOICE:
        run = by_key[key]
        ids = run.trace.topk_indices[token].tolist()
        weights = run.trace.topk_weights[token].tolist()
        terms = " + ".join(f"E{e} {w:.3f}" for e, w in zip(ids, weights))
        parts.append(f"{run.variant.label}: {terms} = {sum(weights):.3f}")
    return (f"The weights themselves, for the token “{escape_markdown(tokens[token])}”: " + "; ".join(parts) + ". The same experts, "
            "but the not-renormalised rule hands the token's output less of each expert's, as sure as the router "
            "was; the other two rescale to a full sum of 1.")
