"""The six walkthrough steps: each draws one token's real numbers with a few sentences of explanation.

A step is `step(run, view, controls, explain)`: `explain(markdown)` writes the step's explanation where the
stepper wants it (in the page flow, or folded beside the heading in presenter mode).

Every number comes from moeviz.walkthrough (read from the layer's RoutingTrace); nothing here computes tensors.
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.charts import chart
from moeviz.app.presenter import fold, presenting
from moeviz.app.tables import table
from moeviz.config import ROUTER_LABELS
from moeviz.figures import walkthrough as figs
from moeviz.figures.routing import load_bars, router_heatmap
from moeviz.glossary import BALANCE_LOSS_VALUE, MEASURES, glossary_link
from moeviz.text import ROUNDING_NOTE, difference, escape_markdown, plural
from moeviz.walkthrough import (DenseRun, WalkthroughRun, TokenView, combine_check, combine_terms, compute_counts,
                                expert_path, gate_formula, kept_weights_sum, load_summary, misreading, router_certainty,
                                top_k_table)


PRESENTER_ROWS = 8  # step 5's heatmap rows in presenter mode: with the load bars beside it, one 768-px screen
# Step 4's strips: what a row is and whether the weight is in it yet (a reader asked both). Short: the strips
# stand in half a column at 1024 px.
EXPERT_OUTPUTS_TITLE = "Expert outputs Eᵢ(x), unweighted"


def _chart(fig, alt: str) -> None:
    chart(fig, width="stretch", config={"displayModeBar": False}, alt=alt)


def _token_md(view: TokenView) -> str:
    return f"“{escape_markdown(view.label)}”"


def step_arrives(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    D = len(view.vector)
    explain(
        f"The token {_token_md(view)} (a {glossary_link('Token and subword', 'token')}: a word or a piece of one; "
        "␣ marks a piece that starts with a space) reaches the MoE layer as one vector of "
        f"**{D} numbers**, its {glossary_link('Hidden state')}: what the model has worked out about the token so "
        f"far. ({D} is this layer's width, its {glossary_link('d_model and d_hidden', 'd_model')}; other pages use "
        "layers of other sizes, and the layer line at the top of each page says which.)\n\n"
        "The layer stands where a Transformer block would have its "
        f"{glossary_link('Feed-forward MLP', 'feed-forward MLP')}, after {glossary_link('Attention')} (where tokens "
        f"look at each other) and an {glossary_link('RMSNorm', 'RMSNorm')} (which rescales the vector), as the "
        f"diagram shows. The lines over the top are the {glossary_link('Residual path', 'residual path')}: at each "
        "“+” the sub-layer's output is added to the vector it was given, so the MoE layer adds to the token's "
        "vector rather than replacing it.\n\n" + expert_intro(run.trace, len(view.probs))
        + " Its router scores every token on its own: the next word may be sent to completely different experts. "
        + batch_note(run.trace))
    # side by side in presenter mode: both figures on a 768-px projector screen with the step's heading
    vector_box, block_box = st.columns(2) if presenting() else (st.container(), st.container())
    with vector_box:
        _chart(figs.vector_strips([view.vector], [f"x ({view.label})"], title=f"Hidden vector x: {D} entries, shape ({D},)"),
               alt="The token's hidden vector as a strip of coloured cells")
    with block_box:
        _chart(figs.block_diagram(), alt="A Transformer block with the MoE layer in place of the MLP")
    c1, c2, c3 = st.columns(3)
    # each with a help: "#0", "(64,)" and "‖x‖" are notations a newcomer has not met yet
    c1.metric("Token", f"#{view.index} of {len(run.labels)}",
              help=f"Its position in the sentence, counted from 0 as the code does: #0 is the first of the "
                   f"{len(run.labels)} tokens.")
    c1.caption(f"Counted from 0, as code counts: #0 is the first of the {len(run.labels)} tokens.")
    c2.metric("Shape", f"({D},)", help=f"One vector of {D} numbers, written as PyTorch writes a tensor's shape.")
    c2.caption(f"One vector of {D} numbers, as PyTorch writes a shape.")
    c3.metric("Length ‖x‖", f"{view.vector_norm:.2f}",
              help="The vector's length: the square root of the sum of its numbers squared.")
    c3.caption(f"‖x‖ is the vector's length, √(sum of its numbers squared): the router's "
               f"{glossary_link('Logit', 'logits')} (its scores, its matrix times x; step 2) scale with it.")


def expert_intro(trace, num_experts: int) -> str:
    """Step 1's definition of an expert, where the step first says the word (the page's header already counts
    them: "8 experts, top-2 routing")."""
    few = ("the experts pick their tokens" if trace.router_spec.experts_choose
           else f"the {glossary_link('Router', 'router')} picks {trace.top_k} of them")
    return (f"Inside, the MoE layer holds {num_experts} {glossary_link('Expert', 'experts')}: small feed-forward "
            "networks (MLPs), each with its own weights, all of the same shape. Only a few run for each token "
            f"({few}); step 4 opens one.")


# A token copy, defined in these words wherever the walkthrough says what one is (step 1 first, step 5 counts them)
TOKEN_COPY = "one token sent to one of its k chosen experts: tokens × k copies in all"
TOKEN_COPIES = f"token copies (each {TOKEN_COPY})"


def batch_note(trace) -> str:
    """Step 1's word on the batch, true for the layer shown: only a capacity limit or expert choice makes a
    token's experts depend on the other tokens, and step 5 shows it only when one is set."""
    if trace.router_spec.experts_choose:
        return ("(Here the experts choose, so whether this token gets an expert depends on the rest of the "
                "sentence: step 5 shows which tokens each expert picked.)")
    if trace.capacity is not None:
        return (f"(With the capacity limit set here, {trace.capacity} slots per expert, whether a token gets its "
                f"experts also depends on the rest of the batch: step 5 shows the {TOKEN_COPIES} that found their "
                "expert full.)")
    return ("(The capacity factor is off, so here a token's experts depend on that token alone. A token copy is "
            f"{TOKEN_COPY}. Set a "
            f"{glossary_link('Capacity factor', 'capacity factor')} in the sidebar and each expert takes at most "
            "C copies from a batch (the tokens routed together, here the sentence): C = ceil(factor · tokens · k "
            "/ N), where ceil rounds up to a whole number. Step 5 then shows the copies dropped because other tokens filled their expert first; a "
            "dropped copy skips that expert, the token keeps its other experts, and a token that lost them all "
            "goes on by the residual path alone.)")


def step_router(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    E = len(view.logits)
    label = ROUTER_LABELS[run.trace.router]
    explain(
        rf"The **router** is one small learned matrix, $W_\text{{router}}$ of shape ({E} × {len(view.vector)}), "
        f"trained with the rest of the model. It gives every expert a score for *this* token: the "
        rf"**{glossary_link('Logit', 'logits')}** $z = W_\text{{router}}\, x$ (raw scores, any real number). "
        f"A {glossary_link('Gate', 'gating function')} turns them into **router probabilities** — here: {label}"
        + (", read “→” as “then” (this step shows the scores; step 3 keeps the top k)" if "→" in label else "") +
        f". (A {glossary_link('Softmax', 'softmax')} makes the scores positive and sum to 1.) "
        f"E0…E{E - 1} name the {E} experts, counting from 0."
        + (" (Sigmoid scores lie in 0…1 each but need not sum to 1.)" if not run.trace.router_spec.probs_sum_to_one else ""))
    c1, c2 = st.columns(2)
    with c1:
        _chart(figs.score_bars(view.logits, name="logit", title="Router logits z (one per expert)"),
               alt="Bar chart of the router logits")
    with c2:
        _chart(figs.score_bars(view.probs, name="probability", title="Router probabilities (before top-k)",
                                 value_range=figs.probability_range(view.probs)),
               alt="Bar chart of the router probabilities")
    _gate_latex(view, run.trace.router)
    if run.trace.router_spec.softmax_over_kept:
        st.caption("This router takes its softmax over the k kept logits only; the bars show the full softmax "
                   "for comparison. The ranking, and so the choice, is the same.")


def show_untrained_router(view: TokenView, untrained: TokenView) -> None:
    """Step 2's comparison: this token's hidden state through the trained router and through the same router
    with the weights it had before training (the same shape, the model's own initial draw)."""
    st.markdown("**Trained vs untrained router, same token.** The right-hand router has the same shape and "
                "the weights this layer started from before training; it gets exactly the same hidden state.")
    c1, c2 = st.columns(2)
    shared_range = figs.probability_range(view.probs, untrained.probs)  # one height, one probability
    for column, name, v in ((c1, "trained", view), (c2, "untrained", untrained)):
        with column:
            _chart(figs.score_bars(v.probs, name="probability", title=f"Router probabilities, {name} router",
                                   highlight=v.running, value_range=shared_range),
                   alt=f"Bar chart of the {name} router's probabilities")
    rows = []
    for name, v in (("trained", view), ("untrained", untrained)):
        c = router_certainty(v)
        rows.append({"router": name, "experts that run": ", ".join(map(str, c["running"])),
                     "largest probability": c["largest_prob"], "uncertainty": c["entropy_share"]})
    table(rows, key="router_certainty", hide_index=True, width="content", column_config={
        "largest probability": st.column_config.NumberColumn(format="%.3f"),
        "uncertainty": st.column_config.NumberColumn(format="%.2f")})
    st.caption("Uncertainty: the entropy of the router probabilities divided by its largest possible value, "
               "log N. 1 means every expert got the same score (the router cannot tell them apart); 0 means all "
               "the probability went to one expert. Blue bars: the experts that run for this token.")


def _gate_latex(view: TokenView, router: str) -> None:
    # exp(…) on the line, not e to a superscript: st.latex's box clipped the raised exponent (e^{z_0}).
    best = int(view.selection.argmax())
    st.latex(two_lines(gate_formula(view, router, best)["latex"]))  # raises for a score it cannot work through
    st.caption(f"The arithmetic for the best-scoring expert, {best}, with this token's numbers.")


def two_lines(latex: str) -> str:
    """A worked formula "a = b = c = d = e" on two lines, the formula then its numbers, aligned at "=": on one
    line the softmax's was cut at a 390-px phone's edge before its result ("p₆ = … = 1.552/8.396 =")."""
    parts = latex.split(" = ")
    if len(parts) < 4:
        return latex
    return (rf"\begin{{aligned}} {parts[0]} &= {' = '.join(parts[1:3])} \\ "
            rf"&= {' = '.join(parts[3:])} \end{{aligned}}")


# Step 3's real models, each with who made it (checked: the OLMoE paper, arXiv 2409.02060, Allen Institute for AI;
# transformers' Qwen2MoE docs, the Qwen team's, Alibaba Cloud; Switch Transformers, Fedus, Zoph and Shazeer, Google,
# arXiv 2101.03961; Mixtral of Experts, Mistral AI, arXiv 2401.04088)
REAL_MODELS_KEEP = ("OLMoE (from AI2, the Allen Institute for AI), Qwen2-MoE (from Alibaba's Qwen team) and Google's "
                    "Switch Transformer keep the weights as they are, as here; Mixtral (from Mistral AI) "
                    "renormalises them")


def _renormalised_note(total: float) -> str:
    """Step 3's words on the combine weights, from the sum this router really gave (not from its name)."""
    if abs(total - 1.0) < 5e-3:
        return ", renormalised to sum to 1 (as Mixtral, Mistral AI's MoE model, does)."
    return (f", kept as they are, not renormalised: here they sum to {total:.2f}, not 1, so each orange bar "
            "equals the blue one beside it and the experts' outputs together enter the token's output at "
            f"{total:.2f} of full strength. Real MoE models differ here: {REAL_MODELS_KEEP}. That is "
            "not a loss: the model was trained with these weights, so its next layers expect outputs of this size, "
            "and the residual path still carries the token's own vector at full strength (step 1).")


def step_topk(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    k, E = run.trace.top_k, len(view.probs)
    if run.trace.router_spec.experts_choose:
        explain("With **expert choice** the experts pick: each expert takes the tokens of the whole sentence "
                    "it scores highest, up to its capacity. (In a decoder this peeks at later tokens.) Lit bars: "
                    "the experts that picked this token.")
    else:
        rest = f"{E - k} {'is' if E - k == 1 else 'are'}"
        explain(f"Only the **top {k}** of the {E} experts are kept; the other {rest} masked out and will "
                    "not run for this token. The kept experts' probabilities become the "
                    f"**{glossary_link('Combine weight', 'combine weights')}**, the weights of the experts' outputs "
                    "in the token's output"
                    + _renormalised_note(kept_weights_sum(run.trace, view.index)))
    title = ("The experts that picked this token (lit), with its combine weights" if run.trace.router_spec.
             experts_choose else "Top-k keeps the best k, masks the rest")
    _chart(figs.topk_bars(view.probs, view.slots, view.dropped, view.weights, title=title),
           alt="Router probabilities with the chosen experts highlighted")
    rows = [r for r in top_k_table(view) if r["ran"] or not run.trace.router_spec.experts_choose]
    table(rows, key="top_k", hide_index=True, width="content", column_config={
        "rank": "rank", "expert": "expert", "router_prob": st.column_config.NumberColumn("router prob", format="%.4f"),
        "weight": st.column_config.NumberColumn("combine weight", format="%.4f"), "ran": "runs?"})


def step_experts(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    counts = compute_counts(run, view)
    explain(f"Only the chosen experts do any work for {_token_md(view)}. Eᵢ(x) below is expert i's output for "
            "the token x, before its combine weight. Each is a small MLP of its own "
                "(its own weights); it maps the token's vector to an output vector of the same size. "
                "The idle experts' weights are never touched for this token. "
                + _expert_size(counts, len(view.vector)) + " Compute is counted in "
                f"{glossary_link('FLOPs', 'FLOPs')}, floating-point operations: one multiply-add is 2 FLOPs; the "
                "bars below count the router's too. The colours of the outputs need no reading cell by cell: "
                "they show that each expert returns a vector of the token's size, and that different experts "
                "return different vectors for the same token.")
    c1, c2 = st.columns([2, 3])
    with c1:
        _chart(figs.expert_grid(len(view.probs), view.running, view.lost, title="All experts"),
               alt="Grid of all experts with the running ones lit")
        # The colour key in a caption, which wraps: as the title it was cut to "blue = running, dark" at 1024 px.
        st.caption("Blue: runs for this token · dark: idle"
                   + (" · vermillion: chosen, but this copy was dropped (the expert was full)." if len(view.lost) else "."))
        # Side by side only in presenter mode (a wide main area): in the page's 2/5 column at 1024 px two metrics
        # side by side were cut to "Runs, this t…" and "42 o…".
        m1, m2 = st.columns(2) if presenting() else (st.container(), st.container())
        # Short labels: in presenter mode on a 1024 px screen longer ones were cut off.
        m1.metric("Runs, this token", f"{counts['token_sparse']} of {counts['token_dense']}",
                  help="Expert computations for this token, out of what running every expert would do.")
        m2.metric("Runs, all tokens", f"{counts['batch_sparse']} of {counts['batch_dense']}",
                  help="Expert computations for the whole sentence, out of tokens × experts.")
        m2.caption(f"A run is one token computed by one expert: {counts['batch_sparse']} = tokens × k, of "
                   f"{counts['batch_dense']} = tokens × N, what running every expert on every token would do.")
    with c2:
        if len(view.running):
            names = [f"E{int(e)}(x)" for e in view.running]
            zmax = figs.output_range(combine_terms(view), view.output)  # the same colours as step 6
            _chart(figs.vector_strips(view.expert_outputs[~view.dropped], names, title=EXPERT_OUTPUTS_TITLE,
                                      zmax=zmax), alt="Output vectors of the running experts")
        _chart(figs.compute_bars(counts["flops_sparse"], counts["flops_dense"], unit="FLOPs per token",
                                 title="Compute per token: sparse vs every expert",
                                 height=140 if presenting() else 170),  # presenter: one 768-px screen
               alt="Compute comparison")
    with fold("Inside one expert"):  # folded in presenter mode: step 4 must fit one projector screen
        st.caption(f"Inside one expert of this layer, stage by stage (every expert has the same shapes, its own "
                   f"weights): {counts['params_per_expert']:,} weights in all.")
        table(expert_path(counts, len(view.vector)), key="expert_path", hide_index=True)


def _expert_size(counts: dict, d_model: int) -> str:
    """How many weights one expert holds, from the layer's own counts (the layer line's totals, taken apart)."""
    m, per_expert, d_hidden = counts["matrices_per_expert"], counts["params_per_expert"], counts["d_hidden"]
    sizes = (f"d_model × {glossary_link('d_model and d_hidden', 'd_hidden')}, where d_model = {d_model} is the "
             f"token vector's size and d_hidden = {d_hidden} the width inside one expert")
    if m == 3:
        form = (f"three {d_model} × {d_hidden} matrices: {sizes}). They make the gated (SwiGLU) form of the "
                f"{glossary_link('Feed-forward MLP', 'feed-forward MLP')}: two projections of the token to "
                "d_hidden, side by side; one goes through SiLU (a smooth ReLU) and then multiplies the other entry "
                "by entry, as a gate; a third matrix projects the result back down to d_model.")
    else:
        form = f"two matrices, {d_model} × {d_hidden} and {d_hidden} × {d_model}: {sizes}, and back)."
    return (f"Each expert holds {per_expert:,} weights ({form} The router adds {counts['router_params']:,} "
            f"({d_model} × {counts['token_dense']}).")


def step_parallel(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    s = load_summary(run.trace)
    demand = int(s["max_demand"])
    busy = (f"E{s['busiest']} is sent {demand} token {'copy' if demand == 1 else 'copies'} where an even "
            "split gives "
            f"{s['even_load']:.3g}")
    if s["busiest_processed"] < s["max_demand"]:
        lost = ("those tokens keep their other experts unless those are full too" if run.trace.top_k > 1
                else "with k = 1 those tokens lose their only expert")
        busy += (f"; it has room for only {s['capacity']}, so {s['max_demand'] - s['busiest_processed']:.0f} "
                 f"of those token copies are dropped ({lost})")
    explain(
        f"A real layer routes the whole batch at once. Here {plural(s['tokens'], 'token')} are routed together; the "
        f"{TOKEN_COPIES} sent to the same expert are grouped, and "
        "every expert runs once on its group. How long that takes depends on where the experts run (this page "
        "counts the work; the Capacity & parallelism page times it).\n\n"
        "- **Each expert on its own GPU** (a GPU: one accelerator chip; "
        f"{glossary_link('Expert parallelism', 'expert parallelism')}, the Capacity & parallelism page): the step lasts "
        f"as long as the **busiest** expert, so how even the load is sets the pace here: {busy}.\n"
        "- **All experts on one GPU**, computed together as one grouped matrix product (every expert's small "
        "product launched as one batched kernel, a kernel being one program the GPU runs, so an idle expert costs "
        "little): time follows the total number "
        "of token copies, whoever gets them, so imbalance costs little.")
    # Presenter mode puts the load bars first: a long sentence makes the heatmap taller than a projector's screen,
    # and the bars are this step's point (who is busiest).
    if presenting():
        c2, c1 = st.columns([2, 3])
    else:
        c1, c2 = st.columns([3, 2])
    with c1:
        # Short title: the column is ~330 px wide at 1024 px and on a phone; the longer one was cut off.
        picked = "picked by the expert" if run.trace.router_spec.experts_choose else "chosen"
        heat = router_heatmap(run.trace, run.labels, highlight_token=view.index, scale_to_data=True,
                              title=f"Router probabilities (outlined: {picked})")
        if presenting() and len(run.labels) > PRESENTER_ROWS:  # the followed token's neighbourhood fits the screen
            heat = figs.token_window(heat, len(run.labels), view.index, PRESENTER_ROWS)
            st.caption(f"{PRESENTER_ROWS} of the {len(run.labels)} tokens, around “{escape_markdown(view.label)}”: "
                       "drag the chart up or down for the others.")
        _chart(heat, alt="Heatmap of router probabilities with chosen cells outlined")
    with c2:
        _chart(load_bars(run.trace, highlight_experts=view.running, title="Token copies per expert",
                         unit="token copies"),
               alt="Bar chart of token copies per expert")
        st.metric("Balance loss N·Σ fᵢ·Pᵢ (1 = even)", f"{s['balance_loss']:.3f}",
                  help="fᵢ: the share of the token copies routed to expert i; Pᵢ: expert i's mean router "
                       f"probability. {BALANCE_LOSS_VALUE}")
        st.caption(f"fᵢ: the share of the token copies sent to expert i; Pᵢ: expert i's mean router probability "
                   f"over the tokens. Perfectly even routing gives 1; here it is {s['balance_loss']:.2f}, "
                   f"{abs(s['balance_loss'] - 1):.0%} {'above' if s['balance_loss'] >= 1 else 'below'} that. "
                   f"Training adds this {glossary_link('Load balancing loss', 'balance loss')}, times a small "
                   "weight α, to the task's loss, which pushes the router "
                   "towards even loads. Nothing trains on this page, so the sidebar's α does not act here: the "
                   "Load balancing page trains a router with it.")
        if run.trace.router_spec.experts_choose:  # its dropped_fraction counts tokens no expert picked
            st.caption(f"Capacity: each expert picks {plural(s['capacity'], 'token')}; "
                       f"{100 * s['dropped_fraction']:.0f}% of tokens were picked by no expert (they skip the layer).")
        elif s["capacity"] is not None:
            st.caption(f"Capacity: {plural(s['capacity'], 'slot')} per expert; {100 * s['dropped_fraction']:.0f}% of "
                       "token copies found their expert's slots full and were dropped.")
        else:  # step 1 promised the drops here: say why there are none
            st.caption("Capacity factor off: every expert takes all the copies sent to it, so none is dropped. Set "
                       "a capacity factor in the sidebar and this step shows the copies that found their expert "
                       "full.")


COMBINE_CHECK = "Sum of terms vs layer output"  # step 6's check, in a box (tests find it by these words)


def step_combine(run: WalkthroughRun, view: TokenView, controls, explain=st.markdown) -> None:
    terms = combine_terms(view)
    explain("The layer's output is the **weighted sum** of the running experts' outputs, with the router's "
            f"{glossary_link('Combine weight', 'combine weights')}. It has the same shape, ({len(view.output)},): "
            f"one vector of {len(view.output)} numbers, as a plain MLP's output, so the next layer sees one "
            f"ordinary vector. Then the {glossary_link('Residual path', 'residual path')} adds it to the vector the "
            "token brought into the layer (the “+” after the MoE layer in step 1's diagram), and that sum goes on "
            "to the next block.")
    if terms:
        sum_tex = " + ".join(rf"{t['weight']:.3f}\cdot E_{{{t['expert']}}}(x)" for t in terms)
        st.latex(rf"y = {sum_tex}")  # three decimals, as the worked sum below: 0.1849 is 0.185 in both
        st.caption("Eᵢ(x) is expert i's output for this token x (step 4's vectors); each is multiplied by its "
                   "combine weight.")
        _chart(figs.combine_figure(terms, view.output), alt="The weighted sum term by term")
        st.caption("The same colours as step 4's expert outputs, on purpose: each term is its expert's output "
                   "times its weight, so a weight below 1 makes it paler than in step 4, by exactly that factor.")
        st.markdown(worked_sum(terms, view.output))
    D = len(view.output)
    st.metric("Output shape", f"({D},)", help="A plain MLP on this token gives the same shape.")
    # A box of Markdown, not a metric: a metric's large type cut the words to "match to 8 deci…" at 1024 and
    # 390 px; Markdown wraps.
    with st.container(border=True, key="combine_check"):
        st.markdown(f"{COMBINE_CHECK}: **{difference(combine_check(view))}**", help=ROUNDING_NOTE)
    st.caption(MEASURES["combine check"])
    same = tuple(run.mlp_output_shape) == (D,)
    st.caption(("✓ " if same else "✗ ") + f"The output shape ({D},) {'equals' if same else 'differs from'} a plain "
               f"MLP's output shape {tuple(run.mlp_output_shape)}.")


WORKED_ENTRIES = 3  # step 6's sum worked out by hand for the output's first entries


def _signed(value: float) -> str:
    return f"({value:.3f})" if value < 0 else f"{value:.3f}"


def worked_sum(terms: list[dict], output) -> str:
    """Step 6's weighted sum in numbers for the first few entries j of the output, y[j] = Σ wᵢ · Eᵢ(x)[j]: the
    chart's pale cells, read out (with weights below 1 they are too pale to check by eye)."""
    lines = []
    for j in range(min(WORKED_ENTRIES, len(output))):
        symbols = " + ".join(f"w{t['expert']} · E{t['expert']}(x)[{j}]" for t in terms)
        numbers = " + ".join(f"{t['weight']:.3f} · {_signed(float(t['output'][j]))}" for t in terms)
        lines.append(f"- y[{j}] = {symbols} = {numbers} = **{float(output[j]):.3f}**")
    return ("The sum worked out for the first entries of the output (y[j] is entry j; wᵢ is expert i's combine "
            "weight; each number rounded to 3 decimals, so the last digit of a sum can differ by 1; the layer's "
            "own output in bold):\n\n" + "\n".join(lines))


def show_misreading(run: WalkthroughRun, dense: DenseRun, view: TokenView) -> None:
    """The misreading "every expert votes on every token", in numbers, next to the sparse result."""
    m = misreading(run, dense, view)
    st.markdown("**Misreading: every expert votes on every token.** Running every expert and then masking gives "
                "the *same* output for far more work; letting every expert vote by its probability gives a "
                "*different* layer. Either way it is not what the sparse layer does:")
    c1, c2, c3 = st.columns(3)
    c1.metric("Dense, masked vs sparse output", difference(m["dense_max_abs_diff"]),
              help="Every expert computes, the unchosen results are thrown away: the same answer. " + ROUNDING_NOTE)
    c2.metric("…and its expert work", f"{m['dense_rows']} rows",
              delta=f"{m['dense_rows'] / max(m['sparse_rows'], 1):.1f}× sparse", delta_color="inverse",
              help="Expert-token rows computed for the whole sentence; the sparse layer computed "
                   f"{m['sparse_rows']}.")
    c3.metric("All experts vote by probability", f"{100 * m['all_vote_rel_diff']:.0f}% different",
              help="Relative L2 difference from the sparse output: a different layer, not the same one faster.")
    _chart(figs.misreading_figure(m["sparse_output"], m["dense_output"], m["all_vote_output"],
                                  k_label=f"{m['sparse_experts']} experts", num_experts=m["dense_experts"]),
           alt="The token's output computed three ways")


STEPS = (step_arrives, step_router, step_topk, step_experts, step_parallel, step_combine)
