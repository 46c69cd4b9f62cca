"""/parallel's sections: capacity, expert parallelism on worker processes, the model at scale, dropless vs
capacity, routing at inference, communication-aware routing. One function per section (pages/3_parallel.py
lists them); each says which layer it uses with app.layer_line.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

import moeviz.app as app
from moeviz.app.runners import (capacity_config, capacity_run, device_limit_run, dropless_run, inference_run,
                                skew_preview)
from moeviz.app.tables import table
from moeviz.capacity_words import CAPACITY_FORMULA, capacity_symbols, capacity_worked
from moeviz.config import DEFAULT_SWITCH_CAPACITY, DROP_POLICIES, RENAMED_DROP_POLICIES, MoEConfig
from moeviz.glossary import PAPERS, glossary_link
from moeviz.figures import parallel as figs
from moeviz.parallel import WorkerError, current_pool
from moeviz.parallel.demo import (DEFAULT_SKEW, DEFAULT_WORKERS, EP_D_HIDDEN, EP_D_MODEL, EP_REPEATS, EP_SEED,
                                  EP_TOKENS, demo_config, imbalance_demo, limit_config, slower_rounds,
                                  slowdown_shown)
from moeviz.parallel.reading import worker_summary
from moeviz.parallel.workload import PUSH
from moeviz.routers import router_spec
from moeviz.inference import D_HIDDEN as INFERENCE_D_HIDDEN, D_MODEL as INFERENCE_D_MODEL, SETTINGS, token_table
from moeviz.parallel.capacity import dropped_tokens, expert_buffers
from moeviz.parallel.model import FORMULA_LATEX, HARDWARE, MODEL_SHAPES, model_curve, model_devices, when_comm_wins
from moeviz.parallel.placement import default_span, limit_can_act, limit_options
from moeviz.text import ROUNDING_NOTE, difference, plural

TOKEN_COUNTS = (8, 16, 24, 32, 48, 64)
WORKER_COUNTS = (2, 4)
SKEWS = (0.25, 0.5, 0.75, 0.9, 1.0)
WORKER_RUN = "parallel_result"  # session state: a WorkerRun
# Section 2's imbalance_demo at the page default (skew 0.9, W = 2 or 4), timed on the shared 2-core server:
# a run took 4-6 s at 5 rounds and starting the worker pool 5-10 s more, too long to run before the learner asks.
# 7 rounds since (demo.EP_REPEATS), so 8 s: scaled from the 5-round timing.
EP_RUN_S, POOL_START_S = 8, 10
EP_KNOBS = ("num_experts", "top_k", "router", "capacity_factor")  # section 2: its seed is fixed (EP_SEED)
ROW_MEANING = "A **row** is one token copy an expert computes (one row of its input matrix)."  # first used in §4
# Section 4 has its own capacity slider: it always compares with a limit, also when the sidebar's is off.
OWN_FACTOR = ("This section has its own capacity factor (the slider below), so that it can compare with a limit "
              "even while the sidebar's is off: the sidebar's capacity factor does not act here.")
COMPARE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # section 4: the limit the dropless run is compared with
SPAN_DEVICES, SPAN_TOKENS = (2, 4, 8, 16), 256  # section 6: expert-parallel devices, tokens routed
SHAPE_IDS = dict(zip(("mixtral", "deepseek-v3", "this-app"), MODEL_SHAPES))  # short names for the link
DEFAULT_SHAPE = "deepseek-v3"  # its experts spread past one node, where the text's claim happens
# The policies' names on every page that names one (/parallel's radio, /replicas' what-if). Two rules order by
# "position", so neither label says it alone: moeviz's (GShard, Switch) puts every first choice before any second
# choice, Megatron-Core's "position" (as of 2026; /replicas' drops) queues in token order alone (TOKEN_ORDER_RULE).
# Megatron-Core's other, "probs", its default, is "by combine weight". The keys are URL values: they stay.
POLICY_LABELS = {"position": "first choices first (GShard, Switch)", "priority": "by token priority (V-MoE)",
                 "weight": "by combine weight (Megatron-Core's default)"}
TOKEN_ORDER_RULE = "token order (Megatron-Core's “position”)"
POLICY_RULES = {
    "position": "every first choice queues before any second choice, and within a choice earlier tokens go first "
                "(Megatron-Core's “position” drop policy is another rule: it does not put first choices first, it "
                "queues every copy in token order alone, so an early token's second choice can take the slot a "
                "later token's first choice wanted; the Expert replicas page drops that way). A link names this "
                "rule drop_policy=position, moeviz's name for it since its first version (each copy queues by its "
                "position: its choice, then its token), kept so that saved links and lessons still open",
    "priority": "every first choice queues before any second choice, and within a choice the tokens whose largest "
                "router probability is higher go first (batch prioritized routing, Riquelme et al. 2021)",
    "weight": "each copy queues by its own combine weight, whatever its choice (" + glossary_link(PAPERS, "Megatron-Core")
              + "'s “probs” drop "
              "policy, its default). With k ≥ 2 and renormalised weights a copy with router probability 0.40 can lose to one "
              "with 0.30: the weight is the probability divided by the sum over the token's k choices",
}
# One short line per policy under section 1's radio, in the order of DROP_POLICIES; the rule in full is in the
# text under the chart (POLICY_RULES).
POLICY_CAPTIONS = {
    "position": "Every token's first choice gets a slot before any second choice; then earlier tokens first.",
    "priority": "First choices first too, but the tokens the router is surest of (the largest top probability) "
                "go first.",
    "weight": f"Each copy by its own {glossary_link('Combine weight', 'combine weight')} (how much its expert's "
              "output counts for the token), highest first.",
}
RESIDUAL = f"**{glossary_link('Residual path', 'residual path')}**"
SHARED = glossary_link("Shared expert", "shared expert")
FULL_MEANS = (f"Full: all C slots taken (C comes from the {glossary_link('Capacity factor', 'capacity factor')}); "
              f"a copy that finds no slot is a {glossary_link('Dropped slot', 'dropped copy')}.")
# One word for the unit of expert parallelism, on every section: GPU. Section 2's GPUs are worker processes.
GPU_STAND_IN = ("**Here each GPU is played by a real worker process** on this server's CPU: the processes exchange "
                "tokens through PyTorch's torch.distributed, as the GPUs of a real job do, so the times below are "
                "measured, on a smaller scale. The demo starts its own worker processes, one per simulated GPU, "
                "apart from the page itself: the sidebar's “Running on …” line is where the page's other layers "
                "run (one thread here), not these processes.")
BACKEND_HELP = ("Each GPU is a worker process here; they exchange tokens with `all_to_all` over `torch.distributed` "
                "and its CPU backend, gloo (a real GPU job uses NCCL).")
# Mesh TensorFlow's MoE layers (moe.py: capacity_factor_train=1.25, capacity_factor_eval=2.0) are the code Switch
# was written in; the Switch paper gives no train/eval split, ST-MoE (arXiv 2202.08906) states the same pair.
SWITCH_CAPACITY_NOTE = (f"{glossary_link(PAPERS, 'Mesh TensorFlow')}, the library Switch was written in, defaults to capacity factor 1.25 in "
                        "training and 2.0 in evaluation (ST-MoE states the same pair); the table shows Switch "
                        "both ways, while the sidebar's Switch router (on the other pages and the Router variants page) keeps "
                        "1.25 at inference too")


# Section 1's title and intro say what it shows: the sidebar's capacity factor is off by default (dropless, as
# Mixtral and DeepSeek-V3 run), and then no expert has a limit to fill; with a factor, slots fill and overflow.
CAPACITY_HEADERS = {False: "1 · With capacity off, every expert takes every token sent to it",
                    True: "1 · With a capacity limit, each expert has a fixed number of slots"}
_DESIGNS = ("Each token sends k **copies** of itself, one to each of its k chosen experts. There are two designs. "
            "**Dropless** MoE (Hugging Face transformers' Mixtral and OLMoE, DeepSeek-V3, "
            f"{glossary_link(PAPERS, 'MegaBlocks')}): every chosen expert runs on all the copies sent to it, nothing "
            "is dropped, and imbalance costs uneven work. **Capacity** "
            f"({glossary_link(PAPERS, 'Switch, GShard, V-MoE')}: Google's MoE models of 2020 and 2021): a fixed "
            "number of slots per expert, and the copies that do not fit are dropped. ")
CAPACITY_INTROS = {
    False: _DESIGNS + "With the sidebar's capacity factor **off** (its default) this section shows the dropless "
                      "case: each expert's column is as tall as the copies sent to it, and nothing is dropped.",
    True: _DESIGNS + "The sidebar's capacity factor sets C, the slots per expert (Switch keeps its own factor "
                     "when the sidebar says off); turn it off to see the dropless case.",
}


@dataclass(frozen=True)
class Batch:
    """Section 1's batch: sections 4 and 5 route the same tokens through the same small layer."""
    policy: str
    tokens: int
    cfg: MoEConfig  # the small layer (d_model 32) with the sidebar's N, k, router, capacity and seed


@dataclass(frozen=True)
class WorkerRun:
    """Section 2's last run, kept for this session: which layer, how many workers and what skew it ran."""
    cfg: MoEConfig
    workers: int
    skew: float
    runs: dict  # imbalance_demo's {"balanced", "skewed", "skewed_capacity"}


def short_name(description: str) -> str:
    """The name before its details ("H100 nodes", "Mixtral-8x7B-like"): the whole text, in a half-width box, was
    cut off; the box shows this and the caption under it the whole text."""
    return description.split(" (")[0].split(":")[0]


def capacity(controls) -> Batch:
    """Section 1: each expert's slots under the sidebar's capacity factor, and who loses under each policy."""
    limited = capacity_config(controls).effective_capacity_factor is not None  # Switch and expert choice: always
    app.section(CAPACITY_HEADERS[limited])
    st.caption(CAPACITY_INTROS[limited])
    left, right = st.columns(2)
    idle = policy_idle_reason(capacity_config(controls))
    policy = app.linked(left.radio, "When an expert is full, who loses?", DROP_POLICIES, key="drop_policy",
                        default="position", parse=app.parse_choice(DROP_POLICIES, RENAMED_DROP_POLICIES),
                        format_func=POLICY_LABELS.get, captions=[POLICY_CAPTIONS[p] for p in DROP_POLICIES],
                        disabled=idle is not None)
    left.caption(FULL_MEANS)
    if idle:
        left.caption(f":material/block: {idle}")
    tokens = app.linked(right.select_slider, "Tokens in the batch", TOKEN_COUNTS, key="tokens", default=32,
                        parse=app.parse_int_choice(TOKEN_COUNTS))
    batch = Batch(policy, tokens, capacity_config(controls, policy))
    app.layer_line(batch.cfg, trained=False, note=layer_note(tokens))
    demo = capacity_run(controls, policy, tokens)
    trace = demo.trace
    if router_spec(batch.cfg.router).experts_choose:
        st.info("Expert choice never overflows: each expert picks exactly C tokens. Its failure mode is a token "
                "that no expert picked — see the walkthrough and the variants page.")
        return batch
    if trace.capacity is None:
        st.info("Capacity is **off** in the sidebar, so every expert takes every token sent to it. Turn it on "
                "(try 1 or 0.75) and the same tokens get C slots per expert: the busiest columns are cut at C, the "
                "copies past it are dropped, and the policy above decides which. Section 4 shows this batch "
                "under a limit too.")
    buffers = expert_buffers(demo, policy)
    if trace.capacity is None:  # no slots to fill: each square is a copy the expert computes
        app.chart(figs.capacity_buffers(buffers, None, title="Token copies per expert: one square per copy, no "
                                                             "limit"), key="buffers")
    else:
        app.chart(figs.capacity_buffers(buffers, trace.capacity), key="buffers")
    a, b, c = st.columns(3)
    a.metric("Slots per expert (C)", "no limit" if trace.capacity is None else trace.capacity)
    b.metric("Dropped copies", f"{trace.metrics['dropped_fraction']:.0%}")
    c.metric("Tokens that lost every expert", len(dropped_tokens(trace)))
    st.markdown(f"{_capacity_formula(controls, batch, trace)}"
                f"Copies queue for slots under “{POLICY_LABELS[policy]}”: "
                f"{POLICY_RULES[policy]}. Hover over (or tap) a square for its router probability and combine weight. A dropped "
                "copy simply contributes nothing. A token that lost **all** its routed copies gets nothing from "
                f"the routed experts: the block passes on the {RESIDUAL} (the shortcut that adds the block's input "
                f"to its output), plus the {SHARED}'s output in a layer that has one (an expert every token always "
                "uses), so without a shared expert the token leaves the layer exactly as it came in.")
    return batch


def layer_note(tokens: int) -> str:
    """The end of section 1's layer line: its tokens, and which sections reuse this layer (4 as it is; 5 and 6 with
    routers of their own). The line itself says what d_hidden is."""
    return (f"{tokens} seeded random tokens. Sections 4, 5 and 6 use this layer too (5 and 6 with routers of "
            "their own)")


def policy_idle_reason(cfg: MoEConfig) -> str | None:
    """Why section 1's drop-policy radio cannot change this section (None when it can): with no limit or with
    expert choice no copy is ever dropped, so there is nothing for a policy to order."""
    if router_spec(cfg.router).experts_choose:
        return "Expert choice never overflows: each expert picks exactly C tokens, so no policy applies."
    if cfg.effective_capacity_factor is None:
        return ("No limit, so nothing is dropped — set a capacity factor in the sidebar to compare policies "
                "(section 4's limited run drops by the one shown).")
    return None


def _capacity_formula(controls, batch: Batch, trace) -> str:
    cf = batch.cfg.effective_capacity_factor  # Switch has one even when the sidebar says off
    symbols = capacity_symbols(f"{batch.tokens} tokens in the batch", trace.top_k, batch.cfg.num_experts)
    if cf is None:
        return f"{CAPACITY_FORMULA} {symbols}; with the capacity factor off there is no limit. "
    formula = f"{capacity_worked(cf, batch.tokens, trace.top_k, batch.cfg.num_experts, trace.capacity)} {symbols}"
    if controls.capacity_factor is None:  # the router's own factor applies
        return f"{formula} (the sidebar says off, so Switch's training factor {cf:g} applies; {SWITCH_CAPACITY_NOTE}). "
    return f"{formula}. "


def _worker_count(cfg: MoEConfig):
    """The W radio (URL key `workers`): 2 or 4 workers, never more than N (each worker holds whole experts)."""
    options = [w for w in WORKER_COUNTS if w <= cfg.num_experts]
    asked = app.url_value("workers", min(DEFAULT_WORKERS, options[-1]), app.parse_int_choice(WORKER_COUNTS))
    if asked not in options:
        st.warning(f"W = {asked} GPUs would be more than the N = {cfg.num_experts} experts (each GPU holds "
                   f"whole experts); using W = {options[-1]}. Raise N in the sidebar for more GPUs.")
        asked = options[-1]
    return options, asked


def expert_parallel(controls) -> None:
    """Section 2: one batch on W worker processes, balanced and skewed with no drops, then skewed under capacity."""
    app.section("2 · Experts on separate GPUs")
    # A fixed seed: the step times are set by the sizes and the skew, and a new seed would only redraw the
    # weights and tokens and discard the kept run, so the sidebar's seed does not act here (the line says so).
    ep_cfg, note = demo_config(controls.moe_config(d_model=EP_D_MODEL, d_hidden=EP_D_HIDDEN,
                                                   device="cpu").replace(seed=EP_SEED))
    st.markdown(
        "Expert parallelism: each of W GPUs holds N/W experts and a share of the tokens. Every GPU "
        "routes its own tokens, sends each token copy to the GPU that owns its expert (an **all-to-all** "
        "exchange: every GPU sends a part of its data to every other), runs its experts, and sends the results "
        "back (all-to-all again). A step ends when the **slowest** GPU ends. The same tokens run three ways: "
        "**balanced** and **skewed** (a share of the tokens pushed toward GPU 0's experts) with no copy "
        "dropped, so the skewed step waits for GPU 0's extra work; then the skewed tokens **under a capacity "
        f"limit**, {limit_words(ep_cfg)}. Each GPU's tokens are one **capacity group** (as in GShard): the set of "
        f"tokens whose copies share one set of C slots per expert. The limit gives each expert {CAPACITY_FORMULA} "
        f"slots, with T = that GPU's own tokens (the step's {EP_TOKENS:,} ÷ W), not the "
        "whole step's, and drops the overflowing copies *before* sending, so GPU 0's work is capped and the price "
        "is paid in dropped copies instead of time.")
    st.markdown(GPU_STAND_IN)
    left, right = st.columns(2)
    options, asked = _worker_count(ep_cfg)
    workers = left.radio("GPUs (W)", options, horizontal=True, key="workers", index=options.index(asked),
                         help=BACKEND_HELP)
    app.set_url_value("workers", workers)
    skew = app.linked(right.select_slider, "Skew: share of tokens pushed toward GPU 0's experts", SKEWS,
                      key="skew", default=DEFAULT_SKEW, parse=app.parse_float_choice(SKEWS))
    right.caption(skew_words(skew) + " The balanced run uses skew 0.")
    st.markdown(preview_words(skew_preview(ep_cfg, EP_TOKENS, skew, workers),
                              skew_preview(ep_cfg, EP_TOKENS, 0.0, workers), skew, ep_cfg.top_k))
    app.layer_line(ep_cfg, trained=False, section=True, knobs=EP_KNOBS,
                   note=f"Larger than section 1's layer, so that each GPU's expert maths takes long enough to measure "
                        f"above the timer's noise; {EP_TOKENS} tokens per step split over the W GPUs; seed fixed at "
                        f"{EP_SEED}")
    if note:
        st.caption(f"For this demo {note}")
    if st.button("Run on worker processes", key="run_parallel", type="primary"):
        _run_workers(ep_cfg, workers, skew)
    kept = st.session_state.get(WORKER_RUN)
    if isinstance(kept, WorkerRun) and (kept.cfg, kept.workers) == (ep_cfg, workers):
        _show_worker_run(kept)
    else:
        st.caption(_worker_button_caption(workers))


def limit_words(cfg: MoEConfig) -> str:
    """Which capacity factor section 2's third step runs (demo.limit_config): the sidebar's (or Switch's own),
    or DEFAULT_LIMIT when the sidebar's is off, said as a number."""
    cf = limit_config(cfg).effective_capacity_factor
    if cfg.effective_capacity_factor is None:
        return (f"with capacity factor cf = {cf:g} (the sidebar's is off, so this step uses {cf:g}: room for "
                "exactly the even share; set one in the sidebar and this step uses yours. The first two steps never "
                "drop, whatever the sidebar says)")
    return (f"with capacity factor cf = {cf:g} (the sidebar's, or the router's own, as Switch has; the first two "
            "steps never drop, whatever the sidebar says)")


def skew_words(skew: float, tokens: int = EP_TOKENS, batch: str = "step") -> str:
    """What a skew slider's value means, exactly as moeviz.parallel.workload.skewed_tokens does it (this page's
    section 2 and /replicas' run both draw their tokens with it)."""
    pushed = round(skew * tokens)
    return (f"Skew {skew:g}: {pushed:,} of the {batch}'s {tokens:,} tokens ({skew:.0%}), picked at random, are "
            "made to resemble what two of GPU 0's experts respond to most: each such token gets a second vector "
            f"added to it, {PUSH:g} times as long as the token itself and pointing where those two experts' router "
            "weights point, so "
            "the router scores them highest and sends most of these tokens to GPU 0. The other tokens stay plain "
            "random ones.")


def preview_words(skewed: list[int], balanced: list[int], skew: float, top_k: int) -> str:
    """Section 2's load before anything runs: the copies per GPU at the chosen skew and at skew 0, routed here
    (runners.skew_preview), so the skew is a number of copies a learner can picture, not only a nudge."""
    total, workers = sum(skewed), len(skewed)
    busiest = max(range(workers), key=lambda g: skewed[g])
    which = "GPU 0" if busiest == 0 else f"GPU {busiest} (not GPU 0: many tokens' second choice lies there)"
    return (f"**What the skew does to the load**, routed here before any timing: the step's {total:,} token copies "
            f"({EP_TOKENS:,} tokens × k = {top_k}) reach GPUs 0…{workers - 1} as {_counts(skewed)} at skew {skew:g}, "
            f"against {_counts(balanced)} at skew 0; an even share is {total / workers:,.0f} each. With no copy "
            f"dropped the busiest, {which}, has {skewed[busiest] / max(balanced[busiest], 1):.1f}× the expert work "
            "it has in the balanced step, and the other GPUs wait for it.")


def _counts(copies: list[int]) -> str:
    return ", ".join(f"{c:,}" for c in copies)


def _worker_button_caption(workers: int) -> str:
    """What the button will show and how long it takes: too long (seconds) to run before the learner asks."""
    pool = current_pool()
    start = ("" if pool and pool.world_size == workers else
             f"; the first run also starts the {workers} worker processes, about {POOL_START_S} s more")
    return (f"Press the button to run the batch on real worker processes, one per GPU. It shows the three cases' "
            "step times (balanced, skewed, skewed under capacity), how many copies each GPU received, and a "
            f"timeline of where each GPU's time went. Each case runs {EP_REPEATS} times, the three taking turns, so "
            f"{3 * EP_REPEATS} steps of {EP_TOKENS:,} tokens in all; the time shown for a case is the median of its "
            f"{EP_REPEATS}, and each case's output is checked against the single-process layer. It takes about "
            f"{EP_RUN_S} s here{start}.")


def slowdown_sentence(runs: dict, busiest: int, busiest_over_mean: float, workers: int) -> str:
    """The no-drop comparison in words, claiming the lesson only when the measured rounds show it."""
    bal, sk = runs["balanced"], runs["skewed"]
    rounds, slower = len(sk["round_ms"]), slower_rounds(runs)
    medians = f"medians of {rounds} interleaved rounds, {sk['step_ms']:.0f} vs {bal['step_ms']:.0f} ms"
    if slowdown_shown(runs):
        return (f"**With no drops the skewed step took {sk['step_ms'] / bal['step_ms']:.1f}× the balanced one** "
                f"({medians}; slower in {slower} of the {rounds} rounds): GPU {busiest} received "
                f"{busiest_over_mean:.1f}× the mean copies and everyone "
                "waited for it.")
    return (f"**This run was too noisy to show the slowdown**: the skewed step was slower in only {slower} of the "
            f"{rounds} rounds ({medians}), though GPU {busiest} received {busiest_over_mean:.1f}× the mean "
            f"copies. The {workers} worker processes playing the GPUs share this server's 2 cores with other users: "
            "when their work takes a core, the balanced GPUs lose their parallelism too, and both steps cost "
            "about the same total "
            "work. Run again to measure anew.")


def capacity_sentence(runs: dict, skewed: dict, capped: dict, top_k: int, skew: float) -> str:
    """The capacity run in words, from the per-GPU numbers the bars show (worker_summary of the skewed run and of
    the capped one): which GPU was busiest and how many copies it got without and with the limit. The busiest is
    not always GPU 0: the skew pushes first choices toward GPU 0's experts, and with one expert per GPU a token's
    other choices must land elsewhere."""
    sk, cap = runs["skewed"], runs["skewed_capacity"]
    b = skewed["busiest"]
    why = "" if b == 0 else (
        f" It is GPU {b}, not GPU 0: the skew pushes each token's first choice toward GPU 0's experts, and with "
        f"k = {top_k} its other choices land on other GPUs, here most often on GPU {b} (GPU 0 received "
        f"{skewed['received'][0]:,}).")
    return (f"**Under capacity factor {cap['capacity_factor']:g}**, applied per GPU, {cap['dropped_fraction']:.0%} "
            f"of the skewed copies were dropped (none in the balanced run or the skew {skew:g} run with no limit): a hot expert computes at most C copies "
            f"from each GPU, so the busiest GPU's work is capped. GPU {b} received {skewed['received'][b]:,} copies "
            f"with no drops and {capped['received'][b]:,} under the limit, and the step took "
            f"{cap['step_ms'] / sk['step_ms']:.1f}× the dropless skewed one.{why} A token keeps its other copies; "
            f"one that lost all k keeps only the {glossary_link('Residual path', 'residual path')} (and the "
            f"{SHARED}, where the layer has one).")


def step_delta(run: dict, reference: dict) -> str:
    """A metric's delta from the whole milliseconds the metrics show (178 and 90 read as −88, not −89)."""
    return f"{round(run['step_ms']) - round(reference['step_ms']):+d} ms"


def _run_workers(cfg: MoEConfig, workers: int, skew: float) -> None:
    pool = current_pool()
    waiting = "Running…" if pool and pool.world_size == workers else \
        f"Starting {workers} worker processes (once per server), then running…"
    with st.spinner(waiting):
        try:
            st.session_state[WORKER_RUN] = WorkerRun(cfg, workers, skew, imbalance_demo(cfg, EP_TOKENS, skew, workers,
                                                                                         EP_REPEATS))
        except WorkerError as error:
            st.session_state.pop(WORKER_RUN, None)
            st.error(f"The worker processes could not run, so this part of the page is unavailable: {error}. "
                     "Everything else in the app still works.")


def _show_worker_run(kept: WorkerRun) -> None:
    runs, skew = kept.runs, kept.skew
    bal, sk, cap = runs["balanced"], runs["skewed"], runs["skewed_capacity"]
    cf = cap["capacity_factor"]
    (a, b), (c, d) = st.columns(2), st.columns(2)  # four in a row cut their labels at 1024 px
    a.metric("Step, balanced (no drops)", f"{bal['step_ms']:.0f} ms")
    b.metric(f"Step, skew {skew:g} (no drops)", f"{sk['step_ms']:.0f} ms", step_delta(sk, bal),
             delta_color="inverse")
    c.metric(f"Step, skew {skew:g}, capacity {cf:g}", f"{cap['step_ms']:.0f} ms",
             f"{step_delta(cap, sk)} vs no drops", delta_color="inverse")
    d.metric("Parallel vs one process: outputs",
             difference(max(r["max_abs_diff"] for r in runs.values())), help=ROUNDING_NOTE)
    w = worker_summary(sk["workers"])
    st.markdown(f"{slowdown_sentence(runs, w['busiest'], w['busiest_over_mean'], kept.workers)} "
                f"{capacity_sentence(runs, w, worker_summary(cap['workers']), kept.cfg.top_k, skew)}")
    rounds, slower = len(sk["round_ms"]), slower_rounds(runs)
    if slowdown_shown(runs) and slower < rounds:
        st.caption(f"In {rounds - slower} round{'s' if rounds - slower > 1 else ''} the skewed step was not the "
                   "slower: other users share these cores, and a burst of their work can land on any step.")
    app.chart(figs.worker_bars(sk["workers"], title=f"Per GPU, skew {skew:g}: GPU {w['busiest']} "
                                                    f"received {w['busiest_over_mean']:.1f}× the mean copies"),
              key="worker_bars")
    own = ", ".join(f"GPU {r}: {n:,} own + {m:,} from others" for r, (n, m) in
                    enumerate(zip(w["own"], w["from_others"])))
    st.caption(
        f"Copies received count a GPU's own token copies too ({own}); only the copies from other GPUs "
        "cross the wire. Every copy that crosses comes back as a result of the same size, so a GPU's bytes "
        "sent and received are nearly equal however uneven the copies are (they differ only by the 8-byte "
        "expert id sent with each copy): the busy GPU receives copies and sends their results back, the quiet "
        f"one sends copies and receives results. The busiest single expert was routed {sk['load_max_over_mean']:.1f}× "
        "the mean expert load; the bars add up each GPU's experts.")
    app.chart(figs.worker_timelines({"balanced": bal["workers"], f"skew {skew:g}": sk["workers"],
                                     f"skew {skew:g}, cap {cf:g}": cap["workers"]}), key="timelines")
    b = worker_summary(bal["workers"])
    copies, compute = (", ".join(f"{v:,}" for v in b["received"]), ", ".join(f"{ms:.0f} ms" for ms in b["compute_ms"]))
    st.caption(f"Measured now on this machine ({EP_TOKENS} tokens, D={kept.cfg.d_model}, H={kept.cfg.d_hidden}, "
               f"median of {rounds} steps each, the three cases taking turns; the single-process reference runs "
               "each GPU's shard, i.e. the same capacity groups). Each bar is one GPU's step: route, "
               "compute, sending tokens (all-to-all), waiting and *other* (the untimed rest: sorting copies by destination, putting "
               "results back in token order, the weighted combine) add up to its step time; the label gives the "
               "slowest GPU's, which is the step's. *Waiting* is time in the barrier before each of the 4 "
               "exchanges: idle until the slowest peer arrives, plus the barrier's own message round, so even the "
               f"least-waiting GPU spent {b['least_wait_ms']:.1f} ms there in the balanced run. The balanced "
               f"GPUs got {copies} copies and computed for {compute} (GPU 0 first): other users share these "
               "cores, so equal work does not take equal time. Each GPU's worker process runs in a session of its "
               "own, so the operating system shares the CPU with each as with a separate user, as each rank of a "
               f"real job has its own GPU. The worker processes' start-up took {bal['pool_start_s']:.1f} s (0 when "
               "the pool was already running).")


def at_scale() -> None:
    """Section 3: the analytical model of all_to_all time vs expert compute as devices grow."""
    app.section("3 · At scale: a model, not a measurement")
    st.caption("No layer of this page: published model shapes on round hardware figures (MoE layer of the shape "
               "picked below).")
    left, right = st.columns(2)
    shape_id = app.linked(left.selectbox, "Model shape", SHAPE_IDS, key="model_shape", default=DEFAULT_SHAPE,
                          parse=app.parse_choice(list(SHAPE_IDS)), format_func=lambda i: short_name(SHAPE_IDS[i]))
    shape = SHAPE_IDS[shape_id]
    left.caption(shape)
    hardware = app.linked(right.selectbox, "Hardware", HARDWARE, key="hardware", default=next(iter(HARDWARE)),
                          parse=app.parse_choice(list(HARDWARE)), format_func=lambda h: short_name(HARDWARE[h].name))
    right.caption(f"{HARDWARE[hardware].name}. {HARDWARE_WORDS[hardware]}")
    curve = model_curve(shape, hardware)
    app.chart(figs.comm_model_lines(curve), key="model")
    st.caption(MODEL_CHART_WORDS)
    st.markdown(_crossover_sentence(curve, shape, hardware))
    # the symbols before the formulas that use them, in words
    st.caption("The MODEL, per GPU and MoE layer. Its symbols: n_mat = weight matrices per expert (3 for "
               f"{glossary_link('Feed-forward MLP', 'SwiGLU')}, the expert MLP of Mixtral and DeepSeek-V3), "
               f"{glossary_link('d_model and d_hidden', 'd_model and d_hidden')} as on every page (d_hidden = one "
               f"expert's width), F = the {glossary_link('FLOPs', 'FLOP')}/s a GPU achieves "
               "(floating-point operations per second; 1 TFLOP/s = 10¹² of them), b = 2 bytes per value "
               f"({glossary_link('bf16 and fp32', 'bf16')}, a 16-bit number format), "
               "T_dev = 4096 tokens per GPU (a round figure for one GPU's batch), k = experts per token, R = token copies the busiest GPU computes "
               "(imbalance 1: even routing), W = GPUs, g = GPUs per node, B = one GPU's bandwidth inside (intra) / "
               "between (inter) nodes, t_msg = latency per message. The leading 2 of t_comm: every copy travels "
               "twice, out to its expert (dispatch) and back (combine); 2 (W − 1) messages for the same reason. The "
               "bracket splits a GPU's copies by where their experts are: a share (g′ − 1) / W goes to the other "
               "GPUs of its node at B_intra, a share (W − g′) / W to other nodes at B_inter (1 / W stays on the GPU).")
    for line in FORMULA_LATEX:
        st.latex(line)
    st.caption(model_values(shape, hardware, curve))
    devices = model_devices(shape)
    st.caption(f"W goes up to N = {MODEL_SHAPES[shape][2]}, the number of experts ({devices[0]}…{devices[-1]} "
               "here): expert parallelism gives each GPU whole experts; more GPUs would need replicated or "
               "split experts, which the model leaves out. Assumes even routing, no overlap of communication with "
               "compute, round public hardware figures. Also left out: DeepSeek-V3's node-limited routing (each "
               "token's experts lie on at most 4 nodes), which caps a token's cross-node traffic; here every copy "
               "goes wherever its expert is. It shows the trend, not the speed of any real system.")


# The rated figures HARDWARE's achieved ones are scaled from, so section 3 can show each efficiency: H100 SXM's
# dense bf16 peak, NVLink's ≈450 GB/s per GPU, InfiniBand's 400 Gb/s = 50 GB/s per GPU, 10 Gb/s Ethernet's
# 1.25 GB/s (the last three are also in HARDWARE's names). A figure with no entry is shown as HARDWARE has it.
RATED = {"h100-nvlink-ib": {"F": 989e12, "B_intra": 450e9, "B_inter": 50e9}, "cpu-ethernet": {"B_inter": 1.25e9}}
MODEL_TOKENS_PER_GPU = 4096  # model_curve's tokens_per_device, the T_dev the caption names
_BITS = "Gb/s is gigabits per second, GB/s gigabytes per second: 8 bits make 1 byte, so"
# Section 3's hardware words, under the hardware box (its name says "NVLink", "InfiniBand", "rated 400 Gb/s").
HARDWARE_WORDS = {
    "h100-nvlink-ib": ("NVLink: NVIDIA's direct links between the GPUs inside one node (a node is one machine, "
                       f"here of 8 GPUs). InfiniBand: the network between nodes. {_BITS} 400 Gb/s = 50 GB/s."),
    "cpu-ethernet": f"Ethernet: the ordinary network between servers. {_BITS} 10 Gb/s = 1.25 GB/s.",
}
MODEL_CHART_WORDS = ("Both axes are logarithmic: each step along an axis multiplies the value. The compute line is "
                     f"flat because each GPU keeps T_dev = {MODEL_TOKENS_PER_GPU:,} tokens whatever W is (more GPUs "
                     "serve more tokens in all), so one GPU's expert compute does not shrink as W grows; only the "
                     "communication changes with W.")


def _si(value: float, unit: str) -> str:
    """395.6e12 FLOP/s -> "395.6 TFLOP/s", 4e10 B/s -> "40 GB/s"."""
    prefix, scale = next((p, x) for p, x in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("", 1)) if value >= x)
    return f"{value / scale:.4g} {prefix}{unit}"


def _assumed(hardware: str, symbol: str, achieved: float, unit: str) -> str:
    """"F = 0.4 × 989 TFLOP/s = 395.6 TFLOP/s": the efficiency times the rated figure, where one is known."""
    rated = RATED.get(hardware, {}).get(symbol)
    if rated is None:
        return f"{symbol} = {_si(achieved, unit)}"
    return f"{symbol} = {achieved / rated:.2g} × {_si(rated, unit)} rated = {_si(achieved, unit)}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1e3:.3g} ms"


def model_values(shape: str, hardware: str, curve: list[dict]) -> str:
    """The numbers section 3's formulas use for this shape and hardware, and one W worked through, so a reader
    can recompute a point of the chart."""
    hw = HARDWARE[hardware]
    D, H, n, k, m = MODEL_SHAPES[shape]
    rates = "; ".join((_assumed(hardware, "F", hw.flops_per_s, "FLOP/s"),
                       _assumed(hardware, "B_intra", hw.intra_bytes_per_s, "B/s"),
                       _assumed(hardware, "B_inter", hw.inter_bytes_per_s, "B/s")))
    row = when_comm_wins(curve) or curve[-1]
    W, R = row["num_devices"], MODEL_TOKENS_PER_GPU * k
    return (f"The values: {rates} (a rated figure times the share of it a real job tends to reach); "
            f"t_msg = {hw.latency_s * 1e6:g} µs; g = {hw.devices_per_node}; b = 2 bytes; "
            f"T_dev = {MODEL_TOKENS_PER_GPU:,}; imbalance = 1; from the shape, n_mat = {m}, d_model = {D:,}, "
            f"d_hidden = {H:,}, "
            f"k = {k}. At W = {W}: R = {MODEL_TOKENS_PER_GPU:,} · {k} = {R:,} copies, "
            f"g′ = {min(W, hw.devices_per_node)}, t_compute = {_ms(row['compute_s'])}, "
            f"t_comm = {_ms(row['comm_s'])}.")


def _crossover_sentence(curve: list[dict], shape: str, hardware: str) -> str:
    hw = HARDWARE[hardware]
    first = when_comm_wins(curve)
    node = (f"{hw.devices_per_node} GPUs per node" if hw.devices_per_node > 1 else "one per node")
    if first is None:
        n = MODEL_SHAPES[shape][2]
        reason = (f"all N = {n} experts fit in one node ({node}), so no copy leaves the fast links inside it"
                  if n <= hw.devices_per_node else "the experts' arithmetic stays larger at every W drawn")
        return (f"**Here communication stays below compute up to W = {curve[-1]['num_devices']}**: {reason}. Pick "
                "a shape with more experts than a node holds (DeepSeek-V3) or the Ethernet cluster to see the "
                "other regime.")
    return (f"**Here communication outweighs the experts' arithmetic from W = {first['num_devices']}** "
            f"({first['comm_s'] * 1e3:.1f} ms of all-to-all against {first['compute_s'] * 1e3:.1f} ms of compute "
            f"per layer, {node}): " + ("once copies leave the node they cross the slower links between nodes."
                                       if first["num_devices"] > hw.devices_per_node else
                                       "every copy that leaves a GPU's place crosses the slow network."))


def dropless(controls, batch: Batch) -> None:
    """Section 4: section 1's batch routed dropless and under a capacity limit."""
    app.section("4 · Dropless or capacity: the same batch both ways")
    # The limited run has its own capacity slider below: the sidebar's factor does not reach this section.
    app.layer_line(batch.cfg, trained=False, section=True, knobs=("num_experts", "top_k", "router", "seed"),
                   note=f"Section 1's layer and {batch.tokens} tokens; the capacity factor is this section's own")
    st.caption("Section 1's batch (same tokens, same layer), routed twice: once with no limit, as dropless MoE "
               "runs it, and once with a capacity factor. Dropless never loses a copy and pays in uneven work; the "
               "limit keeps the work even and pays in dropped copies. " + ROW_MEANING + " " + OWN_FACTOR)
    if router_spec(batch.cfg.router).experts_choose:
        st.info("Expert choice has no dropless form: each expert always picks exactly C tokens. Pick a "
                "token-choice router in the sidebar to compare.")
        return
    compare_cf = app.linked(st.select_slider, "Capacity factor of the limited run", COMPARE_FACTORS,
                            key="dropless_cf", default=DEFAULT_SWITCH_CAPACITY, format_func=lambda f: f"{f:g}",
                            parse=app.parse_float_choice(COMPARE_FACTORS))
    both = dropless_run(controls, batch.policy, batch.tokens, compare_cf)
    app.chart(figs.dropless_vs_capacity_bars(both), key="dropless")
    (a, b), (c, d) = st.columns(2), st.columns(2)  # four in a row cut their labels at 1024 px
    a.metric("Dropless: busiest expert ÷ mean", f"{both.busiest_over_mean:.2f}×",
             help="Rows of the expert with the most token copies, divided by the mean rows per expert.")
    b.metric("Dropless: copies computed", sum(both.rows_dropless))
    c.metric(f"Capacity {compare_cf:g}: copies dropped", f"{both.dropped_slots} of {both.slots}")
    d.metric(f"Capacity {compare_cf:g}: rows in the buffers", both.buffer_rows,
             help="N experts × C slots: a fixed buffer computes its empty slots too (padding).")
    st.markdown(dropless_sentence(both))


def dropless_sentence(both) -> str:
    """Section 4's chart in words, from the chart's own numbers (rows_dropless, rows_kept, C): the busiest
    expert's rows under the limit are the tallest kept bar, which reaches C only when copies overflow."""
    mean = sum(both.rows_dropless) / len(both.rows_dropless)
    dropless = (f"**Dropless** computes all {sum(both.rows_dropless)} copies; the busiest expert gets "
                f"{max(both.rows_dropless)} rows against a mean of {mean:.1f}. With each expert on its own GPU "
                "the step waits for that busiest expert; on one GPU that computes every expert on its own rows in one "
                "grouped call (a grouped matrix product, as MegaBlocks does, with no padding) the time follows the "
                "total rows instead. ")
    limit = f"**With capacity factor {both.capacity_factor:g}** every expert has C = {both.capacity} slots: "
    padding = (f"the buffers hold {both.buffer_rows} rows (one fixed block of C rows per expert, which the GPU "
               f"computes whole), of which {both.buffer_rows - sum(both.rows_kept)} are padding: empty slots "
               "computed all the same, work spent on nothing.")
    if not both.dropped_slots:
        return (dropless + limit + f"no expert got more than C copies (the busiest got {max(both.rows_kept)}), so "
                "nothing is dropped and every output is the dropless one; the limit costs only padding: " + padding)
    return (dropless + limit + f"the busiest computes {max(both.rows_kept)} rows, {both.dropped_slots} copies are "
            f"dropped, {both.tokens_changed} tokens get a different output (largest change "
            f"{difference(both.max_output_change)}: the largest difference, in any one number of a token's output "
            f"vector, between the dropless run and this one), {lost_all_words(both.tokens_lost_all)}, and " + padding)


def lost_all_words(count: int) -> str:
    """How many tokens lost every routed expert, in words ("no token lost every expert", "1 token lost ...")."""
    return "no token lost every expert" if count == 0 else f"{plural(count, 'token')} lost every expert"


TOKEN_CHOICE = (f"{glossary_link('Dropless MoE', 'dropless')} token choice (each token picks its own top-k "
                "experts, and no copy is ever dropped)")
# Which columns of section 5's table are about the one token picked, which about the whole batch, and the unit.
TABLE_WORDS = ("One row per routing. The “token:” columns are about the token picked above: its experts in the "
               "batch and alone, and its output change, the largest absolute difference in any one of its "
               "d_model output numbers between the batch and alone (0 = the same output). The others are the same "
               "for every token: “batch: tokens changed” counts the batch's tokens whose output changes, and C is "
               "the slots per expert when the whole batch is routed and when one token is routed alone.")
# Short headers, the detail in each header's tooltip: a narrower table shows more of itself before a small
# screen has to scroll it sideways.
_text = st.column_config.TextColumn
TOKEN_COLUMNS = {
    "C in the batch": _text("C, batch", help="Slots per expert when the whole batch is routed at once (prefill)"),
    "C alone": _text("C, alone", help="Slots per expert when the token is routed alone (decode)"),
    "experts in the batch (prefill)": _text("token: experts, batch", help="The experts this token runs on inside the "
                                                                   "batch (prefill: the whole prompt at once)"),
    "experts alone (decode)": _text("token: experts, alone", help="The experts this token runs on alone (decode: "
                                                                  "one new token per step)"),
    "max |output change|": _text("token: output change", help="Largest absolute difference, in any one "
                                                               "number of this token's output vector, between the "
                                                               "batch and alone"),
    "tokens of the batch that change": _text("batch: tokens changed", help="How many of the batch's tokens get a "
                                                                           "different output alone than in the batch"),
}


# The columns the text under the table quotes come first, so that a 1024-px screen shows them without scrolling
# the table sideways; the capacities follow.
TOKEN_ORDER = ("routing", "experts in the batch (prefill)", "experts alone (decode)", "max |output change|",
               "tokens of the batch that change", "C in the batch", "C alone")


def _token_story(table: list[dict], token: int) -> str:
    """The table's point in words, from its own cells: where this token's experts differ, and how many tokens of
    the batch change under each routing."""
    batch, alone = "experts in the batch (prefill)", "experts alone (decode)"
    same = [r["routing"] for r in table if r[batch] == r[alone]]
    moved = [f"under **{r['routing']}** it gets {r[batch]} in the batch and {r[alone]} alone" for r in table
             if r[batch] != r[alone]]
    story = (f"**Token {token}** runs on the same experts in the batch and alone under {_and(same)}" if same else
             f"**Token {token}** runs on other experts alone than in the batch under every routing")
    story += f"; {'; '.join(moved)}." if moved else "."
    changed = _and([f"{r['tokens of the batch that change']} under {r['routing']}" for r in table])
    return f"{story} Over the whole batch, the tokens that get other experts alone, so another output: {changed}."


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def inference(controls, batch: Batch) -> None:
    """Section 5: each token of section 1's batch routed in the batch (prefill) and alone (decode)."""
    app.section("5 · Routing at inference: a token's output can depend on its batch")
    # moeviz.inference builds its layers at section 1's size (d_model 32, d_hidden 64) with the sidebar's N, k, seed
    app.layer_line(batch.cfg.replace(d_model=INFERENCE_D_MODEL, d_hidden=INFERENCE_D_HIDDEN, router="softmax_topk",
                                     capacity_factor=None, top_k=min(controls.top_k, controls.num_experts)),
                   trained=False, section=True, knobs=("num_experts", "top_k", "seed"),
                   note=f"Section 1's {batch.tokens} tokens and layer size and seed; each row of the "
                                       "table below uses its own router and capacity, so the sidebar's router and "
                                       "capacity do not apply here")
    rows = inference_run(controls.num_experts, controls.top_k, batch.tokens, controls.seed)
    st.caption("Each token of section 1's batch is routed twice through the same layer: inside the batch (prefill: "
               "the whole prompt at once) and alone (decode: one new token per step). A dense "
               f"{glossary_link('Feed-forward MLP', 'feed-forward network')} (FFN: the one MLP a layer without "
               f"experts has), or {TOKEN_CHOICE}, gives the same output either way. {SWITCH_CAPACITY_NOTE}; "
               f"{glossary_link('Expert choice', 'expert choice')} (each expert picks its C best tokens of the "
               f"batch, instead of each token picking k experts) picks among the tokens present. "
               f"{expert_choice_capacity(rows, batch.tokens, controls.num_experts, controls.top_k)}")
    changing = [t for t in range(batch.tokens) if any(r.experts_alone[t] != r.experts_in_batch[t] for r in rows[1:3])]
    token = st.number_input("Token of the batch", 0, batch.tokens - 1, step=1, key="inference_token",
                            value=app.url_value("inference_token", changing[0] if changing else 0,
                                                app.parse_int(0, batch.tokens - 1)))
    app.set_url_value("inference_token", int(token))
    cells = token_table(rows, int(token))
    st.caption(TABLE_WORDS)
    table(cells, key="alone_vs_batch", hide_index=True, column_config=TOKEN_COLUMNS, column_order=TOKEN_ORDER)
    st.markdown(_token_story(cells, int(token)))
    st.markdown(switch_capacity_sentence(rows, batch.tokens, controls.num_experts, controls.top_k))
    st.markdown(
        "Alone, a token never overflows: C = ceil(cf · 1 · k / N) is at least 1 and its k copies go to k different "
        "experts. In the batch its copy can find the expert full, so capacity makes the output depend on the other "
        "tokens; Switch's evaluation factor 2.0 makes that rarer. Expert choice is the extreme: alone, every "
        "expert has one slot and one token to fill it, so the token gets **all** the experts. Real servers batch "
        "the decode steps of many requests, so under a capacity limit or expert choice one request can change "
        "another's output; dropless token choice (Mixtral, DeepSeek-V3) keeps each token to itself (up to float "
        "rounding).")


def expert_choice_capacity(rows, tokens: int, num_experts: int, top_k: int) -> str:
    """How expert choice's C is set, with this batch's numbers (InferenceRow.capacity_in_batch and _alone): a reader
    met "its C best tokens" with no word on where C comes from."""
    row = {r.key: r for r in rows}["expert_choice"]  # the InferenceRow of inference.SETTINGS' expert choice
    cf = MoEConfig(num_experts=num_experts, top_k=top_k, router="expert_choice").effective_capacity_factor
    return (f"Its C is set like a capacity: C = ceil(cf · T · k / N) with cf = {cf:g}, so the experts' slots add up "
            f"to k per token on average: ceil({cf:g} · {tokens} · {top_k} / {num_experts}) = {row.capacity_in_batch} "
            f"in the batch, and {row.capacity_alone} for a token alone (T = 1).")


def switch_capacity_sentence(rows, tokens: int, num_experts: int, top_k: int) -> str:
    """Why the Switch rows' C differs from section 4's at the same factor: Switch is top-1, so it sends each token
    to one expert, where section 4's top-k sends k copies. C is the run's own (InferenceRow.capacity_in_batch)."""
    factors = {key: cf for key, _, _, cf in SETTINGS}
    switch = next(r for r in rows if r.key == "switch_train")
    k = MoEConfig.routed_top_k("switch", top_k)
    cf = factors[switch.key]
    other = (f", where sections 1 and 4 (top-{top_k}) send {top_k} copies of each token, so the same factor gives "
             f"them about {top_k}× the slots" if top_k != k else "")
    return (f"Switch sends each token to {k} expert{'s' if k > 1 else ''}, so C = ceil({cf:g} · {tokens} · {k} / "
            f"{num_experts}) = {switch.capacity_in_batch}{other}.")


def span_axis_sentence(top_k: int, num_devices: int, max_devices: int) -> str:
    """Why the chart's axis stops where it does: a token's k experts reach at most min(k, W) GPUs."""
    reach = min(top_k, num_devices)
    why = f"its k = {top_k} experts" if top_k <= num_devices else f"there are only W = {num_devices}"
    moved = (f"; the limit M = {max_devices} is below that, so each token's experts are picked from at most "
             f"{max_devices} GPU{'s' if max_devices > 1 else ''}" if max_devices < reach else "")
    plural = "s" if reach > 1 else ""
    return f"A token reaches at most {reach} GPU{plural} ({why}), so the chart stops at {reach}{moved}."


# Section 6's rule, checked against transformers' DeepseekV3TopkRouter and DeepseekV2Moe (modeling_deepseek_v3.py
# and modeling_deepseek_v2.py, transformers 5.24): V3 scores a group by the sum of its two best selection scores
# (moeviz.router.two_best_in_group, what the chart runs), V2's "group_limited_greedy" by its best probability.
# What "sigmoid + selection bias" means (moeviz.router.sigmoid_bias; the bias is a buffer of zeros until trained).
V3_ROUTER = ("each expert's score is the sigmoid of its logit (a number between 0 and 1, on its own, not shared "
             "out like a softmax), and a per-expert selection bias is added to the scores only to pick the top k "
             "(training raises it for under-used experts; this random layer's bias is 0)")
# The demo's unit is a GPU, DeepSeek-V3's limit counts nodes: say which stands for which.
STANDS_IN = ("Here each of the demo's GPUs stands in for one of DeepSeek's nodes (a node is one machine of several "
             "GPUs, 8 in DeepSeek-V3's cluster): the links between machines are the slow ones, so that is where "
             "the limit pays.")
NODE_LIMIT = (
    f"The limit here is **DeepSeek-V3's {glossary_link('Node-limited routing', 'node-limited routing')}**, its "
    "group scoring: the experts are grouped by GPU, a group's score is the sum of its two best experts' scores, "
    "the token keeps its best M groups and takes its top-k inside them (as the DeepSeek-V3 router in Hugging "
    "Face's transformers library does, as of its version 5.24). DeepSeek-V3 (as of its released config) groups its 256 routed experts into 8 "
    "groups and keeps 4, so each token reaches at most 4 nodes. " + STANDS_IN + " DeepSeek-V2's earlier "
    f"*{glossary_link('Node-limited routing', 'device-limited routing')}* scored a group by its single best expert "
    "instead. The price: some tokens get experts they scored lower; how "
    "much that costs in quality a random layer cannot say, DeepSeek reports it as small.")


def device_limit(controls) -> None:
    """Section 6: DeepSeek-V3's node-limited routing, devices spanned per token with and without the limit."""
    app.section("6 · Communication-aware routing: each token on at most M GPUs")
    n, k = controls.num_experts, controls.moe_config().top_k
    span_options = [w for w in SPAN_DEVICES if w <= n and n % w == 0]
    if not span_options:
        st.info(f"N = {n} experts cannot be split evenly over 2, 4, 8 or 16 GPUs: pick an even N in the "
                "sidebar.")
        return
    app.layer_line(capacity_config(controls).replace(router="sigmoid_bias", capacity_factor=None), trained=False,
                   section=True, knobs=("num_experts", "top_k", "seed"),
                   note=f"Section 1's layer with DeepSeek-V3's router in place of the sidebar's: {V3_ROUTER}; "
                        f"{SPAN_TOKENS} seeded tokens")
    default_w, default_m = default_span(n, k, span_options)
    left, right = st.columns(2)
    asked_w = app.url_value("span_devices", default_w, app.parse_int_choice(SPAN_DEVICES))
    devices_w = left.radio("GPUs (W), experts in equal blocks", span_options, horizontal=True,
                           help="This section's own W, apart from section 2's worker processes: here nothing runs "
                                "on separate processes, the GPUs only group the experts.",
                           key="span_devices", index=span_options.index(asked_w if asked_w in span_options
                                                                         else default_w))
    app.set_url_value("span_devices", devices_w)
    options = limit_options(n, k, devices_w)
    if not options:
        per_device = n // devices_w
        st.info(f"With {per_device} expert{'s' if per_device > 1 else ''} per GPU, k = {k} experts already "
                f"need all {devices_w} GPUs: pick fewer GPUs or more experts.")
        return
    fallback = default_m if devices_w == default_w and default_m in options else options[len(options) // 2]
    asked_m = app.url_value("max_devices", fallback, app.parse_int(1, max(SPAN_DEVICES)))
    max_m = right.select_slider("Limit: at most M GPUs per token", options, key="max_devices",
                                value=asked_m if asked_m in options else options[-1])
    app.set_url_value("max_devices", max_m)
    if not limit_can_act(k, devices_w, max_m):
        st.warning(f"Here the limit cannot act: a token's k = {k} experts reach at most {min(k, devices_w)} GPUs, "
                   f"and M = {max_m} allows that many. Pick M below {min(k, devices_w)} (or fewer GPUs, so each "
                   "holds more experts) to see it change the routing.")
    span = device_limit_run(controls, devices_w, max_m, SPAN_TOKENS)
    app.chart(figs.devices_spanned_bars(span), key="devices_spanned")
    (a, b), (c, _) = st.columns(2), st.columns(2)  # three in a row cut the third label at 1024 px
    a.metric("GPUs per token, free", f"{span.mean(span.free):.2f}")
    b.metric(f"GPUs per token, at most {max_m}", f"{span.mean(span.limited):.2f}")
    c.metric("Tokens whose experts did not change", f"{span.same_choice:.0%}")
    st.markdown(
        f"N = {n} experts, k = {k}, placed {n // devices_w} per GPU. {span_axis_sentence(k, devices_w, max_m)} "
        "Each GPU a token's experts sit on is one more copy of the token to send in the all-to-all. " + NODE_LIMIT)
