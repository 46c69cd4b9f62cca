"""Replicas (URL /replicas): bring a cluster's routing, plan expert replicas with EPLB, run them on workers."""
import streamlit as st

import moeviz.app as app
from moeviz.app.checkpoints import DEFAULT_MODEL
from moeviz.app.replica_runners import checkpoint_routes, example_routes, uploaded_routes
from moeviz.eplb import balancedness, default_plan, extra_memory_bytes, plan_replicas
from moeviz.figures import parallel as parallel_figs
from moeviz.figures import replicas as figs
from moeviz.figures.routing import expert_load_bars
from moeviz.hf.files import CheckpointError
from moeviz.hf.folders import available_models
from moeviz.parallel import WorkerError, current_pool
from moeviz.parallel.model import MODEL_SHAPES
from moeviz.parallel.replica_demo import replica_config, replica_demo
from moeviz.routes import FORMATS, MAX_UPLOAD_BYTES, RoutesError
from moeviz.routes.example import EXAMPLE_SHAPE
from moeviz.text import escape_markdown

SOURCES = {"example": "Built-in example", "upload": "Upload a dump", "checkpoint": f"Checkpoint ({DEFAULT_MODEL})"}
DEFAULT_TEXT = "def route(tokens):\n    return [expert for expert in experts if expert.busy]\n"
RUN_TOKENS, RUN_D_MODEL, RUN_D_HIDDEN = 2048, 256, 512
RUN_WORKERS, RUN_SKEWS = (2, 4), (0.5, 0.75, 0.9, 1.0)
SHAPE_NAMES = {name.split(" (")[0]: name for name in MODEL_SHAPES}


def load_routing():
    """Section 1: the routing summary from the chosen source, or None (with a message saying why)."""
    st.header("1 · Bring the routing")
    source = app.linked(st.radio, "Routing from", SOURCES, key="routes_source", default="example",
                        parse=app.parse_choice(list(SOURCES)), horizontal=True, format_func=SOURCES.get)
    try:
        if source == "example":
            st.caption(f"A made-up dump in vLLM's `routed_experts` layout ({EXAMPLE_SHAPE['tokens']:,} tokens x "
                       f"{EXAMPLE_SHAPE['layers']} layers x top-{EXAMPLE_SHAPE['top_k']} of "
                       f"{EXAMPLE_SHAPE['experts']} experts, a few experts hot in each layer), read by the same "
                       "reader as a real one.")
            return example_routes()
        if source == "upload":
            return uploaded()
        return from_checkpoint()
    except (RoutesError, CheckpointError) as error:
        st.error(f"That routing cannot be read: {escape_markdown(str(error))}", icon=":material/error:")
    return None


def uploaded():
    upload = st.file_uploader("A routing dump", key="routes_upload", max_upload_size=MAX_UPLOAD_BYTES >> 20,
                              help="Formats: " + "; ".join(f"{n}: {f.what}" for n, f in FORMATS.items()))
    with st.expander("A flat SGLang payload does not say its shape"):
        left, right = st.columns(2)
        layers = left.number_input("Layers (num_hidden_layers)", 1, 1024, value=None, key="routes_layers")
        top_k = right.number_input("k (num_experts_per_tok)", 1, 64, value=None, key="routes_top_k")
    if upload is None:
        st.info("Upload a file to see its routing; the built-in example shows what you will get.")
        return None
    return uploaded_routes(upload.file_id, upload.getvalue(), layers, top_k)


def from_checkpoint():
    path = available_models().get(DEFAULT_MODEL)
    if path is None:
        st.info(f"The shipped checkpoint {DEFAULT_MODEL} is not on this server.")
        return None
    text = st.text_area("Text to route", value=app.url_value("routes_text", DEFAULT_TEXT, app.parse_text(600)),
                        key="routes_text", height=90)
    app.set_url_value("routes_text", text)
    st.caption(f"{DEFAULT_MODEL}: a tiny random-weight OLMoE checkpoint in Hugging Face's layout, routed by its own "
               "router (the /heatmap page shows each token).")
    return checkpoint_routes(DEFAULT_MODEL, str(path), text)


def show_summary(summary) -> int:
    """The summary's outline and one layer's expert load; returns the chosen layer's position."""
    a, b, c = st.columns(3)
    a.metric("Format", summary.format)
    b.metric("MoE layers", len(summary.layers))
    c.metric("Experts per layer", summary.num_experts)
    for note in summary.notes[:6]:
        st.caption(escape_markdown(note))
    st.header("2 · Where the load goes")
    names = [s.layer for s in summary.layers]
    layer = app.linked(st.select_slider if len(names) > 1 else st.selectbox, "Layer", names, key="routes_layer",
                       default=names[0], parse=app.parse_int_choice(names))
    chosen = summary.layers[names.index(layer)]
    counts = chosen.tokens_per_expert
    app.chart(expert_load_bars(counts, even_share=sum(counts) / len(counts),
                               title=f"Layer {layer}: token copies per expert"), key="expert_load")
    tokens = "an unknown number of" if chosen.tokens is None else f"{chosen.tokens:,}"
    st.markdown(f"{tokens} tokens, k = {chosen.top_k or '?'}: the busiest expert gets "
                f"**{max(counts) / (sum(counts) / len(counts)):.2f}×** the mean (max/mean per expert, the measure "
                "the other pages use). With one expert per GPU, every GPU waits for that one.")
    return names.index(layer)


def plan_section(summary, index: int):
    st.header("3 · Replicate the busiest experts")
    counts = summary.layers[index].tokens_per_expert
    E = len(counts)
    gpu_options = [g for g in (1, 2, 4, 8, 16, 32, 64) if g <= E and E % g == 0]
    left, mid, right = st.columns(3)
    gpus = app.linked(left.select_slider, "GPUs", gpu_options, key="gpus", default=gpu_options[min(2, len(gpu_options) - 1)],
                      parse=app.parse_int_choice(gpu_options))
    replica_options = list(range(0, E + 1, gpus))
    replicas = app.linked(mid.select_slider, "Redundant replicas (R)", replica_options, key="replicas",
                          default=replica_options[min(1, len(replica_options) - 1)],
                          parse=app.parse_int_choice(replica_options))
    node_options = [n for n in (1, 2, 4, 8) if gpus % n == 0]
    nodes = app.linked(right.select_slider, "Nodes", node_options, key="nodes", default=1,
                       parse=app.parse_int_choice(node_options))
    plan = plan_replicas(counts, replicas, gpus, nodes)
    before, after = default_plan(E, gpus).gpu_load(counts), plan.gpu_load(counts)
    app.chart(figs.gpu_load_bars({"no replicas": before, f"{replicas} replicas (EPLB)": after}), key="gpu_load")
    a, b, c = st.columns(3)
    a.metric("Balancedness (mean / max per GPU)", f"{balancedness(after):.2f}",
             f"{balancedness(after) - balancedness(before):+.2f} from {balancedness(before):.2f}")
    b.metric("Busiest GPU (sets the step time)", f"{max(after):,.0f}", f"{max(after) / max(before) - 1:+.0%}",
             delta_color="inverse")
    shape = app.linked(c.selectbox, "Expert size for the memory cost", SHAPE_NAMES, key="expert_shape",
                       default=next(iter(SHAPE_NAMES)), parse=app.parse_choice(list(SHAPE_NAMES)))
    D, H, _, _, matrices = MODEL_SHAPES[SHAPE_NAMES[shape]]
    memory = extra_memory_bytes(replicas, gpus, matrices * D * H, 2, len(summary.layers))
    st.markdown(f"**Memory**: each replica is a whole copy of an expert ({matrices} matrices of {D}×{H} in bf16, "
                f"{matrices * D * H * 2 / 2**20:,.0f} MiB for {shape}), so {replicas} replicas in each of "
                f"{len(summary.layers)} layers cost **{memory / 2**30:,.2f} GiB more per GPU**.")
    if plan.note:
        st.info(plan.note)
    app.chart(figs.placement_map(plan.phy2log, gpus, counts), key="placement")
    explain(gpus, nodes)


def explain(gpus: int, nodes: int):
    st.markdown(
        "**How the plan is made** (DeepSeek's EPLB, published with DeepSeek-V3): give each extra slot to the expert "
        "with the most tokens per copy, then place the copies from heaviest to lightest, each on the lightest GPU "
        "with a free slot. Tokens for a replicated expert are split evenly over its copies. "
        + ("With several nodes it first packs groups of experts onto nodes, so a token's experts stay on few "
           "nodes, and replicates within each node. " if nodes > 1 else "")
        + "Every GPU keeps the same number of slots.")
    st.markdown(
        "**Why not just a bigger capacity factor?** A capacity factor gives *every* expert more room, so memory "
        "and padding grow for all N experts while the hot expert is still on one GPU, which still does all of its "
        "work: the step still waits for that GPU. A replica moves half of the hot expert's tokens to another GPU; "
        "it costs one expert's weights, not N buffers, and nothing is dropped.")
    st.markdown(
        "**The plan gets old.** Which experts are hot depends on what is being served (code, chat, another "
        "language), so systems recount and re-plan: vLLM's `EPLBConfig` (as of 2026) keeps the load of the last "
        "`window_size` = 1000 steps and rearranges the experts every `step_interval` = 3000 steps. Moving an "
        "expert means copying its weights between GPUs, so the plan is redone now and then, not every step.")


def run_section(controls):
    st.header("4 · Run it on worker processes")
    cfg, note = replica_config(controls.moe_config(d_model=RUN_D_MODEL, d_hidden=RUN_D_HIDDEN, device="cpu"))
    workers_options = [w for w in RUN_WORKERS if w <= cfg.num_experts and cfg.num_experts % w == 0]
    if not workers_options:
        st.info(f"N = {cfg.num_experts} experts do not split evenly over 2 or 4 workers: pick N in the sidebar.")
        return
    left, mid, right = st.columns(3)
    workers = app.linked(left.radio, "Workers", workers_options, key="replica_workers", default=workers_options[0],
                         parse=app.parse_int_choice(workers_options), horizontal=True)
    replica_options = list(range(workers, cfg.num_experts + 1, workers))
    replicas = app.linked(mid.select_slider, "Replicas", replica_options, key="replica_run_r",
                          default=replica_options[0], parse=app.parse_int_choice(replica_options))
    skew = app.linked(right.select_slider, "Skew toward worker 0's experts", RUN_SKEWS, key="replica_skew",
                      default=0.9, parse=app.parse_float_choice(RUN_SKEWS))
    app.layer_line(cfg, trained=False, note=f"{RUN_TOKENS} tokens per step, split over the workers")
    if note:
        st.caption(f"For this run {note}")
    key = (cfg, workers, replicas, skew)
    if st.button("Run with and without replicas", key="run_replicas", type="primary"):
        pool = current_pool()
        with st.spinner("Running…" if pool and pool.world_size == workers else
                        f"Starting {workers} worker processes (once per server), then running…"):
            try:
                st.session_state["replica_result"] = (key, replica_demo(cfg, RUN_TOKENS, skew, workers, replicas))
            except (WorkerError, ValueError) as error:
                st.session_state.pop("replica_result", None)
                st.error(f"The worker processes could not run: {escape_markdown(str(error))}")
    result = st.session_state.get("replica_result")
    if not result or result[0] != key:
        st.caption("The button runs the same skewed batch twice on real `torch.distributed` (gloo) workers: "
                   "each worker a block of experts, then the EPLB plan's replicas.")
        return
    show_run(result[1], replicas)


def show_run(out: dict, replicas: int):
    before, after = out["before"], out["after"]
    a, b, c = st.columns(3)
    a.metric("Step time, no replicas", f"{before['step_ms']:.0f} ms")
    b.metric(f"Step time, {replicas} replicas", f"{after['step_ms']:.0f} ms",
             f"{after['step_ms'] - before['step_ms']:+.0f} ms", delta_color="inverse")
    c.metric("Largest output difference vs one process", f"{max(before['max_abs_diff'], after['max_abs_diff']):.1e}")
    app.chart(figs.gpu_load_bars({"no replicas": before["rows"], "with replicas": after["rows"]},
                                 title="Token copies each worker computed (measured)"), key="run_rows")
    app.chart(parallel_figs.worker_timelines({"no replicas": before["workers"], "with replicas": after["workers"]}),
              key="run_timelines")
    st.caption(f"Measured now on this machine (median of 3 steps). The plan replicated experts "
               f"{sorted({e for e in out['phy2log'] if out['phy2log'].count(e) > 1})}; the busiest worker went from "
               f"{max(before['rows']):,} to {max(after['rows']):,} copies. Other users share these cores, so times "
               "move from run to run; the copies do not.")


controls = app.sidebar("moeviz · Replicas")
st.title("Hot experts, replicated")
st.caption("Serving and training systems record which experts every token used. Bring such a dump, see which "
           "experts are hot, plan replicas of them as DeepSeek's EPLB does, and run the plan on worker processes.")
summary = load_routing()
if summary is not None:
    layer_index = show_summary(summary)
    plan_section(summary, layer_index)
run_section(controls)
