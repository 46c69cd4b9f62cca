"""Capacity and dropped slots; expert parallelism on real worker processes; the communication model."""
import streamlit as st

import moeviz.app as app
from moeviz.app.runners import capacity_config, capacity_run, device_limit_run, dropless_run, inference_run
from moeviz.config import DEFAULT_SWITCH_CAPACITY, DROP_POLICIES, RENAMED_DROP_POLICIES, SWITCH_EVAL_CAPACITY
from moeviz.inference import token_table
from moeviz.figures import parallel as figs
from moeviz.parallel import WorkerError, current_pool
from moeviz.parallel.capacity import dropped_tokens, expert_buffers
from moeviz.parallel.demo import demo_config, imbalance_demo
from moeviz.parallel.model import FORMULA_LATEX, HARDWARE, MODEL_SHAPES, model_curve, model_devices
from moeviz.parallel.reading import worker_summary
from moeviz.text import ROUNDING_NOTE, difference

TOKEN_COUNTS = (8, 16, 24, 32, 48, 64)
WORKER_COUNTS = (2, 4)
SKEWS = (0.25, 0.5, 0.75, 0.9, 1.0)
EP_TOKENS, EP_D_MODEL, EP_D_HIDDEN = 2048, 256, 512
COMPARE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # section 4: the limit the dropless run is compared with
SPAN_DEVICES, SPAN_TOKENS = (2, 4, 8, 16), 256  # section 6: expert-parallel devices, tokens routed
SHAPE_IDS = dict(zip(("mixtral", "deepseek-v3", "this-app"), MODEL_SHAPES))  # short names for the link
POLICY_LABELS = {"position": "by position (GShard, Switch)", "priority": "by token priority (V-MoE)",
                 "weight": "by combine weight (Megatron-Core)"}
POLICY_RULES = {
    "position": "every first choice queues before any second choice, and within a choice earlier tokens go first",
    "priority": "every first choice queues before any second choice, and within a choice the tokens whose largest "
                "router probability is higher go first (batch prioritized routing, Riquelme et al. 2021)",
    "weight": "each copy queues by its own combine weight, whatever its choice (Megatron-Core's `probs` drop "
              "policy). With k ≥ 2 and renormalised weights a copy with router probability 0.40 can lose to one "
              "with 0.30: the weight is the probability divided by the sum over the token's k choices",
}


def short_name(description: str) -> str:
    """The name before its details ("H100 nodes", "Mixtral-8x7B-like"): the whole text, in a half-width box, was
    cut off; the box shows this and the caption under it the whole text."""
    return description.split(" (")[0].split(":")[0]


controls = app.sidebar("moeviz · Capacity & parallelism")
st.title("Capacity, dropped slots, and experts on separate workers")

st.header("1 · With a capacity limit, each expert has a fixed number of slots")
st.caption("Capacity is one design (Switch, GShard, V-MoE): a fixed size per expert, and the copies that do not "
           "fit are dropped. The other is dropless MoE (HF Mixtral and OLMoE, DeepSeek-V3, MegaBlocks): every "
           "chosen expert runs on all the tokens that chose it, nothing is dropped, and imbalance costs uneven "
           "work instead. Capacity *off* in the sidebar shows the dropless case (Switch keeps its own capacity).")
left, right = st.columns(2)
policy = app.linked(left.radio, "When an expert is full, who loses?", DROP_POLICIES, key="drop_policy",
                    default="position", parse=app.parse_choice(DROP_POLICIES, RENAMED_DROP_POLICIES),
                    horizontal=True, format_func=POLICY_LABELS.get)
tokens = app.linked(right.select_slider, "Tokens in the batch", TOKEN_COUNTS, key="tokens", default=32,
                    parse=app.parse_int_choice(TOKEN_COUNTS))

demo = capacity_run(controls, policy, tokens)
app.layer_line(capacity_config(controls, policy), trained=False, note=f"{tokens} seeded random tokens")
trace = demo.trace
if trace.router_spec.experts_choose:
    st.info("Expert choice never overflows: each expert picks exactly C tokens. Its failure mode is a token that "
            "no expert picked — see the walkthrough and the variants page.")
else:
    if trace.capacity is None:
        st.info("Capacity is **off** in the sidebar, so every expert takes every token sent to it. "
                "Pick a capacity factor (try 1 or 0.75) to see slots fill up and overflow.")
    app.chart(figs.capacity_buffers(expert_buffers(demo, policy), trace.capacity), key="buffers")
    gone = dropped_tokens(trace)
    a, b, c = st.columns(3)
    a.metric("Slots per expert (C)", "no limit" if trace.capacity is None else trace.capacity)
    b.metric("Dropped token copies", f"{trace.metrics['dropped_fraction']:.0%}")
    c.metric("Tokens that lost every expert", len(gone))
    cf = controls.moe_config().effective_capacity_factor  # Switch has one even when the sidebar says off
    formula = ("C = ceil(capacity factor · T · k / N); with the capacity factor off there is no limit. "
               if cf is None else
               f"C = ceil(capacity factor · T · k / N) = ceil({cf:g} · {tokens} · {trace.top_k} / "
               f"{controls.num_experts}) = {trace.capacity}"
               + (f" (the sidebar says off, so Switch's training factor {cf:g} applies, although this is inference; "
                  f"Switch's reference code evaluates with {SWITCH_EVAL_CAPACITY:g}). "
                  if controls.capacity_factor is None else ". "))
    st.markdown(
        f"{formula}Copies queue for slots **{POLICY_LABELS[policy]}**: {POLICY_RULES[policy]}. "
        "Hover a square for its router probability and combine weight. A dropped copy simply "
        "contributes nothing. A token that lost **all** its copies gets zero from the MoE layer, so the block "
        "passes on only the **residual path**: the token leaves the layer exactly as it came in, un-updated.")

st.header("2 · Experts on separate worker processes")
st.markdown(
    "Expert parallelism: each of W worker processes holds N/W experts and a share of the tokens. Every worker "
    "routes its own tokens, sends each token copy to the worker that owns its expert (`all_to_all` over "
    "`torch.distributed`, gloo backend, on this machine), runs its experts, and sends the results back "
    "(`all_to_all` again). A step ends when the **slowest** worker ends. With a capacity factor in the sidebar, "
    "each worker's tokens are one capacity group (as in GShard): a worker gives each expert "
    "C = ceil(cf · its tokens · k / N) slots and drops its overflowing copies *before* sending, so a skewed "
    "router loses token copies instead of flooding worker 0.")
ep_cfg, note = demo_config(controls.moe_config(d_model=EP_D_MODEL, d_hidden=EP_D_HIDDEN, device="cpu"))
left, right = st.columns(2)
worker_options = [w for w in WORKER_COUNTS if w <= ep_cfg.num_experts]  # each worker holds whole experts
asked = app.url_value("workers", 2, app.parse_int_choice(WORKER_COUNTS))
if asked not in worker_options:
    st.warning(f"W = {asked} workers would be more than the N = {ep_cfg.num_experts} experts (each worker holds "
               f"whole experts); using W = {worker_options[-1]}. Raise N in the sidebar for more workers.")
    asked = worker_options[-1]
workers = left.radio("Workers (W)", worker_options, horizontal=True, key="workers",
                     index=worker_options.index(asked))
app.set_url_value("workers", workers)
skew = app.linked(right.select_slider, "Skew: share of tokens pushed toward worker 0's experts", SKEWS, key="skew",
                  default=0.9, parse=app.parse_float_choice(SKEWS))
app.layer_line(ep_cfg, trained=False, note=f"Split over the W workers, {EP_TOKENS} tokens per step")
if note:
    st.caption(f"For this demo {note}")
if st.button("Run on worker processes", key="run_parallel", type="primary"):
    pool = current_pool()
    waiting = "Running…" if pool and pool.world_size == workers else \
        f"Starting {workers} worker processes (once per server), then running…"
    with st.spinner(waiting):
        try:
            st.session_state["parallel_result"] = (ep_cfg, workers, skew,
                                                   imbalance_demo(ep_cfg, EP_TOKENS, skew, workers))
        except WorkerError as error:
            st.session_state.pop("parallel_result", None)
            st.error(f"The worker processes could not run, so this part of the page is unavailable: {error}. "
                     "Everything else in the app still works.")

result = st.session_state.get("parallel_result")
if result and result[1] == workers and result[0] == ep_cfg:
    _, _, ran_skew, runs = result
    bal, sk = runs["balanced"], runs["skewed"]
    a, b, c = st.columns(3)
    a.metric("Step time, balanced", f"{bal['step_ms']:.0f} ms")
    b.metric(f"Step time, skew {ran_skew:g}", f"{sk['step_ms']:.0f} ms", f"{sk['step_ms'] - bal['step_ms']:+.0f} ms",
             delta_color="inverse")
    c.metric("Parallel vs one process: outputs", difference(max(bal["max_abs_diff"], sk["max_abs_diff"])),
             help=ROUNDING_NOTE)
    if ep_cfg.effective_capacity_factor is not None:
        st.markdown(f"Capacity factor {ep_cfg.effective_capacity_factor:g}, applied per worker: "
                    f"**{bal['dropped_fraction']:.0%}** of token copies dropped when balanced, "
                    f"**{sk['dropped_fraction']:.0%}** with skew {ran_skew:g}. A hot expert computes at most C copies "
                    "from each worker, so worker 0's work is capped (compare its copies received with capacity "
                    "*off*); the copies past C are dropped. A token keeps its other copies; one that lost all k "
                    "keeps only the residual path.")
    w = worker_summary(sk["workers"])
    app.chart(figs.worker_bars(sk["workers"], title=f"Per worker, skew {ran_skew:g}: worker {w['busiest']} "
                                                    f"received {w['busiest_over_mean']:.1f}× the mean copies"),
              key="worker_bars")
    own = ", ".join(f"worker {r}: {n:,} own + {m:,} from others" for r, (n, m) in
                    enumerate(zip(w["own"], w["from_others"])))
    st.caption(
        f"Copies received count a worker's own token copies too ({own}); only the copies from other workers "
        "cross the wire. Every copy that crosses comes back as a result of the same size, so a worker's bytes "
        "sent and received are nearly equal however uneven the copies are (they differ only by the 8-byte "
        "expert id sent with each copy): the busy worker receives copies "
        "and sends their results back, the quiet one sends copies and receives results. The busiest single "
        f"expert was routed {sk['load_max_over_mean']:.1f}× the mean expert load (before any capacity limit); "
        "the bars add up each worker's experts.")
    app.chart(figs.worker_timelines({"balanced": bal["workers"], f"skew {ran_skew:g}": sk["workers"]}),
              key="timelines")
    b = worker_summary(bal["workers"])
    copies, compute = (", ".join(f"{v:,}" for v in b["received"]),
                       ", ".join(f"{ms:.0f} ms" for ms in b["compute_ms"]))
    st.caption(f"Measured now on this machine ({EP_TOKENS} tokens, D={EP_D_MODEL}, H={EP_D_HIDDEN}, median of 3 "
               "steps; the single-process reference runs each worker's shard, i.e. the same capacity groups). "
               "Each bar is one worker's step: route, compute, all_to_all, waiting and *other* (the untimed rest: "
               "sorting copies by destination, putting results back in token order, the weighted combine) add "
               "up to its step time; the label gives the slowest worker's, which is the step's. *Waiting* is "
               "time in the barrier before each of the 4 exchanges: idle until the slowest peer arrives, plus "
               f"the barrier's own message round, so even the least-waiting worker spent {b['least_wait_ms']:.1f} "
               f"ms there in the balanced run. The balanced workers got {copies} copies and computed for "
               f"{compute} (worker 0 first): other users share these cores, so "
               "equal work does not take equal time and times move from run to run. Worker start-up took "
               f"{bal['pool_start_s']:.1f} s (0 when the pool was already running).")
else:
    st.caption("Press the button to run one batch on real worker processes (the first run starts them).")

st.header("3 · At scale: a model, not a measurement")
left, right = st.columns(2)
shape_id = app.linked(left.selectbox, "Model shape", SHAPE_IDS, key="model_shape", default="mixtral",
                      parse=app.parse_choice(list(SHAPE_IDS)), format_func=lambda i: short_name(SHAPE_IDS[i]))
shape = SHAPE_IDS[shape_id]
left.caption(shape)
hardware = app.linked(right.selectbox, "Hardware", HARDWARE, key="hardware", default=next(iter(HARDWARE)),
                      parse=app.parse_choice(list(HARDWARE)), format_func=lambda h: short_name(HARDWARE[h].name))
right.caption(HARDWARE[hardware].name)
app.chart(figs.comm_model_lines(model_curve(shape, hardware)), key="model")
for line in FORMULA_LATEX:
    st.latex(line)
devices = model_devices(shape)
st.caption("MODEL. m = matrices per expert, D = d_model, H = expert width, F = achieved FLOP/s, b = 2 bytes (bf16), "
           "W = devices, g = devices per node, B = per-device bandwidth inside / between nodes, t_msg = latency "
           "per message, T_dev = 4096 tokens per device. "
           f"W goes up to N = {MODEL_SHAPES[shape][2]}, the number of experts ({devices[0]}…{devices[-1]} here): "
           "expert parallelism gives each device whole experts; more devices would need replicated or split "
           "experts, which the model leaves out. Assumes even routing, no overlap of communication with "
           "compute, round public hardware figures. Also left out: DeepSeek-V3's node-limited routing (each "
           "token's experts lie on at most 4 nodes), which caps a token's cross-node traffic; here every copy "
           "goes wherever its expert is. It shows the trend — once traffic leaves the node, communication can "
           "outweigh the experts' arithmetic — not the speed of any real system.")

st.header("4 · Dropless or capacity: the same batch both ways")
st.caption("Section 1's batch (same tokens, same layer), routed twice: once with no limit, as dropless MoE "
           "runs it, and once with a capacity factor. Dropless never loses a copy and pays in uneven work; the "
           "limit keeps the work even and pays in dropped copies.")
if trace.router_spec.experts_choose:
    st.info("Expert choice has no dropless form: each expert always picks exactly C tokens. Pick a token-choice "
            "router in the sidebar to compare.")
else:
    compare_cf = app.linked(st.select_slider, "Capacity factor of the limited run", COMPARE_FACTORS,
                            key="dropless_cf", default=DEFAULT_SWITCH_CAPACITY, format_func=lambda f: f"{f:g}",
                            parse=app.parse_float_choice(COMPARE_FACTORS))
    both = dropless_run(controls, policy, tokens, compare_cf)
    app.chart(figs.dropless_vs_capacity_bars(both), key="dropless")
    a, b, c, d = st.columns(4)
    a.metric("Dropless: busiest expert ÷ mean", f"{both.busiest_over_mean:.2f}×",
             help="Rows of the expert with the most token copies, divided by the mean rows per expert.")
    b.metric("Dropless: copies computed", sum(both.rows_dropless))
    c.metric(f"Capacity {compare_cf:g}: copies dropped", f"{both.dropped_slots} of {both.slots}")
    d.metric(f"Capacity {compare_cf:g}: rows in the buffers", both.buffer_rows,
             help="N experts × C slots: a fixed buffer computes its empty slots too (padding).")
    st.markdown(
        f"**Dropless** computes all {sum(both.rows_dropless)} copies; the busiest expert gets "
        f"{max(both.rows_dropless)} rows against a mean of {sum(both.rows_dropless) / len(both.rows_dropless):.1f}. "
        "With each expert on its own device the step waits for that busiest expert; on one device with grouped "
        "matrix products (MegaBlocks-style) the time follows the total rows instead. "
        f"**With capacity factor {compare_cf:g}** every expert holds C = {both.capacity}: the busiest computes "
        f"at most {both.capacity} rows, {both.dropped_slots} copies are dropped, {both.tokens_changed} tokens get "
        f"a different output (largest change {difference(both.max_output_change)}), {both.tokens_lost_all} lost "
        f"every expert, and the buffers hold {both.buffer_rows} rows of which "
        f"{both.buffer_rows - sum(both.rows_kept)} are padding.")

st.header("5 · Routing at inference: a token's output can depend on its batch")
st.caption("Each token of section 1's batch is routed twice through the same layer: inside the batch (prefill: "
           "the whole prompt at once) and alone (decode: one new token per step). A dense FFN, or dropless "
           f"top-k, gives the same output either way. Switch trains with capacity factor "
           f"{DEFAULT_SWITCH_CAPACITY:g} and its reference code evaluates with {SWITCH_EVAL_CAPACITY:g}; expert "
           "choice picks tokens among those present. Random layer, d_model 32, seed from the sidebar.")
rows = inference_run(controls.num_experts, controls.top_k, tokens, controls.seed)
changing = [t for t in range(tokens) if any(r.experts_alone[t] != r.experts_in_batch[t] for r in rows[1:3])]
token = st.number_input("Token of the batch", 0, tokens - 1, step=1, key="inference_token",
                        value=app.url_value("inference_token", changing[0] if changing else 0,
                                            app.parse_int(0, tokens - 1)))
app.set_url_value("inference_token", int(token))
st.dataframe(token_table(rows, int(token)), hide_index=True)
st.markdown(
    "Alone, a token never overflows: C = ceil(cf · 1 · k / N) is at least 1 and its k copies go to k different "
    "experts. In the batch its copy can find the expert full, so capacity makes the output depend on the other "
    f"tokens; the evaluation factor {SWITCH_EVAL_CAPACITY:g} makes that rarer. Expert choice is the extreme: "
    "alone, every expert has one slot and one token to fill it, so the token gets **all** the experts. Real "
    "servers batch the decode steps of many requests, so under a capacity limit or expert choice one request "
    "can change another's output; dropless token choice (Mixtral, DeepSeek-V3) keeps each token to itself "
    "(up to float rounding).")

st.header("6 · Communication-aware routing: each token on at most M devices")
span_options = [w for w in SPAN_DEVICES if w <= controls.num_experts and controls.num_experts % w == 0]
k_run = controls.moe_config().top_k
if not span_options:
    st.info(f"N = {controls.num_experts} experts cannot be split evenly over 2, 4, 8 or 16 devices: pick an even "
            "N in the sidebar.")
else:
    left, right = st.columns(2)
    asked_w = app.url_value("span_devices", span_options[-1] if 8 not in span_options else 8,
                            app.parse_int_choice(SPAN_DEVICES))
    devices_w = left.radio("Devices (W), experts in equal blocks", span_options, horizontal=True,
                           key="span_devices", index=span_options.index(asked_w) if asked_w in span_options else
                           len(span_options) - 1)
    app.set_url_value("span_devices", devices_w)
    per_device = controls.num_experts // devices_w
    limit_options = [m for m in range(1, devices_w) if m * per_device >= k_run]
    if not limit_options:
        st.info(f"With {per_device} expert{'s' if per_device > 1 else ''} per device, k = {k_run} experts already "
                f"need all {devices_w} "
                "devices: pick fewer devices or more experts.")
    else:
        asked_m = app.url_value("max_devices", limit_options[len(limit_options) // 2],
                                app.parse_int(1, max(SPAN_DEVICES)))
        max_m = right.select_slider("Limit: at most M devices per token", limit_options, key="max_devices",
                                    value=asked_m if asked_m in limit_options else limit_options[-1])
        app.set_url_value("max_devices", max_m)
        span = device_limit_run(controls, devices_w, max_m, SPAN_TOKENS)
        app.chart(figs.devices_spanned_bars(span), key="devices_spanned")
        a, b, c = st.columns(3)
        a.metric("Devices per token, free", f"{span.mean(span.free):.2f}")
        b.metric(f"Devices per token, at most {max_m}", f"{span.mean(span.limited):.2f}")
        c.metric("Tokens whose experts did not change", f"{span.same_choice:.0%}")
        st.markdown(
            f"DeepSeek-V3's router (sigmoid + selection bias) on the sidebar's N = {controls.num_experts} and "
            f"k = {k_run}, {SPAN_TOKENS} seeded tokens, experts placed {per_device} per device. Each device a "
            "token's experts sit on is one more copy of the token to send in the all-to-all. The limit groups the "
            "experts by device, scores each group by the sum of its two best scores, keeps the token's best M "
            "groups, and takes the top-k inside them (transformers' `DeepseekV3TopkRouter`, `n_group` and "
            "`topk_group`; DeepSeek-V2 scored a group by its single best expert). DeepSeek-V3 (as of its "
            "released config) groups its 256 routed experts into 8 groups and keeps 4, so each token reaches at "
            "most 4 nodes. The price: some tokens get experts they scored lower; how much that costs in quality "
            "a random layer cannot say, DeepSeek reports it as small.")
