"""/compute's sections: parameters and FLOPs counted, time measured, fine-grained and shared experts.

Each section is a function that takes what it needs (pages/4_compute.py lists them); what a click measured is
kept in session state as a named, frozen record whose key says which layer it belongs to.
"""
from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass

import streamlit as st

import moeviz.app as app
from moeviz.app.runners import compute_timing, granularity_run
from moeviz.app.tables import table
from moeviz.bench.layer import scaling
from moeviz.config import MoEConfig
from moeviz.costs import cost_summary, whole_model_shares
from moeviz.device import available_devices
from moeviz.figures import compute as figs
from moeviz.glossary import glossary_link

D_MODEL, D_HIDDEN = 256, 512
BATCHES = (16, 64, 256, 1024, 4096)
IMPLS = ("sparse", "dense-all", "dense-equivalent")
SCALE_EXPERTS, SCALE_TOKENS, SCALE_FIXED_T = (4, 8, 16, 32, 64), (64, 256, 1024, 4096), 256
TIMING_REPEATS = 20  # timed calls per implementation (in 3 alternating rounds)
TIMING_BUDGET_S = 3.0  # seconds of timed calls per implementation, at most (then at least 3 calls)
AUTO_BUDGET_S = 0.3  # the same when the page times itself as it opens: a busy server then times fewer calls
# Section 2 times itself as the page opens when the batch is small enough: on the shared 2-core server the three
# implementations took 0.3-1.4 s for 256 tokens x 8 experts, 3.2 s for 1,024 x 8 and 8.6 s for 4,096 x 8 (dense-all,
# which runs every expert on every token, dominates: the time grows with tokens x experts, about 2,600 per second).
AUTO_WORK = 256 * 8  # tokens x experts timed at once; larger batches wait for the button
WORK_PER_S, MAX_TIMING_S = 2600, 15
SCALE_REPEATS = 6  # timed calls per point of the sweeps, one per round, every point in every round
DEVICES = available_devices()
COUNT_KNOBS = ("num_experts", "top_k")  # sections 1 and 3: what moves a count or a design
PAGE_SEED = 0  # the page's random weights (page_layer): the sidebar's seed does not act here
HARDWARE_WORDS = {"cpu": "CPU", "cuda": "GPU"}  # the Run on radio's words for torch's device names
GRANULARITY_TOKENS = 256  # tokens each of the four designs runs on
GRANULARITY_REPEATS = 9  # the four designs take turns 9 times (18 forwards each with the untimed ones): about
# 0.5-1 s together on the 2-core server, so shown at once
# Session state (never a model or a tensor): the sweep's record, and for sections 2 and 3 the take a "measure
# again" press asked for, per layer (a fresh key of the shared cache, so the press measures anew instead of
# reading what the page showed at once).
TIMING, SCALING, GRANULARITY = "compute_timing", "compute_scaling", "compute_granularity"
# Which sections the "Batch (tokens)" slider moves: only section 2's three bars (a reader took it for the sweep's).
BATCH_HELP = ("Tokens in the batch timed just below: it moves only these three bars and their ratios. The scaling "
              "sweep further down uses its own T values, and section 3 its own " + str(GRANULARITY_TOKENS) +
              " tokens.")
SWEEP_OWN_T = ("The sweep uses its own T values: the Batch (tokens) slider above moves only the three bars "
               "above")


@dataclass(frozen=True)
class Timed:
    """What section 2 measured, for the sections after it: where it ran, and the sparse layer's median time on
    how many tokens (None while a large batch waits for its button)."""
    device: str
    batch: int
    sparse_ms: float | None = None


@dataclass(frozen=True)
class Scaling:
    """Section 2's sweeps over N and over T, on one device."""
    device: str
    by_experts: list
    by_tokens: list


def page_layer(controls) -> MoEConfig:
    """The layer this page counts and times: the sidebar's N, k, router and capacity factor at d_model 256,
    d_hidden 512. Its random weights come from PAGE_SEED, not the sidebar's seed: the counts and times follow the
    shape alone, and the one number that reads the weights (section 3's shared ÷ output) would otherwise move
    under a knob the sidebar calls unused here."""
    return controls.moe_config(d_model=D_MODEL, d_hidden=D_HIDDEN).replace(seed=PAGE_SEED)


def page_line(cfg: MoEConfig) -> None:
    """The page's layer line, above its first section: every sidebar knob that acts on the page, and where."""
    app.layer_line(cfg, trained=False,
                   note="Section 1 counts it; sections 2 and 3 run it, with random weights drawn once (seed "
                        f"{PAGE_SEED}). d_model and d_hidden are this page's own")


def progress_reporter(total: int, label: str):
    bar = st.progress(0.0, text=label)
    done = [0]

    def report(step: str) -> None:
        bar.progress(min(1.0, done[0] / total), text=f"{label}: timing {step}")
        done[0] += 1
    return bar, report


def counts(cfg: MoEConfig) -> None:
    """Section 1: parameters and FLOPs of the page's layer, counted."""
    app.section("1 · Parameters and FLOPs, counted")
    # A count follows the layer's shape alone: the router (save Switch's k = 1, which the k slider shows) and the
    # capacity factor move the timings of section 2, not a count here. The page's line above names them all.
    st.caption("The counts below follow the layer's shape alone: of the sidebar's knobs only N and k move them "
               f"(the router and the {glossary_link('Capacity factor', 'capacity factor')} act on section 2's timings). "
               f"{glossary_link('FLOPs', 'FLOPs')}: floating-point operations, counted as 2 per multiply-add of a "
               "matrix product.")
    s = cost_summary(cfg)
    a, b, c = st.columns(3)
    a.metric("Total parameters", f"{s['total_params']:,}")
    b.metric("Active per token", f"{s['active_params']:,}", f"{s['active_share']:.1%} of total", delta_color="off",
             delta_arrow="off")  # a share, not a change: no arrow that reads as "up 25 %"
    c.metric("Rule of thumb k/N", f"{s['rule_of_thumb_share']:.1%}")
    st.markdown(
        f"Layer: d_model = {cfg.d_model}, each expert {cfg.d_hidden} wide, N = {cfg.num_experts}, k = {cfg.top_k}. "
        f"The rule of thumb says a token uses about k/N of the expert parameters: "
        f"{cfg.top_k}/{cfg.num_experts} = {s['rule_of_thumb_share']:.1%}. Counting experts only it is exact "
        f"({s['active_expert_share']:.1%}); over the whole layer the router ({cfg.d_model}·{cfg.num_experts} = "
        f"{cfg.d_model * cfg.num_experts:,} weights, used by every token) brings the whole layer's share to "
        f"{s['active_share']:.2%}.")
    left, right = st.columns(2)
    app.chart(where=left, fig=figs.params_bars(s), key="params")
    app.chart(where=right, fig=figs.flops_bars(s), key="flops")
    st.caption("FLOPs = 2 × multiply-adds of the matrix products. Dense-all runs every expert on every token and "
               "multiplies the unchosen experts' results by 0; the dense-equivalent FFN (feed-forward network) is one plain MLP "
               "k · d_hidden wide: the same active "
               "FLOPs with no routing at all.")


def whole_model() -> None:
    """Section 1's sequel: a whole model's active share, from the makers' figures."""
    app.subsection("A whole model is less sparse than one MoE layer", "whole_model")
    st.markdown(
        "k/N is the share of *one MoE layer's* expert weights a token uses. A whole model also has "
        f"{glossary_link('Attention', 'attention')}, embeddings (the table of token vectors), the output head "
        f"(vectors back to token scores) and {glossary_link('RMSNorm', 'norms')}, which every token runs through "
        "in full (DeepSeek-V3 adds "
        f"{glossary_link('Shared expert', 'shared experts')} and three dense first layers, with one plain MLP "
        "each). So the whole model's active share is larger than k/N:")
    table([{"model": m["model"], "k / N (one MoE layer)": f"{m['top_k']}/{m['num_experts']} = "
            f"{m['layer_share']:.1%}", "active / total (whole model)":
            f"{m['active_params'] / 1e9:.1f}B / {m['total_params'] / 1e9:.1f}B = {m['model_share']:.1%}"}
           for m in whole_model_shares()], key="whole_model", hide_index=True)
    # The sources in words, not a fourth column: at 1024 px that column ran past the table's edge.
    sources = " ".join(f"{m['model']}: {m['source']}" + (f"; {m['note']}." if m["note"] else ".")
                       for m in whole_model_shares())
    st.caption(f"As of 2025, from the makers' own figures. {sources} For Mixtral, counting its transformers config "
               "(d_model 4096, 32 layers, 8 experts of width 14336, grouped-query attention with 8 key/value "
               "heads, that is several query heads sharing each key and value head, a 32,000-token vocabulary) gives the same 46.7B and 12.9B.")


def measured_time(cfg: MoEConfig) -> Timed:
    """Section 2: sparse vs dense-all vs the dense-equivalent FFN, timed at once on a small batch and on click on a
    large one."""
    app.section("2 · Measured time")
    app.layer_line(cfg, trained=False, section=True, note="The same layer as section 1, run on one random batch")
    left, right = st.columns(2)
    batch = app.linked(left.select_slider, "Batch (tokens)", BATCHES, key="batch", default=256,
                       parse=app.parse_int_choice(BATCHES), help=BATCH_HELP)
    device = hardware_choice(right)
    work = batch * cfg.num_experts
    quick = work <= AUTO_WORK
    key = (cfg.replace(device=device), batch, IMPLS, TIMING_REPEATS, AUTO_BUDGET_S if quick else TIMING_BUDGET_S)
    takes = st.session_state.setdefault(TIMING, {})  # the key -> the take this session last asked for
    seconds = min(MAX_TIMING_S, max(3, round(work / WORK_PER_S)))
    label = "Measure again" if quick or key in takes else f"Measure sparse vs dense (about {seconds} s)"
    if st.button(label, key="measure", type="secondary" if quick else "primary"):
        takes[key] = new_take()
    if not quick and key not in takes:
        st.caption(f"Press the button to time the three on one random batch of {batch:,} tokens: a bar chart of "
                   "their median times and how many times slower dense-all and the sparse layer are. At "
                   f"{batch:,} tokens × {cfg.num_experts} experts it takes about {seconds} s here (smaller batches "
                   "are timed as the page opens).")
        return Timed(device, batch)
    with st.spinner(f"Timing sparse, dense-all and the dense-equivalent FFN on {batch:,} tokens…"):
        results = compute_timing(*key, take=takes.get(key, ""))
    app.chart(figs.timing_bars(results), key="timing")
    t = {name: r["median_ms"] for name, r in results.items()}
    st.markdown(f"**The k/N saving:** dense-all, which runs all {cfg.num_experts} experts on every token, takes "
                f"**{t['dense-all'] / t['sparse']:.1f}×** the sparse layer's time (counting FLOPs alone, "
                f"N/k = {cfg.num_experts / cfg.top_k:g}×). **The price of routing:** the sparse layer takes "
                f"**{t['sparse'] / t['dense-equivalent']:.1f}×** the time of the dense-equivalent FFN, which does the "
                "same arithmetic without the routing, sorting and gathering. That overhead weighs most on small "
                "batches: press *Measure scaling* below for two charts of how the three times grow with N and with "
                "the batch. The sidebar's router decides which experts each token picks, and its capacity factor sets "
                "the most token copies an expert may take (C) and drops the copies past C: so both change how many "
                "tokens each expert gets, and the sparse time. Dense-all and the dense-equivalent FFN do not route.")
    st.caption(spread_sentence(results, device) + " " + fastest_sentence(results) + " Measured on this server (all three checked first to give the "
               "same output); the cores are shared, so numbers move between runs: *Measure again* times them anew.")
    return Timed(device, batch, t["sparse"])


def spread_sentence(results: dict, device: str) -> str:
    """Under section 2's bars: the median is the number to read, over how many timed runs, and what the long
    whiskers are (a reader saw a 16.9 ms median under a 108 ms whisker while the text stated ratios as facts)."""
    runs = sorted({r["runs"] for r in results.values()})
    count = f"{runs[0]}" if len(runs) == 1 else f"{runs[0]} to {runs[-1]}"
    return (f"Read the medians: each is the middle value of {count} timed runs (of an even count, the mean of the "
            "two middle ones; up to 20 runs, fewer when the time allowed for them runs out), and the ratios above "
            "come from them. The "
            "thin line above a bar reaches the slowest runs (95th percentile); it is long when other users' work on "
            f"this shared {hardware_word(device)} slowed a few runs down.")


RATIOS_AGREE = 1.25  # the two views of a ratio (medians, fastest runs) within 25 %: read it as measured


def fastest_sentence(results: dict) -> str:
    """The section's two ratios again from each one's fastest run: a second view of the same measurement, so a
    reader sees how firm they are (a reader took "3.7× the dense-equivalent" from one take as a fact, while
    section 3 timed the same layer 2× apart)."""
    best = {name: r["min_ms"] for name, r in results.items()}
    median = {name: r["median_ms"] for name, r in results.items()}
    views = [(median["dense-all"] / median["sparse"], best["dense-all"] / best["sparse"]),
             (median["sparse"] / median["dense-equivalent"], best["sparse"] / best["dense-equivalent"])]
    said = (f"By each one's fastest run instead, dense-all takes {views[0][1]:.1f}× the sparse layer's time and the "
            f"sparse layer {views[1][1]:.1f}× the dense-equivalent's.")
    within = f"{RATIOS_AGREE - 1:.0%}".replace("%", " %")
    if all(max(a, b) / min(a, b) <= RATIOS_AGREE for a, b in views):
        return said + f" Each ratio's two views are within {within} of each other, so the ratios above hold for this " \
                      "take."
    return (said + f" A ratio's two views differ by more than {within}: the ratios moved while this take ran, so "
            "read them as rough, and *Measure again* to see them move.")


def hardware_choice(column) -> str:
    """The "Run on" radio (URL key `device`, torch's names), shown only when there is a choice: a radio with one
    option asked a question the learner cannot answer. Alone, a caption says where the timings run."""
    if len(DEVICES) > 1:
        return app.linked(column.radio, "Run on", DEVICES, key="device", default="cpu",
                          parse=app.parse_choice(DEVICES), horizontal=True, format_func=hardware_word)
    device = app.url_value("device", DEVICES[0], app.parse_choice(DEVICES))  # a link naming cuda here warns
    app.set_url_value("device", device)
    column.caption(f"Runs on this server's {hardware_word(device)} (no GPU here)")
    return device


def hardware_word(device: str) -> str:
    """A torch device name as the reader's word ("cuda" -> "GPU"): the systems pages call the accelerator a GPU,
    never a "device"."""
    return HARDWARE_WORDS.get(device, device)


def new_take() -> str:
    """A key no session has used: a "Measure again" press measures instead of reading the shared cache."""
    return uuid.uuid4().hex


def scaling_sweeps(cfg: MoEConfig, device: str) -> None:
    """Section 2's sweeps: time against N at a fixed T, and against T at the page's N."""
    app.subsection("How time scales with N (experts) and with T (tokens in the batch)", "scaling")
    base = cfg.replace(top_k=min(cfg.top_k, min(SCALE_EXPERTS)))
    app.layer_line(base, trained=False, section=True, note=f"The sweep varies N over {', '.join(map(str, SCALE_EXPERTS))} "
                                             f"(at T = {SCALE_FIXED_T}) and T over "
                                             f"{', '.join(map(str, SCALE_TOKENS))} (at this N). {SWEEP_OWN_T}")
    # Say what it takes: this sweep took 11-13 s on the shared 2-core server, too long to run as the page opens.
    if st.button("Measure scaling (takes about 15 s)", key="measure_scaling"):
        total = (len(SCALE_EXPERTS) + len(SCALE_TOKENS)) * len(IMPLS) * SCALE_REPEATS  # one report per call, round
        bar, report = progress_reporter(total, "scaling")
        on_device = base.replace(device=device)
        st.session_state[SCALING] = Scaling(
            device, scaling(on_device, SCALE_FIXED_T, "num_experts", SCALE_EXPERTS, SCALE_REPEATS, IMPLS, 1.0, report),
            scaling(on_device, 0, "tokens", SCALE_TOKENS, SCALE_REPEATS, IMPLS, 1.0, report))
        bar.empty()
    sweep = st.session_state.get(SCALING)
    if isinstance(sweep, Scaling):
        left, right, on = *st.columns(2), hardware_word(sweep.device)
        app.chart(where=left, fig=figs.scaling_lines(sweep.by_experts, "num_experts",
                                                     title=f"More experts, T = {SCALE_FIXED_T} ({on})"),
                  key="scale_n")
        app.chart(where=right, fig=figs.scaling_lines(sweep.by_tokens, "tokens", title=f"More tokens ({on})"),
                  key="scale_t")
        st.caption("Sparse time grows slowly with N (the same k experts per token), dense-all grows with N; with T "
                   "all grow, and the gap opens as the batch gets large enough for arithmetic to dominate.")
    else:
        st.caption(f"Press the button to draw two charts of median time for sparse, dense-all and the "
                   f"dense-equivalent FFN: against N ({SCALE_EXPERTS[0]} to {SCALE_EXPERTS[-1]} experts, T = "
                   f"{SCALE_FIXED_T}) and against T ({SCALE_TOKENS[0]:,} to {SCALE_TOKENS[-1]:,} tokens, this N). "
                   f"{SCALE_REPEATS} timed calls per point take about 15 s here.")


# Section 3's two tables, each led by the columns its text quotes, so that at 1024 px they show without scrolling
# sideways: what each design holds (parameters, expert sets), and what one token costs (FLOPs, time).
def _holds_row(d: dict) -> dict:
    shared = d["cfg"].shared_expert
    return {"design": d["label"], "parameters (layer's tensors)": f"{d['layer_params']:,}",
            "expert sets a token can get": f"{d['expert_combinations']:,}",
            "experts": f"{'1 shared + ' if shared else ''}{d['cfg'].num_experts} × {d['cfg'].d_hidden} wide",
            "top-k": d["cfg"].top_k}


def _costs_row(d: dict) -> dict:
    return {"design": d["label"], "active FLOPs / token": f"{d['active_flops_per_token']:,}",
            "expert FLOPs / token (run)": f"{d['expert_flops_per_token']:,.0f}",
            "shared ÷ output norm": f"{d['shared_share']:.2f}" if d["cfg"].shared_expert else "–",
            "median forward (ms)": f"{d['median_ms']:.2f}"}


# Short headers, the meaning in each header's tooltip: a narrower table shows more of itself before a small
# screen has to scroll it sideways. Every count is in FLOPs (2 per multiply-add), as in section 1.
DESIGN_COLUMNS = {
    "parameters (layer's tensors)": st.column_config.TextColumn(
        "parameters", help="Every weight the layer's tensors hold (router, experts, shared expert)"),
    "expert sets a token can get": st.column_config.TextColumn(
        "expert sets", help="How many different sets of k experts a token can get: N choose k, "
                            "N! / (k! (N − k)!)"),
    "active FLOPs / token": st.column_config.TextColumn(
        "FLOPs / token", help="Counted: 2 × the multiply-adds of the router, the k routed experts and the shared "
                              "expert, for one token"),
    "expert FLOPs / token (run)": st.column_config.TextColumn(
        "expert FLOPs", help="From the real layer's run: 2 × the multiply-adds its experts computed (the "
                                   "rows each expert ran × its weights), per token; the router left out"),
    "shared ÷ output norm": st.column_config.TextColumn(
        "shared ÷ output", help="Length of the shared expert's output ÷ length of the layer's output, averaged "
                                "over tokens"),
    "median forward (ms)": st.column_config.TextColumn(
        "time (ms)", help=f"Median time of one forward of the layer on {GRANULARITY_TOKENS} tokens, measured on "
                             "this server's CPU"),
}


def fine_vs_coarse_sentence(coarse_ms: list[float] | None, fine_ms: list[float] | None) -> str:
    """What the measured times say about equal FLOPs in narrower experts, from the turns the two took side by side
    (one timed forward each per turn): a difference is claimed only when nearly every turn agrees, since the
    shared cores' noise is as large as the gap."""
    if not coarse_ms or not fine_ms:
        return ""
    turns = len(coarse_ms)
    slower = sum(f > c for c, f in zip(coarse_ms, fine_ms))
    ratio = statistics.median(fine_ms) / statistics.median(coarse_ms)
    clear = turns - 1  # the bar for "clear": one layer slower (or faster) in all turns but at most one
    if slower >= clear:
        return (f"Equal FLOPs need not mean equal time: the fine layer was slower in {slower} of {turns} turns "
                f"(median {ratio:.1f}× the coarse one's time), since four times as many, narrower experts mean "
                "more, smaller matrix products and more routing work.")
    if slower <= turns - clear:
        return (f"This time the fine layer was faster in {turns - slower} of {turns} turns (median {ratio:.1f}× "
                "the coarse one's time), though four times as many, narrower experts mean more, smaller matrix "
                "products and more routing work: other users share these cores; time them again to see.")
    return (f"The medians say the fine layer took {ratio:.1f}× the coarse one's time, but it was slower in only "
            f"{slower} of {turns} turns. This page calls a difference clear when one layer is slower in at least "
            f"{clear} of the {turns} turns: short of that, the turns disagree too often to trust that median, since "
            "other users' work on these shared cores lands on any turn. So this is no clear difference; time them "
            "again to see.")


def shared_time_words(coarse: dict, shared: dict) -> str:
    """The shared expert's FLOPs against its measured time (a reader saw +50 % FLOPs cost +1 % time, unexplained)."""
    if coarse["median_ms"] is None or shared["median_ms"] is None:
        return ""
    flops = shared["active_flops_per_token"] / coarse["active_flops_per_token"] - 1
    time = shared["median_ms"] / coarse["median_ms"] - 1
    measured = f"In time it cost {time:+.0%} here against {flops:+.0%} in FLOPs"
    if time > flops / 2:
        return measured + ", much as its arithmetic says."
    return (measured + ": time need not follow FLOPs, since the shared expert is one plain matrix product over "
            "every token, with none of the routing, sorting and gathering the routed experts need.")


def same_layer_sentence(timed: Timed | None, first: MoEConfig, page_layer: MoEConfig, first_ms: float) -> str:
    """Section 3's first design is section 2's sparse layer when the sidebar's router and capacity are the ones
    section 3 uses: say so, with both times, and why they differ (a reader saw 2x between the two sections)."""
    if timed is None or timed.sparse_ms is None or first != page_layer or timed.batch != GRANULARITY_TOKENS:
        return ""
    return (f"The first design is section 2's sparse layer on as many tokens ({GRANULARITY_TOKENS}): "
            f"{timed.sparse_ms:.2f} ms there, {first_ms:.2f} ms here. The two sections time it apart, on other "
            "random tokens, with other work on these shared cores in between, so their times differ; compare times "
            "within one table or chart, which were taken in turns.")


def granularity(cfg: MoEConfig, timed: Timed | None = None) -> None:
    """Section 3: DeepSeekMoE's fine-grained and shared experts, four real layers built from the page's.
    `timed`: section 2's measurement, quoted when its sparse layer is this section's first design."""
    app.section("3 · Fine-grained and shared experts (DeepSeekMoE)")
    app.layer_line(cfg.replace(router="softmax_topk", capacity_factor=None), trained=False, section=True,
                   knobs=COUNT_KNOBS, note="The first design below is this layer; the other three are built from "
                                           "it with m = 4 (each expert split into 4 narrower ones). All four route by softmax top-k with no capacity limit, "
                                           "whatever the sidebar's router and capacity factor")
    st.markdown(
        "DeepSeekMoE (Dai et al. 2024) changes two things and keeps a token's compute. **Fine-grained segmentation**: "
        "split each expert into m narrower ones and route to m times as many, so a token mixes many more "
        "combinations of specialists. **Shared expert isolation**: some experts run for every token, to hold what "
        "all tokens need, and fewer routed ones are chosen so the active compute stays the same. DeepSeek-V3 (as "
        "of its released config, read with Hugging Face's transformers library 5.24) has 1 shared and 256 routed experts per MoE layer, top-8, "
        f"each 2048 wide. Below, this page's layer and three relatives, each built as a real MoE layer with random "
        f"weights and run on {GRANULARITY_TOKENS} seeded tokens: *coarse + shared* only adds a shared expert, to "
        "show what one costs, and *fine + shared* is DeepSeekMoE's form, at the coarse layer's compute. *Expert "
        "sets*: how many different sets of k experts a token can get, “N choose k” = N! / (k! (N − k)!).")
    take = st.session_state.get(GRANULARITY, {}).get(cfg, "")  # "" until this session asks to measure again
    designs = granularity_run(cfg, GRANULARITY_TOKENS, GRANULARITY_REPEATS, take)
    table([_holds_row(d) for d in designs], key="design_holds", hide_index=True, column_config=DESIGN_COLUMNS)
    table([_costs_row(d) for d in designs], key="design_costs", hide_index=True, column_config=DESIGN_COLUMNS)
    coarse, shared, fine, deepseek = designs
    extra = shared["active_flops_per_token"] - coarse["active_flops_per_token"]
    st.markdown(
        f"A shared expert as wide as a routed one adds {extra:,} FLOPs per token, one more expert's worth: that is "
        f"its cost in arithmetic. {shared_time_words(coarse, shared)} Fine-grained segmentation keeps the parameters (only the router grows, {cfg.d_model} weights "
        f"per expert) and the expert FLOPs, but a token can get {fine['expert_combinations']:,} different expert "
        f"sets instead of {coarse['expert_combinations']:,}. DeepSeekMoE's form routes one fewer fine expert and "
        f"runs a shared one of the same width, so the experts' FLOPs per token stay "
        f"{deepseek['expert_flops_per_token']:,.0f}, counted from the rows each expert of the real layer computed "
        "(2 FLOPs per multiply-add, as everywhere on this page). "
        "*Shared ÷ output* is the length of the shared expert's output (the vector's length: the square root of "
        "the sum of its squared entries) divided by the length of the layer's output, averaged over tokens (1: the "
        f"shared expert's output alone is as long as the whole output): here {shared['shared_share']:.2f} and "
        f"{deepseek['shared_share']:.2f}, so the shared expert's output alone is nearly as long as the whole output, as with "
        "random weights the shared expert's output counts in full while the routed ones are scaled by their "
        f"{glossary_link('Combine weight', 'combine weights')} (Qwen2-MoE "
        "scales its shared expert by a learned sigmoid gate instead).")
    st.caption(f"*time*: one forward of each layer on {GRANULARITY_TOKENS} tokens, the median of "
               f"{GRANULARITY_REPEATS}, the four layers timed in turns after one untimed run each, on this server's "
               f"CPU; the cores are shared, so it moves between runs. "
               f"{fine_vs_coarse_sentence(coarse['samples_ms'], fine['samples_ms'])} "
               f"{same_layer_sentence(timed, coarse['cfg'], cfg, coarse['median_ms'])}")
    if st.button("Time the four designs again", key="measure_granularity"):
        st.session_state.setdefault(GRANULARITY, {})[cfg] = new_take()
        st.rerun()
