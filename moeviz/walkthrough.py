"""One token's trip through an MoE layer, read out of a RoutingTrace for the walkthrough's six steps.

Pure functions (torch and numpy, no streamlit): the page only draws what these return. Everything here is read
from the layer's own tensors, never recomputed by hand, except the "every expert votes" misreading, which runs
every expert on purpose to show what sparse routing avoids.

Expert ids are the tensor indices, 0 … E-1. A token's *slots* are its entries in topk_indices, best first:
its k chosen experts (token-choice routers) or all E experts ordered by score (expert choice, where a slot is
"dropped" when that expert did not pick the token). An expert *runs* for the token when its slot is not dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from moeviz.routers import router_spec
from moeviz.text import embed_tokens, escape_markdown, plural, random_labels, random_vectors, split_tokens
from moeviz.trace import RoutingTrace

STEP_NAMES = ("Token arrives", "Router scores", "Top-k pick", "Experts run", "In parallel", "Combine")
SOURCES = ("sentence", "random")  # where the walkthrough's tokens come from
NUM_RANDOM_VECTORS = 8  # a "sentence" of random vectors, so step 5 still has a batch to spread


def walkthrough_inputs(source: str, text: str, vector_seed: int, d_model: int) -> tuple[list[str], torch.Tensor]:
    """Labels and inputs (T, d_model): the sentence's tokens, or NUM_RANDOM_VECTORS seeded random vectors.

    Word vectors use a fixed embedding seed (0), so the layer's seed changes the layer, never the words."""
    if source == "random":
        return random_labels(NUM_RANDOM_VECTORS), random_vectors(NUM_RANDOM_VECTORS, d_model, vector_seed)
    tokens = split_tokens(text)
    if not tokens:
        raise ValueError("the sentence has no words or punctuation to route.")
    return tokens, embed_tokens(tokens, d_model, seed=0)


@dataclass(frozen=True)
class WalkthroughRun:
    """The sparse forward the walkthrough shows, for one layer and one batch of tokens."""
    labels: tuple[str, ...]  # one label per token (the words, or v0, v1, ... for random vectors)
    trace: RoutingTrace  # only the chosen experts ran

    @property
    def mlp_output_shape(self) -> tuple[int, ...]:
        """The shape one expert (a plain MLP) gives for one token, read off the experts' real outputs."""
        return tuple(self.trace.expert_outputs.shape[2:])


def run_walkthrough(layer, labels, x: torch.Tensor) -> WalkthroughRun:
    """The sparse forward of `layer` on x (T, D), traced."""
    with torch.inference_mode():
        _, trace = layer(x)
    return WalkthroughRun(tuple(labels), trace)


@dataclass(frozen=True)
class DenseRun:
    """The "every expert votes" misreading, run for real: only computed when the page asks for it."""
    dense_output: torch.Tensor  # (T, D) from dense_forward: every expert ran, unchosen results masked
    dense_expert_rows: int  # expert-token rows dense_forward computed (T * E)
    all_expert_outputs: torch.Tensor  # (E, T, D) every expert on every token


def run_dense(layer, x: torch.Tensor) -> DenseRun:
    """dense_forward, plus every expert's output on every token (one batched call, not E separate ones)."""
    with torch.inference_mode():
        dense_output, dense_trace = layer.dense_forward(x)
        all_outputs = layer.experts.forward_all(x.to(layer.device, layer.router.weight.dtype))  # (E, T, D)
    return DenseRun(dense_output.reshape(x.shape[0], -1), int(dense_trace.metrics["expert_rows"]), all_outputs)


@dataclass(frozen=True)
class TokenView:
    """One token's numbers from a trace, as numpy arrays on the CPU."""
    index: int
    label: str
    vector: np.ndarray  # (D,) the token entering the layer
    logits: np.ndarray  # (E,) router logits
    probs: np.ndarray  # (E,) after the gating function
    selection: np.ndarray  # (E,) the scores top-k was taken on
    slots: np.ndarray  # (K,) expert ids, best first
    weights: np.ndarray  # (K,) combine weights actually used (0 where dropped)
    dropped: np.ndarray  # (K,) bool
    expert_outputs: np.ndarray  # (K, D) each slot's expert output, before weighting
    output: np.ndarray  # (D,) the layer's output for this token
    lost: np.ndarray  # expert ids chosen but full (capacity); empty for expert choice (unpicked is not lost)
    router: str = ""  # the trace's router: when its experts choose, they pick the token, it chooses nothing

    @property
    def vector_norm(self) -> float:
        """‖x‖, the length of the token's vector."""
        return float(np.linalg.norm(self.vector))

    @property
    def running(self) -> np.ndarray:
        """Expert ids that actually ran for this token, best first."""
        return self.slots[~self.dropped]

    @property
    def running_weights(self) -> np.ndarray:
        return self.weights[~self.dropped]


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.double() if t.dtype.is_floating_point else t).numpy()


def token_view(trace: RoutingTrace, t: int, labels=None) -> TokenView:
    """Token t's slice of every per-token tensor in `trace` (labelled "token t" when no labels are given).

    The one place a token is read out of a trace: the walkthrough page, the handout and the quiz use it."""
    slots, dropped = _np(trace.topk_indices[t]), _np(trace.dropped[t])
    lost = slots[:0] if trace.router_spec.experts_choose else slots[dropped]
    return TokenView(
        index=t, label=f"token {t}" if labels is None else labels[t], vector=_np(trace.input[t]),
        logits=_np(trace.router_logits[t]), probs=_np(trace.router_probs[t]),
        selection=_np(trace.selection_scores[t]), slots=slots, weights=_np(trace.topk_weights[t]), dropped=dropped,
        expert_outputs=_np(trace.expert_outputs[t]), output=_np(trace.output[t]), lost=lost, router=trace.router)


def gate_formula(view: TokenView, router: str, expert: int) -> dict:
    """The router's score function for one expert, worked through with this token's numbers; "latex" is the
    whole line for the page (`exp(…)` on the line: st.latex's box clipped a raised exponent, e^{z_0}).

    softmax: p_e = exp(z_e) / sum_j exp(z_j). sigmoid: p_e = 1 / (1 + exp(-z_e)). Another score function in the
    router table (moeviz.routers) raises here until its arithmetic is written, rather than showing a wrong one."""
    spec = router_spec(router)
    z, e, prob = view.logits, expert, view.probs[expert]
    symbolic = spec.formula.replace("_e", f"_{{{e}}}")  # the table's formula, for this expert
    if spec.score_function == "sigmoid":
        exp_neg = math.exp(-z[e])
        latex = rf"{symbolic} = \frac{{1}}{{1 + \exp({-z[e]:.2f})}} = \frac{{1}}{{1 + {exp_neg:.3f}}} = {prob:.3f}"
        return {"kind": "sigmoid", "expert": e, "logit": z[e], "exp_neg": exp_neg, "prob": prob, "latex": latex}
    if spec.score_function == "softmax":
        exps = np.exp(z - z.max())  # shifted for stability; the ratio is unchanged
        scale = math.exp(z.max())
        exp_e, sum_exp = exps[e] * scale, exps.sum() * scale
        latex = (rf"{symbolic} = \frac{{\exp({z[e]:.2f})}}{{\sum_j \exp(z_j)}} = "
                 rf"\frac{{{exp_e:.3f}}}{{{sum_exp:.3f}}} = {prob:.3f}")
        return {"kind": "softmax", "expert": e, "logit": z[e], "exp": exp_e, "sum_exp": sum_exp, "prob": prob,
                "latex": latex}
    raise ValueError(f"no worked formula for the {spec.score_function!r} score function of router {router!r}.")


def router_certainty(view: TokenView) -> dict:
    """How decided the router is about this token: the experts that ran, its largest probability, and its entropy
    as a share of log N (1 = the same score for every expert, 0 = all probability on one expert)."""
    p = view.probs / view.probs.sum()  # sigmoid scores need not sum to 1; shares do
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    return {"running": [int(e) for e in view.running], "largest_prob": float(view.probs.max()),
            "entropy_share": entropy / math.log(len(p)) if len(p) > 1 else 0.0}


def top_k_table(view: TokenView) -> list[dict]:
    """The token's slots: expert, router prob, the combine weight used, and whether the slot ran."""
    rows = []
    for slot, expert in enumerate(view.slots):
        rows.append({"rank": slot + 1, "expert": int(expert), "router_prob": float(view.probs[expert]),
                     "weight": float(view.weights[slot]), "ran": not bool(view.dropped[slot])})
    return rows


def compute_counts(run: WalkthroughRun, view: TokenView) -> dict:
    """Expert computations done vs what a dense layer does: for this token, the sentence, and FLOPs/token."""
    trace, E = run.trace, run.trace.num_experts
    return {"token_sparse": int(len(view.running)), "token_dense": E,
            "batch_sparse": int(trace.metrics["expert_rows"]), "batch_dense": int(trace.metrics["dense_expert_rows"]),
            "flops_sparse": float(trace.metrics["active_flops_per_token"]),
            "flops_dense": float(trace.metrics["dense_flops_per_token"]),
            "params_per_expert": int(trace.metrics["params_per_expert"]),
            "matrices_per_expert": int(trace.metrics["matrices_per_expert"]),
            "d_hidden": int(trace.metrics["params_per_expert"]) // (int(trace.metrics["matrices_per_expert"])
                                                                   * len(view.vector)),
            "router_params": len(view.vector) * E}  # W_router, (N × d_model), as costs.layer_costs counts it


def expert_path(counts: dict, d_model: int) -> list[dict]:
    """The way through one expert, stage by stage, from the layer's own counts (compute_counts): what each stage
    is, the weights it holds and how many numbers it hands on. The weights add up to params_per_expert; the
    last stage hands on d_model numbers, the size of the expert's real output."""
    m, d_hidden = counts["matrices_per_expert"], counts["d_hidden"]
    up, down = f"{d_model} × {d_hidden}", f"{d_hidden} × {d_model}"
    stages = [("the token's vector x (input)", "", 0, d_model)]
    if m == 3:  # the gated (SwiGLU) MLP: down(silu(gate(x)) * up(x))
        stages += [("gate matrix: x projected to d_hidden numbers", up, d_model * d_hidden, d_hidden),
                   ("up matrix: x projected to d_hidden again, beside it", up, d_model * d_hidden, d_hidden),
                   ("SiLU(gate) times up, entry by entry", "", 0, d_hidden),
                   ("down matrix: back to d_model, the token's size (the expert's output)", down,
                    d_hidden * d_model, d_model)]
    else:
        stages += [("first matrix: x projected to d_hidden numbers", up, d_model * d_hidden, d_hidden),
                   ("activation, entry by entry", "", 0, d_hidden),
                   ("second matrix: back to d_model, the token's size (the expert's output)", down,
                    d_hidden * d_model, d_model)]
    return [{"stage": stage, "matrix": shape or "none", "weights": weights, "numbers out": out}
            for stage, shape, weights, out in stages]


def combine_terms(view: TokenView) -> list[dict]:
    """The weighted sum term by term: weight * expert output, for each expert that ran."""
    return [{"expert": int(view.slots[j]), "weight": float(view.weights[j]), "output": view.expert_outputs[j],
             "term": view.weights[j] * view.expert_outputs[j]}
            for j in range(len(view.slots)) if not view.dropped[j]]


def combine_check(view: TokenView) -> float:
    """Largest |sum of weighted terms - the layer's output|: ~1e-7 when the walkthrough's sum is the real one."""
    terms = combine_terms(view)
    total = np.sum([t["term"] for t in terms], axis=0) if terms else np.zeros_like(view.output)
    return float(np.abs(total - view.output).max())


def expert_demand(trace: RoutingTrace) -> np.ndarray:
    """(E,) tokens routed to each expert before any capacity limit (expert choice: the tokens it picked)."""
    return _np(trace.demand).astype(float)


def load_summary(trace: RoutingTrace) -> dict:
    """How evenly the sentence's tokens spread over experts, and what that means for a parallel step."""
    demand, processed = expert_demand(trace), _np(trace.tokens_per_expert).astype(float)
    busiest = int(demand.argmax())
    return {"tokens": trace.num_tokens, "experts": trace.num_experts, "even_load": demand.sum() / len(demand),
            "busiest": busiest, "max_demand": float(demand[busiest]), "busiest_processed": float(processed[busiest]),
            "idle": int((processed == 0).sum()), "max_mean_load": float(trace.metrics["max_mean_load"]),
            "capacity": trace.capacity, "dropped_fraction": float(trace.metrics["dropped_fraction"]),
            "balance_loss": float(trace.balance_loss)}


def misreading(run: WalkthroughRun, dense: DenseRun, view: TokenView) -> dict:
    """Sparse routing vs two readings of "every expert votes", in numbers, for one token.

    dense-masked: every expert computes, unchosen results are zeroed: same output, E/k times the work.
    all-vote: every expert's output weighted by its full router probability: a different output."""
    t, trace = view.index, run.trace
    sparse = view.output
    masked = _np(dense.dense_output[t])
    votes = view.probs / view.probs.sum()  # sigmoid scores do not sum to 1; a vote needs shares
    all_vote = np.einsum("e,ed->d", votes, _np(dense.all_expert_outputs[:, t]))  # (D,)
    norm = max(float(np.linalg.norm(sparse)), 1e-12)
    return {"sparse_output": sparse, "dense_output": masked, "all_vote_output": all_vote,
            "dense_max_abs_diff": float(np.abs(masked - sparse).max()),
            "dense_rows": dense.dense_expert_rows, "sparse_rows": int(trace.metrics["expert_rows"]),
            "all_vote_rel_diff": float(np.linalg.norm(all_vote - sparse)) / norm,
            "sparse_experts": int(len(view.running)), "dense_experts": trace.num_experts}


def _experts_phrase(view: TokenView) -> str:
    parts = [f"expert **{int(e)}** (weight {w:.3f})" for e, w in zip(view.running, view.running_weights)]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def kept_weights_sum(trace, token: int) -> float:
    """The sum of a token's k combine weights as its gating rule made them, before capacity: 1 when the rule
    renormalises (Mixtral), less when it keeps the raw probabilities (OLMoE, Qwen2-MoE, Switch)."""
    return float(trace.routed_weights[token].sum())


def answer(view: TokenView) -> str:
    """In plain words, as Markdown: which experts actually run for this token, and with what weight."""
    word = f"“{escape_markdown(view.label)}” (token {view.index})"
    num_experts = len(view.probs)
    ran, idle = len(view.running), num_experts - len(view.running)
    if ran == 0:
        why = ("no expert picked it (with expert choice each expert takes its own top tokens)"
               if router_spec(view.router).experts_choose else "every slot it was given was dropped")
        return (f"For {word}, **no expert runs**: {why}. The layer adds nothing; "
                f"the residual connection carries the token on unchanged.")
    text = f"For {word}, **{ran} of {num_experts} experts run**: {_experts_phrase(view)}. "
    text += f"The other {plural(idle, 'expert')} {'does' if idle == 1 else 'do'} no work for it."
    # the answer box is read before step 1: "weight" is said in plain words here, and named in step 3
    text += " A weight is how much that expert's output counts in the token's output"
    total = float(sum(view.running_weights))
    # OLMoE's rule keeps the raw probabilities: weights adding up to 0.34 look like a mistake until step 3
    text += (f"; these add up to {total:.3f}, not 1 (step 3 says why)." if ran > 1 and abs(total - 1) > 0.005
             else " (step 3).")
    lost = view.lost.tolist()
    if lost:
        names = ", ".join(map(str, lost))
        text += (f" Expert {names} was chosen too, but it was full (capacity), so that copy of the token was "
                 "dropped" if len(lost) == 1 else f" Experts {names} were chosen too, but were full (capacity), so "
                 "those copies of the token were dropped") + " and its weight is lost."
    # why the weights need not sum to 1 waits for step 3, where softmax and the combine weights are explained
    return text
