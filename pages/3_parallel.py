"""Capacity and dropped tokens; expert parallelism on real worker processes; the communication model."""
import streamlit as st

import moeviz.app as app
from moeviz.config import DROP_POLICIES
from moeviz.figures import parallel as figs
from moeviz.parallel import WorkerError, current_pool
from moeviz.parallel.capacity import capacity_demo, dropped_tokens, expert_buffers
from moeviz.parallel.demo import demo_config, imbalance_demo
from moeviz.parallel.model import FORMULA_LATEX, HARDWARE, MODEL_SHAPES, model_curve
from moeviz.text import ROUNDING_NOTE, difference

TOKEN_COUNTS = (8, 16, 24, 32, 48, 64)
WORKER_COUNTS = (2, 4)
SKEWS = (0.25, 0.5, 0.75, 0.9, 1.0)
EP_TOKENS, EP_D_MODEL, EP_D_HIDDEN = 2048, 256, 512
SHAPE_IDS = dict(zip(("mixtral", "deepseek-v3", "this-app"), MODEL_SHAPES))  # short names for the link
POLICY_LABELS = {"position": "by position (earlier tokens first)", "probability": "by router probability"}


def short_name(description: str) -> str:
    """The name before its details ("H100 nodes", "Mixtral-8x7B-like"): the whole text, in a half-width box, was
    cut off; the box shows this and the caption under it the whole text."""
    return description.split(" (")[0].split(":")[0]


@st.cache_resource(max_entries=32, show_spinner=False)
def capacity_run(num_experts, top_k, router, capacity_factor, seed, policy, tokens):
    cfg = app.Controls(num_experts, top_k, router, 0.0, capacity_factor, seed, "").moe_config(
        d_model=32, d_hidden=64, drop_policy=policy, device="cpu")
    _, trace = capacity_demo(cfg, tokens, token_seed=seed + 1)
    return trace


controls = app.sidebar("moeviz · Capacity & parallelism")
st.title("Capacity, dropped tokens, and experts on separate workers")

st.header("1 · Each expert has a fixed number of slots")
left, right = st.columns(2)
policy = left.radio("When an expert is full, who loses?", DROP_POLICIES, horizontal=True, key="drop_policy",
                    index=DROP_POLICIES.index(app.url_value("drop_policy", "position", app.parse_choice(DROP_POLICIES))),
                    format_func=POLICY_LABELS.get)
app.set_url_value("drop_policy", policy)
tokens = right.select_slider("Tokens in the batch", TOKEN_COUNTS, key="tokens",
                             value=app.url_value("tokens", 32, app.parse_int_choice(TOKEN_COUNTS)))
app.set_url_value("tokens", tokens)

trace = capacity_run(controls.num_experts, controls.top_k, controls.router, controls.capacity_factor,
                     controls.seed, policy, tokens)
if trace.router == "expert_choice":
    st.info("Expert choice never overflows: each expert picks exactly C tokens. Its failure mode is a token that "
            "no expert picked — see the walkthrough and the variants page.")
else:
    if trace.capacity is None:
        st.info("Capacity is **off** in the sidebar, so every expert takes every token sent to it. "
                "Pick a capacity factor (try 1 or 0.75) to see slots fill up and overflow.")
    app.chart(figs.capacity_buffers(expert_buffers(trace, policy), trace.capacity), key="buffers")
    gone = dropped_tokens(trace)
    a, b, c = st.columns(3)
    a.metric("Slots per expert (C)", "no limit" if trace.capacity is None else trace.capacity)
    b.metric("Dropped token copies", f"{trace.metrics['dropped_fraction']:.0%}")
    c.metric("Tokens that lost every expert", len(gone))
    cf = controls.moe_config().effective_capacity_factor  # Switch has one even when the sidebar says off
    formula = ("C = ceil(capacity factor · T · k / N); with the capacity factor off there is no limit. "
               if cf is None else
               f"C = ceil(capacity factor · T · k / N) = ceil({cf:g} · {tokens} · {controls.top_k} / "
               f"{controls.num_experts}) = {trace.capacity}"
               + (" (Switch's default factor: the sidebar says off). " if controls.capacity_factor is None
                  else ". "))
    st.markdown(
        f"{formula}Copies queue for slots **{POLICY_LABELS[policy]}**; "
        "with *position*, every token's first choice queues before any second choice. A dropped copy simply "
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
    "router loses tokens instead of flooding worker 0.")
ep_cfg, note = demo_config(controls.moe_config(d_model=EP_D_MODEL, d_hidden=EP_D_HIDDEN, device="cpu"))
left, right = st.columns(2)
workers = left.radio("Workers (W)", WORKER_COUNTS, horizontal=True, key="workers",
                     index=WORKER_COUNTS.index(app.url_value("workers", 2, app.parse_int_choice(WORKER_COUNTS))))
app.set_url_value("workers", workers)
skew = right.select_slider("Skew: share of tokens pushed toward worker 0's experts", SKEWS, key="skew",
                           value=app.url_value("skew", 0.9, app.parse_float_choice(SKEWS)))
app.set_url_value("skew", skew)
if note:
    st.caption(f"For this demo {note}")
if ep_cfg.num_experts < workers:
    st.warning(f"{workers} workers need at least {workers} experts: raise N in the sidebar or pick fewer workers.")
elif st.button("Run on worker processes", key="run_parallel", type="primary"):
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
                    "*off*); the copies past C are dropped and those tokens keep only the residual path.")
    app.chart(figs.worker_bars(sk["workers"], title=f"Per worker, skew {ran_skew:g} "
                                     f"(busiest expert {sk['load_max_over_mean']:.1f}× the mean load)"),
                    key="worker_bars")
    app.chart(figs.worker_timelines({"balanced": bal["workers"], f"skew {ran_skew:g}": sk["workers"]}),
                    key="timelines")
    st.caption(f"Measured now on this machine ({EP_TOKENS} tokens, D={EP_D_MODEL}, H={EP_D_HIDDEN}, median of 3 "
               "steps; the single-process reference runs each worker's shard, i.e. the same capacity groups). "
               "Other users share its cores, so times move from run to run. *Waiting* is time in a barrier "
               "before each exchange: idle until the slowest peer arrives. Worker start-up took "
               f"{bal['pool_start_s']:.1f} s (0 when the pool was already running).")
else:
    st.caption("Press the button to run one batch on real worker processes (the first run starts them).")

st.header("3 · At scale: a model, not a measurement")
left, right = st.columns(2)
shape_start = app.url_value("model_shape", "mixtral", app.parse_choice(list(SHAPE_IDS)))
shape_id = left.selectbox("Model shape", list(SHAPE_IDS), format_func=lambda i: short_name(SHAPE_IDS[i]),
                         key="model_shape", index=list(SHAPE_IDS).index(shape_start))
app.set_url_value("model_shape", shape_id)
shape = SHAPE_IDS[shape_id]
left.caption(shape)
hardware_start = app.url_value("hardware", next(iter(HARDWARE)), app.parse_choice(list(HARDWARE)))
hardware = right.selectbox("Hardware", list(HARDWARE), format_func=lambda h: short_name(HARDWARE[h].name),
                           key="hardware", index=list(HARDWARE).index(hardware_start))
app.set_url_value("hardware", hardware)
right.caption(HARDWARE[hardware].name)
app.chart(figs.comm_model_lines(model_curve(shape, hardware)), key="model")
for line in FORMULA_LATEX:
    st.latex(line)
st.caption("MODEL. m = matrices per expert, D = d_model, H = expert width, F = achieved FLOP/s, b = 2 bytes (bf16), "
           "W = devices, g = devices per node, B = per-device bandwidth inside / between nodes, α = latency per "
           "message, T_dev = 4096 tokens per device. Assumes even routing, no overlap of communication with "
           "compute, round public hardware figures. It shows the trend — once traffic leaves the node, "
           "communication can outweigh the experts' arithmetic — not the speed of any real system.")
