"""/heatmap's views of a real checkpoint's routing (a CheckpointRouting, routed here or read from a trace file).

    show(routing, run_what_if)   # run_what_if(trace_index, variant, capacity_factor, drop_policy) -> WhatIf

Sections, top to bottom: the model line; all layers at a glance; one layer's tokens × experts heatmap (picked
with the `layer` link key); each token's journey through the layers and how much consecutive layers agree; what
one expert gets on this text (`expert`); the what-if (`whatif`, `whatif_capacity`, `whatif_drop`); downloads.
The numbers come from moeviz.hf.analysis and moeviz.hf.whatif; nothing here computes on tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import streamlit as st

from moeviz.capacity_words import capacity_symbols, capacity_worked
from moeviz.app.charts import chart
from moeviz.app.heatmap_text import (EXPERT_CHOICE_NOTE, WHAT_IF_COLUMNS, crowded_note, entropy_note,
                                     layer_summary_columns, variant_note, variant_option, what_if_columns, what_if_counts)
from moeviz.app.layer_line import model_line
from moeviz.app.parallel_page import POLICY_CAPTIONS, POLICY_LABELS
from moeviz.app.params import CAPACITY_FACTORS, capacity_value, parse_capacity, parse_choice, parse_int_choice
from moeviz.app.presenter import fold, presenting
from moeviz.app.tables import MAX_ROWS_SHOWN, all_rows_height, table
from moeviz.app.url import set_url_value, url_value
from moeviz.config import DROP_POLICIES
from moeviz.routers import router_spec
from moeviz.figures.checkpoint import co_selection_heatmap, journey_grid, layer_load_heatmap
from moeviz.figures.routing import load_bars, router_heatmap
from moeviz.glossary import LOAD_RATIO, MEASURES, PAPERS, glossary_link
from moeviz.hf import analysis
from moeviz.lm.analysis import smoothed_rate
from moeviz.hf.tracefile import routing_csv, routing_json
from moeviz.text import escape_markdown, plural
from moeviz.variants import VARIANT_KEYS, own_variant

# The what-if starts at the model's own rule and k (moeviz.variants.own_variant) with a capacity limit of 1.0: the
# learner's own model first, then other rules (it started at Switch top-1; links that name one keep it).
DEFAULT_CAPACITY = "1"

LIFT_ROWS = 8  # moeviz.hf.analysis.expert_lift's default limit
SMOOTHED_LIFT = ("Lift = (times sent here ÷ times in the text) ÷ the base rate: 1 = no preference. It is "
                 "smoothed: each token string counts one extra, imaginary occurrence sent here at the base rate, so "
                 "a string seen twice cannot score high on luck alone.")


def lift_worked(row: dict, expert: int, ran: int, tokens: int) -> str:
    """The smoothed lift of the table's top `row` worked out with its own numbers: E`expert` ran on `ran` of the
    text's `tokens` tokens (its base rate). The result is the row's own lift, rounded as the table shows it."""
    n, c, a = row["in text"], row["to this expert"], analysis.TEXT_LIFT_SMOOTHING
    base = ran / tokens
    rate = smoothed_rate(c, n, base, smoothing=a)  # the rate expert_lift divided by the base rate
    return (f"Worked out for the top row, “{escape_markdown(row['token'])}”: seen {n} times, {c} of them sent here; "
            f"E{expert}'s base rate is {ran}/{tokens} = {base:.3f}. With the imaginary occurrence the share sent "
            f"here is ({c} + {base:.3f}) ÷ ({n} + {a:g}) = {rate:.3f} (unsmoothed: {c}/{n} = {c / n:.3f}), and the "
            f"lift is {rate:.3f} ÷ {base:.3f} = {rate / base:.2f}.")


def expert_tokens_caption(expert: int, rows: int) -> str:
    """The line over the table of the tokens that ran on `expert`: how many (the load bars' count for it), and
    that positions count from 0."""
    scroll = (f" The table shows about ten rows at a time: scroll inside it for all {rows}."
              if rows > MAX_ROWS_SHOWN else "")
    if rows == 0:
        return f"No token of this text ran on E{expert} at this layer."
    return (f"{'All ' if rows > 1 else 'The '}{plural(rows, 'token')} that ran on E{expert} (the count in the bars "
            f"of tokens per expert above), "
            f"highest router probability for E{expert} first. Position: where the token sits in the text, "
            f"counting from 0 (the first token is position 0).{scroll}")


TOKEN_WINDOW = 64  # tokens per figure: a 926-token text drew figures ~20,000 px tall and froze the browser tab
LAYER_WINDOW = 32  # MoE layers per figure (a trace file may hold up to 1024)
MAX_CO_SELECTION_EXPERTS = 64  # an E x E grid of counts beyond this is unreadable and heavy


@dataclass(frozen=True)
class Window:
    """Which tokens and MoE layers (positions in routing.traces) the figures draw; tables and downloads hold all."""
    tokens: slice
    layers: slice


def show(routing, run_what_if: Callable) -> None:
    with fold("About this model: its layers"):  # folded in presenter mode: the figures come first
        model_line(routing)
        if routing.dense_layers:
            st.caption("Dense layers (no experts, not shown): " + "; ".join(
                f"layer {i}: {escape_markdown(why)}" for i, why in routing.dense_layers) + ".")
    window = pick_window(routing)
    glance(routing, window)
    index = layer_picker(routing)
    one_layer(routing, index, window)
    journey(routing, index, window)
    experts(routing, index)
    what_if_section(routing, index, run_what_if, window)
    downloads(routing)


def _range_picker(label: str, key: str, total: int, size: int, noun: str) -> slice:
    starts = list(range(0, total, size))
    names = {a: f"{noun} {a}–{min(a + size, total) - 1}" for a in starts}
    start = st.selectbox(label, starts, key=key, format_func=names.get,
                         index=starts.index(url_value(key, 0, parse_int_choice(starts))))
    set_url_value(key, start)
    return slice(start, min(start + size, total))


def pick_window(routing) -> Window:
    """Token and layer windows, shown only when the text or the model is larger than one window."""
    T, L = len(routing.token_ids), len(routing.traces)
    if T <= TOKEN_WINDOW and L <= LAYER_WINDOW:
        return Window(slice(0, T), slice(0, L))
    st.info(f"{T:,} tokens through {plural(L, 'MoE layer')}: the figures show {TOKEN_WINDOW} tokens and "
            f"{LAYER_WINDOW} layers at a time, so they stay readable and your browser stays quick. Pick the "
            "window here; the tables and downloads hold everything.", icon=":material/view_week:")
    left, right = st.columns(2)
    with left:
        tokens = _range_picker("Tokens shown", "token_window", T, TOKEN_WINDOW, "tokens") if T > TOKEN_WINDOW \
            else slice(0, T)
    with right:
        layers = _range_picker("Layers shown", "layer_window", L, LAYER_WINDOW, "MoE layers") \
            if L > LAYER_WINDOW else slice(0, L)
    return Window(tokens, layers)


def glance(routing, window: Window) -> None:
    st.header("All layers at a glance")
    T = len(routing.token_ids)
    how_to_read = st.container()  # above the chart, except in presenter mode (folded below it: the figure first)
    chart(layer_load_heatmap(analysis.layer_loads(routing)[window.layers], list(routing.layers[window.layers])),
          key="layer_loads")
    (st.container() if presenting() else how_to_read).caption(
        f"{T} tokens through {plural(len(routing.traces), 'MoE layer')}. Each row is a layer, each column an "
        f"expert; colour = the share of that layer's routed tokens the expert got (white = none; an even router "
        f"gives every expert 1/{routing.traces[0].num_experts}).")
    table(analysis.layer_summary(routing), key="layer_summary", hide_index=True, column_config=layer_summary_columns())
    st.caption(MEASURES[LOAD_RATIO] + " " + MEASURES["load CV"] + " " + entropy_note(routing.traces) +
               " Bal. loss: the balance loss a training run would add for this layer, the "
               f"{glossary_link(PAPERS, 'Switch Transformer')}'s "
               "N · Σ f_i · P_i, where f_i is the share of the token copies routed to expert i and P_i is expert "
               f"i's mean router probability (about 1 when even; see "
               f"{glossary_link('Load balancing loss', 'the glossary')}).")
    if (note := crowded_note(routing.layers, routing.traces)) is not None:
        st.info(note, icon=":material/balance:")


def layer_picker(routing) -> int:
    """The picked MoE layer as a position in routing.traces (URL key `layer`: its decoder-layer index)."""
    layers = list(routing.layers)
    if len(layers) == 1:
        return 0
    layer = st.selectbox("MoE layer", layers, key="layer", format_func=lambda i: f"layer {i}",
                         index=layers.index(url_value("layer", layers[0], parse_int_choice(layers))),
                         help="The layer the heatmap, the expert's tokens and the what-if below show.")
    set_url_value("layer", layer)
    return layers.index(layer)


def one_layer(routing, index: int, window: Window) -> None:
    trace, layer = routing.traces[index], routing.layers[index]
    part, tokens = analysis.token_window(trace, window.tokens.start, window.tokens.stop), routing.tokens[window.tokens]
    st.header(f"Layer {layer}: every token and every expert")
    st.caption(f"Each row is a token, each column an expert; colour = router probability on a fixed 0…1 scale; "
               f"outlined cells = the top-{trace.top_k} experts that ran. The bars count token copies: each token "
               f"counts once per expert it went to, k = {trace.top_k} times. "
               + escape_markdown(str(trace.metrics.get("routing_rule", ""))))
    heat, bars = st.columns([3, 2])
    chart(router_heatmap(part, tokens, title=f"Layer {layer}: probabilities, top-{trace.top_k} outlined"),
          key="ckpt_heatmap", where=heat)
    chart(load_bars(trace, title=f"Layer {layer}: token copies per expert"), key="ckpt_load",
          where=bars)  # the title alone: with "(each token counts k times)" it was cut on a 390-px phone


def journey(routing, index: int, window: Window) -> None:
    st.header("A token's journey through the layers")
    if len(routing.traces) == 1:
        st.caption("This model has one MoE layer: there is no journey to follow.")
        return
    st.caption("Each row is a token, each column a MoE layer; the cell lists the token's experts, best first. "
               "Colour: the router's probability for the first one, how sure that layer was, on a scale from 0 "
               "(white) to 1 (dark red, certain); with N experts it is never below 1/N, so even an unsure cell is "
               "tinted. Expert numbers mean nothing across layers: experts of different layers are "
               "different networks, so E3 at layer 0 and E3 at layer 1 share only a name.")
    t, l = window.tokens, window.layers
    chart(journey_grid(analysis.journey(routing)[t, l], analysis.top1_probability(routing)[t, l],
                       routing.tokens[t], list(routing.layers[l])), key="journey")
    a = index if index + 1 < len(routing.traces) else index - 1
    counts = analysis.co_selection(routing, a, a + 1)
    la, lb = routing.layers[a], routing.layers[a + 1]
    mi = analysis.mutual_information(counts)
    st.caption(f"Do layers {la} and {lb} choose together? Tokens counted by their top-1 expert at each. "
               f"{glossary_link('Mutual information', 'Mutual information')} (how much knowing one layer's expert tells about the other's, in nats, natural-log "
               f"units) {mi:.2f} nats: 0 = layer {lb}'s choice tells nothing about layer {la}'s; "
               f"it is never more than either layer's own top-1 entropy (the entropy of how often each expert is "
               f"a token's first choice), so it reaches its ceiling, ln N, only if the top-1 "
               f"choice is uniform over the N experts and one layer's expert decides the other's. On a short "
               f"text it is biased upwards (few tokens per cell).")
    if max(counts.shape) <= MAX_CO_SELECTION_EXPERTS:
        chart(co_selection_heatmap(counts, la, lb), key="co_selection")
    else:
        st.caption(f"(The {counts.shape[0]} × {counts.shape[1]} grid of counts is not drawn: too many experts to "
                   "read. The number above sums it up.)")
    table(analysis.consecutive_agreement(routing), key="consecutive_agreement", hide_index=True)


def experts(routing, index: int) -> None:
    trace, layer = routing.traces[index], routing.layers[index]
    st.header(f"What each expert of layer {layer} gets on this text")
    choices = list(range(trace.num_experts))
    busiest = max(choices, key=lambda e: (int(trace.tokens_per_expert[e]), -e))  # the default: most to show
    expert = st.selectbox("Expert", choices, key="expert", format_func=lambda e: f"E{e}",
                          index=url_value("expert", busiest, parse_int_choice(choices)))
    set_url_value("expert", expert)
    left, right = st.columns(2)
    lift = analysis.expert_lift(routing, index, expert)
    left.caption(f"Tokens that go to E{expert} more often than its base rate (the share of all tokens it runs), "
                 f"among token strings seen at least twice in the text, with their counts; the best "
                 f"{LIFT_ROWS} at most. {SMOOTHED_LIFT}")
    if lift:
        table(lift, key="expert_lift", where=left, hide_index=True)
        left.caption(lift_worked(lift[0], expert, *analysis.expert_base_rate(routing, index, expert)))
    else:
        left.caption("No token of this text occurs twice and reaches this expert: a longer text gives this column "
                     "something to count.")
    ran = analysis.expert_tokens(routing, index, expert, limit=trace.num_tokens)  # every one, as the bars count
    right.caption(expert_tokens_caption(expert, len(ran)))
    table(ran, key="expert_tokens", where=right, hide_index=True, height=all_rows_height(len(ran)))


def what_if_section(routing, index: int, run_what_if: Callable, window: Window) -> None:
    trace, layer = routing.traces[index], routing.layers[index]
    st.header("What if this model routed differently?")
    st.caption(f"The same router logits of layer {layer}, through one of moeviz's router variants, with a "
               f"capacity limit and a drop policy: which tokens lose which experts. It starts at this model's own "
               f"rule and k = {trace.top_k} with a capacity limit, so what changes first is only what the limit "
               "drops; pick another rule to compare.")
    own = own_variant(trace)
    variant = st.selectbox("Router variant", VARIANT_KEYS, key="whatif",
                           format_func=variant_option,
                           index=VARIANT_KEYS.index(url_value("whatif", own, parse_choice(VARIANT_KEYS))))
    st.caption(variant_note(variant, own))
    set_url_value("whatif", variant)
    left, right = st.columns(2)
    capacity = left.select_slider("What-if capacity factor (this section only)", CAPACITY_FACTORS,
                                  key="whatif_capacity",
                                    value=url_value("whatif_capacity", DEFAULT_CAPACITY, parse_capacity),
                                    help="Slots per expert = factor × tokens × k / N; off = no limit (Switch "
                                         "and expert choice always have one).")
    set_url_value("whatif_capacity", capacity)
    policy = right.selectbox("Drop policy: who loses a slot at a full expert", DROP_POLICIES, key="whatif_drop",
                             format_func=POLICY_LABELS.get,
                             index=DROP_POLICIES.index(url_value("whatif_drop", "position",
                                                                 parse_choice(DROP_POLICIES))),
                             help=" ".join(f"{POLICY_LABELS[p]}: {POLICY_CAPTIONS[p]}" for p in DROP_POLICIES))
    right.caption(POLICY_CAPTIONS[policy] + " (The names in the options, GShard, Switch, V-MoE and Megatron-Core: "
                  f"{glossary_link(PAPERS, 'MoE papers and libraries')}.)")
    set_url_value("whatif_drop", policy)
    w = run_what_if(index, variant, capacity_value(capacity), policy)
    rows = w.rows(routing.tokens)
    not_chosen, dropped, gained = (sum(bool(r[c]) for r in rows)
                                   for c in ("lost (not chosen)", "lost (dropped)", "gained"))
    limit = f" (C = {w.trace.capacity} slots per expert)" if w.trace.capacity else " (no capacity limit)"
    if w.trace.capacity:
        left.caption(capacity_formula(w.config.effective_capacity_factor, w.trace.num_tokens, w.config.top_k,
                                      w.trace.num_experts, w.trace.capacity))
    st.caption(what_if_counts(trace.num_tokens, not_chosen, gained, dropped, limit) +
               (" " + EXPERT_CHOICE_NOTE if router_spec(w.variant.router).experts_choose else "") +
               " The table lists every token whose experts change: the experts it lost (not chosen, or dropped) "
               "and gained. With the model's own rule only capacity changes anything, so only the dropped column "
               "fills; pick another rule above to fill the other two.")
    part = w.tokens(window.tokens.start, window.tokens.stop)
    chart(router_heatmap(part.trace, routing.tokens[window.tokens], lost=part.lost,
                         title=f"Layer {layer} under {w.variant.label}"), key="whatif_map")
    if rows:
        experts = ("lost (not chosen)", "lost (dropped)", "gained")  # expert ids, named as the heatmap names them
        table([{k: [f"E{e}" for e in v] if k in experts else v for k, v in r.items()} for r in rows],
              key="what_if", hide_index=True, column_config=what_if_columns(), column_order=WHAT_IF_COLUMNS)


def capacity_formula(cf: float, T: int, k: int, N: int, C: int) -> str:
    """The what-if's capacity C worked out with this text's numbers, each symbol said in words."""
    return f"{capacity_worked(cf, T, k, N, C)} slots per expert {capacity_symbols(f'{T:,} tokens, the text', k, N)}."


def downloads(routing) -> None:
    left, right = st.columns(2)
    left.download_button("Routing table (CSV)", partial(routing_csv, routing), file_name="moeviz-routing.csv",
                         mime="text/csv", key="download_csv", icon=":material/download:")
    right.download_button("Trace (JSON)", partial(routing_json, routing), file_name="moeviz-trace.json",
                          mime="application/json", key="download_json", icon=":material/download:",
                          help="Open it again here with “Or open a trace file”, on any moeviz server.")
