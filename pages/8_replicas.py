"""Replicas (URL /replicas): bring a cluster's routing, see what it shows (load, drops, journeys, co-selection,
probabilities where it has logits), plan expert replicas with EPLB, run them on worker processes (one per GPU)."""
import math

import streamlit as st

import moeviz.app as app
from moeviz.app.checkpoints import DEFAULT_MODEL
from moeviz.app.parallel_page import POLICY_LABELS, TOKEN_ORDER_RULE, skew_words
from moeviz.app.replica_runners import checkpoint_routes, example_routes, uploaded_routes
from moeviz.eplb import balancedness, default_plan, extra_memory_bytes, plan_replicas
from moeviz.glossary import LOAD_RATIO, glossary_link
from moeviz.figures import replicas as figs
from moeviz.figures.parallel import worker_timelines
from moeviz.figures.checkpoint import journey_grid, layer_load_heatmap
from moeviz.figures.routing import expert_load_bars, probs_heatmap, router_heatmap
from moeviz.hf.files import CheckpointError
from moeviz.hf.folders import available_models
from moeviz.parallel import WorkerError, current_pool
from moeviz.parallel.model import MODEL_SHAPES
from moeviz.parallel.replica_demo import replica_config, replica_demo
from moeviz.app.params import CAPACITY_FACTORS
from moeviz.app.tables import table
from moeviz.capacity_words import CAPACITY_FORMULA, capacity_symbols
from moeviz.config import DROP_POLICIES
from moeviz.routes import FORMATS, MAX_UPLOAD_BYTES, RoutesError
from moeviz.routes import views
from moeviz.routes.example import EXAMPLE_SHAPE, STICKY
from moeviz.routes.paths import MAX_WINDOW_TOKENS, WINDOW_TOKENS
from moeviz.variants import VARIANT_KEYS, VARIANTS
from moeviz.text import escape_markdown

SOURCES = {"example": "Built-in example", "upload": "Upload a dump", "checkpoint": f"Checkpoint ({DEFAULT_MODEL})"}
# The three sources in one line, before the chosen one says more (a reader met "Checkpoint" unexplained)
SOURCE_WORDS = ("Three sources: a made-up dump built in; a dump you upload from a serving or training system; or "
                f"{DEFAULT_MODEL}, the app's own trained model, routing a text here, which also gives router "
                "probabilities (a dump of expert ids alone has none).")
DEFAULT_TEXT = "def route(tokens):\n    return [expert for expert in experts if expert.busy]\n"
RUN_TOKENS, RUN_D_MODEL, RUN_D_HIDDEN = 2048, 256, 512
RUN_WORKERS, RUN_SKEWS = (2, 4), (0.5, 0.75, 0.9, 1.0)
# The page's one layout, where section 3 (the plan) and section 7 (the run) both start. At 2 GPUs and 2 replicas
# the plan of every layer of the built-in example puts no two copies of an expert on one GPU (at 4 and 4 each
# layer has one such pair: a real EPLB outcome, explained where it shows), and the run fits a 2-core server.
DEFAULT_GPUS, DEFAULT_REPLICAS = 2, 2
SHAPE_NAMES = {name.split(" (")[0]: name for name in MODEL_SHAPES}
DROP_FACTORS = tuple(float(c) for c in CAPACITY_FACTORS[1:])  # a drop view needs a limit: no "off"
MAX_WINDOW_START = 10**9
VARIANT_LABELS = {v.key: f"{v.label} ({v.model})" for v in VARIANTS}
# Section 6's what-if in plain words (moeviz.routes.views.window_what_if: the window's recorded logits through
# moeviz.hf.whatif.what_if, the window as one batch; its capacity slider has no "off"), said where the word first
# shows: in section 1's list of what a dump cannot show, and under section 6's header.
WHAT_IF_MEANS = ("routes the router logits the dump recorded again, under a rule you pick (such as the Switch "
                 "Transformer's top-1: each token goes to its one best expert) "
                 "and a capacity limit the real run may not have had, and counts the tokens that would then run "
                 "other experts than the dump says")
VIEW_MEANS = {"router probabilities and what-if": f" The **what-if** (section 6) {WHAT_IF_MEANS}."}
BALANCEDNESS_MEANS = (f"Balancedness = mean ÷ busiest load per GPU; 1 = every GPU equally busy. It is the inverse "
                      f"of the {LOAD_RATIO}, counted per GPU instead of per expert.")
# Section 3's "Nodes" slider in words (moeviz.eplb.plan_replicas: with more than one node, hierarchical_plan with one
# group of consecutive experts per node, as DeepSeek's rebalance_experts does when the groups split over the nodes).
NODES_MEAN = ("**Nodes**: a node is one machine holding several GPUs; GPUs inside a machine talk over faster links "
              "than machines do. At 1 node EPLB plans over all the GPUs at once. With more nodes it plans per node "
              "(its hierarchical mode): the experts are cut into one block of neighbouring experts per node, and "
              "replicas are made and placed only inside each node, so no token copy crosses machines because of "
              "a replica. The nodes' own totals then stay as uneven as their blocks.")


def sidebar_scope(where, controls, summary) -> None:
    """Near the top, in a box: the sidebar's N, k and router set only section 7's run; sections 1-6 use the
    dump's own experts and k (a learner saw N = 8, k = 2 in the sidebar and 32 experts, k = 4 on the page)."""
    cfg = controls.moe_config()
    dump = ""
    if summary is not None:
        ks = sorted({s.top_k for s in summary.layers if s.top_k})
        dump = (f": here N = {summary.num_experts} and k = "
                f"{', '.join(map(str, ks)) if ks else 'not said'}")
    where.info(f"**The sidebar's N = {cfg.num_experts}, k = {cfg.top_k} and router act only in section 7's run**, "
               "a small layer this server computes. Sections 1–6 read the dump, which has its own N (experts per "
               f"layer) and k (experts each token picks){dump}.", icon=":material/info:")


def window_start() -> int:
    """The journey window's first token, read before the dump (the pass keeps only that window)."""
    return st.session_state.get("routes_window",
                                app.url_value("routes_window", 0, app.parse_int(0, MAX_WINDOW_START)))


def load_routing():
    """Section 1: (the routing summary from the chosen source, what it is), or None with a message saying why."""
    app.section("1 · Bring the routing")
    source = app.linked(st.radio, "Routing from", SOURCES, key="routes_source", default="example",
                        parse=app.parse_choice(list(SOURCES)), horizontal=True, format_func=SOURCES.get)
    st.caption(SOURCE_WORDS)
    try:
        if source == "example":
            st.caption(f"A made-up dump in the layout vLLM records: which {EXAMPLE_SHAPE['top_k']} of "
                       f"{EXAMPLE_SHAPE['experts']} experts each of {EXAMPLE_SHAPE['tokens']:,} tokens used at "
                       f"each of {EXAMPLE_SHAPE['layers']} layers, a few experts hot in each layer. It is read as a "
                       f"real dump is. Each layer has its own hot experts, and {STICKY:.0%} of the time a token keeps "
                       "its rank among them from one layer to the next (if its experts were the 3rd to 6th hottest "
                       "of one layer, they are the 3rd to 6th hottest of the next); otherwise it draws a new rank. "
                       "So tokens take paths through the layers, as in real models: section 5 shows them.")
            return example_routes(window_start()), "the built-in example (made up)"
        if source == "upload":
            return uploaded()
        return from_checkpoint()
    except (RoutesError, CheckpointError) as error:
        st.error(f"That routing cannot be read: {escape_markdown(str(error))}", icon=":material/error:")
    return None


def uploaded():
    upload = st.file_uploader("A routing dump", key="routes_upload", max_upload_size=MAX_UPLOAD_BYTES >> 20,
                              help=escape_markdown("Formats: " + "; ".join(f"{n}: {f.what}" for n, f in FORMATS.items())
                                                   + ". Router logits come only in Megatron-Core's trace run with "
                                                   "--moe-routing-trace-capture-logits (the logits_rank{N}.bin "
                                                   "sidecar next to it) and in a moeviz trace."))
    with st.expander("A flat SGLang payload does not say its shape"):
        left, right = st.columns(2)
        layers = left.number_input("Layers (num_hidden_layers)", 1, 1024, value=None, key="routes_layers")
        top_k = right.number_input("k (num_experts_per_tok)", 1, 64, value=None, key="routes_top_k")
    if upload is None:
        st.info("Upload a file to see its routing; the built-in example shows what you will get.")
        return None
    return (uploaded_routes(upload.file_id, upload.getvalue(), layers, top_k, window_start()),
            f"the upload “{escape_markdown(upload.name[:80])}”")


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
    return checkpoint_routes(DEFAULT_MODEL, str(path), text, window_start()), f"checkpoint {DEFAULT_MODEL}"


def show_summary(summary, where: str) -> int:
    """The summary's outline, what it cannot show, and one layer's expert load; returns the chosen layer's
    position."""
    a, b, c = st.columns(3)
    fmt = FORMATS[summary.format]
    a.metric("Format", fmt.label, help=escape_markdown(f"{summary.format}: {fmt.what}"))
    b.metric("MoE layers", len(summary.layers))
    c.metric("Experts per layer", summary.num_experts)
    st.markdown(f"Read from {where}, in the **{fmt.label}** format.")
    missing = views.missing_views(summary)
    if missing:
        lines = [f"- **{view}**: {escape_markdown(why)}.{VIEW_MEANS.get(view, '')}" for view, why in missing.items()]
        st.markdown("This dump cannot show:\n" + "\n".join(lines))
    for note in summary.notes[:6]:
        st.caption(escape_markdown(note))
    app.section("2 · Where the load goes")
    names = [s.layer for s in summary.layers]
    layer = app.linked(st.select_slider if len(names) > 1 else st.selectbox, "Layer", names, key="routes_layer",
                       default=names[0], parse=app.parse_int_choice(names),
                       help="The MoE layer sections 2, 3 and 4 show; section 5 follows tokens through every layer.")
    chosen = summary.layers[names.index(layer)]
    counts = chosen.tokens_per_expert
    app.chart(expert_load_bars(counts, even_share=sum(counts) / len(counts),
                               title=f"Layer {layer}: token copies per expert"), key="expert_load")
    tokens = "an unknown number of" if chosen.tokens is None else f"{chosen.tokens:,}"
    st.markdown(f"A **token copy** is one token sent to one of its k experts: each token makes k of them, and the "
                f"bars count them. {tokens} tokens, k = {chosen.top_k or '?'}: the busiest expert gets "
                f"**{max(counts) / (sum(counts) / len(counts)):.2f}×** the mean (the {LOAD_RATIO}, counted per "
                "expert as on the other pages). Each GPU holds a block of experts and every GPU waits for the one "
                "with the most work, most often the GPU holding the busiest expert(s): that GPU sets the pace.")
    return names.index(layer)


def plan_section(summary, index: int):
    app.section("3 · Replicate the busiest experts")
    counts = summary.layers[index].tokens_per_expert
    E = len(counts)
    gpu_options = [g for g in (1, 2, 4, 8, 16, 32, 64) if g <= E and E % g == 0]
    left, mid, right = st.columns(3)
    gpus = app.linked(left.select_slider, "GPUs", gpu_options, key="gpus", default=layout_default(DEFAULT_GPUS, gpu_options),
                      parse=app.parse_int_choice(gpu_options))
    replica_options = list(range(0, E + 1, gpus))
    replicas = app.linked(mid.select_slider, "Redundant replicas (R)", replica_options, key="replicas",
                          default=layout_default(DEFAULT_REPLICAS, replica_options[1:] or replica_options),
                          parse=app.parse_int_choice(replica_options))
    node_options = [n for n in (1, 2, 4, 8) if gpus % n == 0]
    nodes = app.linked(right.select_slider, "Nodes", node_options, key="nodes", default=1,
                       parse=app.parse_int_choice(node_options))
    plan = plan_replicas(counts, replicas, gpus, nodes)
    before, after = default_plan(E, gpus).gpu_load(counts), plan.gpu_load(counts)
    # EPLB with R = 0 only places whole experts: the middle bars split the gain into placing and replicating (a
    # reader saw the whole gain credited to replicas, while placing alone already gave 1.000)
    placed = plan_replicas(counts, 0, gpus, nodes).gpu_load(counts)
    st.caption(NODES_MEAN)
    layer = summary.layers[index].layer
    app.chart(figs.gpu_load_bars({"no replicas": before, "EPLB, placing only": placed,
                                  f"{replicas} replicas (EPLB)": after},
                                 title=f"Layer {layer}: token copies each GPU computes"), key="gpu_load")
    st.caption(gain_words(before, placed, after, replicas))
    if pays := when_replicas_pay(counts, balancedness(placed), gpus, gpu_options, nodes):
        st.markdown(pays)
    a, b, c = st.columns(3)
    # Short labels: a narrow column at 1024 px cuts longer ones; the help says the rest.
    a.metric("Balancedness", f"{balancedness(after):.2f}",
             f"{balancedness(after) - balancedness(before):+.2f} from {balancedness(before):.2f} in blocks",
             help="Mean over max token copies per GPU: 1 = every GPU equally busy (what SGLang logs and vLLM's EPLB "
                  "reports).")
    # rounded first: a plan a hair below placing alone printed "-0.00" in Chromium
    c.metric("From the replicas", f"{round(balancedness(after) - balancedness(placed), 2) + 0.0:+.2f}",
             help="The plan's balancedness beyond EPLB placing whole experts with no replica: what the replicas "
                  "themselves bought, for their memory below.")
    b.metric("Busiest GPU", f"{max(after):,.0f}", f"{max(after) / max(before) - 1:+.0%}", delta_color="inverse",
             help="Token copies the busiest GPU computes: every GPU waits for it, so it sets the step time.")
    st.caption(BALANCEDNESS_MEANS)  # under the metrics at every width (a phone stacks the columns)
    shape = app.linked(st.selectbox, "Expert size for the memory cost", SHAPE_NAMES, key="expert_shape",
                       help="A dump records which experts ran, not how large they are: pick a real model's expert "
                            "size to price the replicas' memory.",
                       default=next(iter(SHAPE_NAMES)), parse=app.parse_choice(list(SHAPE_NAMES)))
    D, H, _, _, matrices = MODEL_SHAPES[SHAPE_NAMES[shape]]
    L = len(summary.layers)
    memory = extra_memory_bytes(replicas, gpus, matrices * D * H, 2, L)
    st.markdown(f"**Memory**: each replica is a whole copy of an expert ({matrices} matrices of {D}×{H} numbers in "
                f"{glossary_link('bf16 and fp32', 'bf16')}, 2 bytes a number: "
                f"{matrices * D * H * 2 / 2**20:,.0f} MiB for {shape}). The chart is layer {layer} alone, but each "
                f"of the {L} MoE layers has its own experts and gets its own {replicas} replicas: {replicas} × {L} "
                f"layers = {replicas * L} replicas over {gpus} GPUs cost **{memory / 2**30:,.2f} GiB more per "
                "GPU**.")
    if plan.note:
        st.info(plan.note)
    app.chart(figs.placement_map(plan.phy2log, gpus, counts), key="placement")
    st.caption("A cell is one slot, the place for one replica of an expert; its colour, the token copies that "
               "replica computes (an expert's replicas split its token copies evenly). E3* = an expert with more "
               "than one replica.")
    same_gpu(plan, after)
    explain(gpus, nodes)
    every_layer(summary, gpus, replicas, nodes)


def gain_words(before, placed, after, replicas: int) -> str:
    """Where the balance comes from: the block layout, EPLB placing whole experts (R = 0), then the R replicas."""
    b0, b1, b2 = balancedness(before), balancedness(placed), balancedness(after)
    return (f"Three layouts of the same token copies: experts in blocks of neighbours (“no replicas”), balancedness "
            f"{b0:.2f}; EPLB placing whole experts with no replica, {b1:.2f}; EPLB with {replicas} replicas, {b2:.2f}. "
            + ("So here placing alone does all of it, and the replicas add nothing on this layer."
               if b2 - b1 < 0.005 else
               f"Placing alone brings {b1 - b0:+.2f}; the replicas bring the other {b2 - b1:+.2f}."))


def when_replicas_pay(counts, placed: float, gpus: int, gpu_options: list[int], nodes: int) -> str:
    """When replicas add nothing at this layout, why, and the nearest larger layout where they pay, computed on this
    layer. A replica pays only when one expert carries more than a GPU's even share: with k distinct experts per
    token no expert carries more than 1/k of the copies, so on few GPUs placing whole experts balances the load
    (the page keeps one layout for sections 3 and 7, small enough for the run). `placed`: this layout's
    balancedness with EPLB placing whole experts and no replica."""
    if placed < 0.99:
        return ""
    top = max(counts) / sum(counts)
    for more in (g for g in gpu_options if g > gpus and g % nodes == 0):
        alone = balancedness(plan_replicas(counts, 0, more, nodes).gpu_load(counts))
        if alone < 0.99:
            copied = balancedness(plan_replicas(counts, more, more, nodes).gpu_load(counts))
            return (f"**When replicas pay.** A replica helps only when one expert carries more than a GPU's even "
                    f"share. Here the busiest expert carries {top:.0%} of the layer's token copies and a GPU's share "
                    f"is {1 / gpus:.0%}, so placing whole experts balances the layer and the replicas are pure cost "
                    f"(their memory below). Replicas start to matter on this layer at {more} GPUs: placing alone "
                    f"reaches {alone:.2f}, and {more} replicas {copied:.2f} (set GPUs to {more} above).")
    return ""


def layout_default(wanted: int, options: list[int]) -> int:
    """The page's layout value where these options allow it, else the nearest option."""
    return min(options, key=lambda o: (abs(o - wanted), o))


def same_gpu(plan, after):
    """Say it when a GPU holds two replicas of one expert: EPLB allows it, such a replica moves no load, and the
    balancedness above still counts that GPU's whole work."""
    twins = [(e, g) for g, experts in enumerate(plan.gpu_experts()) for e in sorted(set(experts))
             if experts.count(e) > 1]
    if not twins:
        return
    where = ", ".join(f"E{e} on GPU {g}" for e, g in twins)
    e, g = twins[0]
    st.markdown(f"**Two replicas on one GPU** ({where}). DeepSeek's EPLB, which this page follows, places the "
                "replicas one at a time, heaviest first, each on the least busy GPU that still has a free slot, and "
                "nothing stops that from being the GPU that already holds the other replica. Replicas on one GPU do "
                f"the work of one: GPU {g} computes all of E{e}'s tokens, as with a single replica, so the extra "
                "one costs memory and takes no work off any GPU. The bars and the balancedness "
                f"({balancedness(after):.2f}) are still right: they add up what each GPU really computes, both "
                f"replicas on GPU {g} included."
                + (f" The GPUs come out even because the planner gave GPU {g} less of the other work; that "
                   "replica itself helped nothing." if balancedness(after) >= 0.99 else ""))


def every_layer(summary, gpus: int, replicas: int, nodes: int):
    app.subsection("Every layer", "every_layer")
    app.chart(layer_load_heatmap(summary.load_share(), [s.layer for s in summary.layers]), key="routes_layer_loads")
    rows = views.layer_table(summary, gpus, replicas, nodes)
    table(rows, key="replica_layers", hide_index=True, column_config=layer_columns(rows))
    st.caption(f"Two measures of the same skew: the {LOAD_RATIO} per expert (the busiest expert over the average "
               "one, as on moeviz's other pages; 1 = even) and balancedness, mean ÷ busiest per GPU (what SGLang "
               "logs and vLLM's EPLB reports; 1 = even), with the experts in blocks over the GPUs, after EPLB only "
               "places whole experts, and after this plan with its replicas.")
    perfect_note(summary, rows, gpus, replicas, nodes)


def perfect_note(summary, rows: list[dict], gpus: int, replicas: int, nodes: int):
    """When the plan scores 1.000 on every layer of the table (`rows`, views.layer_table's), say why, and that it
    is the best case, not the usual one."""
    if gpus < 2 or min(r[f"with {replicas} replicas"] for r in rows) < 1.0:
        return
    loads = [s.tokens_per_expert for s in summary.layers]
    moved = min(r["EPLB placing only"] for r in rows)  # views.layer_table planned it for every layer
    top = max(max(c) / sum(c) for c in loads)
    st.markdown(
        f"**Why 1.000 on every layer?** Perfect balance is easy for this dump (the built-in one is made up), not "
        f"typical. Each of the {gpus} GPUs holds "
        f"{(summary.num_experts + replicas) // gpus} slots, and even the busiest expert carries at most "
        f"about {top:.0%} of a layer's token copies, far less than a GPU's even share ({1 / gpus:.0%}): with many "
        "small experts to fill the gaps, placing them evenly is easy. Moving the experts alone, with no replica, "
        f"already gives {moved:.3f}. The page also plans from the same counts it scores, the best case. A "
        "serving system plans from past steps and serves new ones, whose hot experts have moved a little, and "
        "with more GPUs each holds fewer experts (try more GPUs above). Expect less than 1.00 there.")


def layer_columns(rows: list[dict]) -> dict:
    """Every ratio column with three decimals (a plain 1 beside 0.873 read as a count); the per-expert one under
    the app's one name for it."""
    ratios = [name for name in (rows[0] if rows else {}) if name not in ("layer", "tokens", "k")]
    return {name: st.column_config.NumberColumn(LOAD_RATIO if name == "max/mean per expert" else name,
                                                format="%.3f") for name in ratios}


def explain(gpus: int, nodes: int):
    st.markdown(
        "**How the plan is made** (DeepSeek's EPLB, the balancer from the DeepSeek-V3 report, open-sourced in "
        "February 2025): give each extra slot to the expert with the most token copies per replica, then place the "
        "replicas from heaviest to lightest, each on the lightest GPU with a free slot. A replicated expert's token "
        "copies are split evenly over its replicas. Every expert is placed anew, not only the extra replicas, so "
        "part of the evenness "
        "comes from moving experts between GPUs. "
        + ("With several nodes it first packs groups of experts onto nodes, so a token's experts stay on few "
           "nodes, and replicates within each node. " if nodes > 1 else "")
        + "Every GPU keeps the same number of slots.")
    st.markdown(
        f"**Why not just a bigger capacity factor?** Systems that cap each expert give it room for C token copies "
        f"per batch, C = cf × its even share, where cf is the {glossary_link('Capacity factor')} (section 4 "
        f"shows it); token copies past C are {glossary_link('Dropped slot', 'dropped')}. A bigger cf gives *every* "
        "expert more room: each of the N experts gets a bigger buffer (memory set aside for C token copies, "
        "filled up with empty padding rows when fewer come), while the hot expert is still on one GPU, which "
        "still does all of its work: the step still waits for that GPU. A replica moves half of the hot expert's "
        "token copies to another GPU; it costs one expert's weights, not N bigger buffers, and nothing is "
        "dropped.")
    st.markdown(
        "**The plan gets old.** Which experts are hot depends on what is being served (code, chat, another "
        "language), so systems recount and re-plan: vLLM's load balancer (as of 2026, by default) counts the load "
        "of the last 1,000 steps (a step: one forward pass over the batch being served) and rearranges the experts every 3,000 steps. Moving an "
        "expert means copying its weights between GPUs, so the plan is redone now and then, not every step.")


def drops_section(summary, index: int):
    app.section("4 · Drops at a capacity")
    if "drops at a capacity" in views.missing_views(summary):
        st.info("No drops to show: " + escape_markdown(views.missing_views(summary)["drops at a capacity"]) + ".")
        return [], None
    cf = app.linked(st.select_slider, "Capacity factor (cf)", DROP_FACTORS, key="routes_capacity", default=1.0,
                    parse=app.parse_float_choice(DROP_FACTORS))
    drops = views.capacity_drops(summary, cf)
    chosen = next(d for d in drops if d.layer == summary.layers[index].layer)
    counts = summary.layers[index].tokens_per_expert
    app.chart(expert_load_bars([c - d for c, d in zip(counts, chosen.dropped)], capacity=chosen.capacity,
                               dropped_per_expert=chosen.dropped, even_share=sum(counts) / len(counts),
                               title=f"Layer {chosen.layer}: token copies each expert keeps at C = {chosen.capacity}"),
              key="routes_drops")
    coincide = (f" At cf = {cf:g}, C is the even share rounded up: the dotted and dashed lines coincide."
                if chosen.capacity == math.ceil(sum(counts) / len(counts)) else "")
    st.markdown(f"Each expert has {CAPACITY_FORMULA} = **{chosen.capacity:,} slots** "
                f"{dump_capacity_symbols(summary.layers[index], cf)}; at layer {chosen.layer} "
                f"**{chosen.share:.1%}** of the token copies are dropped (all layers: "
                f"{', '.join(f'{d.share:.0%}' for d in drops)}).{coincide}")
    st.caption(f"Which token copies are dropped: **{TOKEN_ORDER_RULE}**. As Megatron-Core's “position” drop policy "
               "does (Megatron-Core: NVIDIA's library for training), the token copies queue at their expert in "
               "token order alone and the first C get a slot. The "
               f"Capacity & parallelism page's “{POLICY_LABELS['position']}” queues every first choice before any "
               "second choice instead, as Google's GShard and Switch Transformer MoE models do; a dump's columns "
               f"need not say which choice came first. Dropping “{POLICY_LABELS['weight']}” keeps the token "
               f"copies with the highest {glossary_link('Combine weight')} (the router weight a token gives that "
               "expert), which a dump of expert numbers does not have. The "
               "whole dump counts as one batch; a system applies C per batch, which drops at least as many.")
    return drops, cf


def dump_capacity_symbols(layer, cf: float) -> str:
    """C's symbols in words, where the page first writes the formula (section 4): T is the layer's whole dump."""
    return capacity_symbols(f"{layer.tokens:,} tokens, the whole dump at this layer counted as one batch",
                            layer.top_k, len(layer.tokens_per_expert), cf=f"{cf:g}, the capacity factor above")


def journeys_section(summary, index: int, drops, cf: float | None):
    app.section("5 · Token journeys")
    start = st.number_input("First token of the window", 0, MAX_WINDOW_START, value=window_start(),
                            key="routes_window", step=WINDOW_TOKENS,
                            help=f"The pass over the dump keeps {WINDOW_TOKENS} tokens from here (at most "
                                 f"{MAX_WINDOW_TOKENS}), so a long dump stays in bounded memory.")
    app.set_url_value("routes_window", start)
    missing = views.missing_views(summary)
    window = summary.window
    if window is None:
        st.info("No journeys: " + escape_markdown(missing["token journeys"]) + ".")
        return
    if not window.num_tokens:
        st.info(f"The dump has no token {start}: it is shorter. Start the window lower.")
        return
    labels = [f"#{window.start + t}" for t in range(window.num_tokens)]
    app.chart(journey_grid(window.ids, None, labels, window.layers), key="routes_journey")
    lost = views.dropped_copies(window, drops)
    st.caption(f"Tokens {window.start}–{window.start + window.num_tokens - 1} (rows of the dump, counted across "
               "requests or steps) at every MoE layer; the cell lists the token's experts in the dump's order.")
    if lost:
        st.markdown(f"At section 4's capacity (cf = {cf:g}), {len(lost)} of these token "
                    "copies are turned away. The grid above does not mark them; this table lists each one:")
        table(lost, key="lost_copies", hide_index=True)
    elif drops:
        st.caption(f"No token copy in this window is dropped at section 4's capacity (cf = "
                   f"{cf:g}; its capacity factor slider sets the drops): in token order the "
                   "first tokens always find room, drops hit the tokens that come after an expert is full. The grid "
                   "never marks drops; when the window holds some, a table under it lists each dropped token copy. "
                   "Move the window later, or lower the capacity factor, to see them.")
    co_selection(summary, index, missing)


def co_selection(summary, index: int, missing: dict):
    app.subsection("Do consecutive layers choose together?", "consecutive_layers")
    if "co-selection" in missing:
        st.info("No co-selection: " + escape_markdown(missing["co-selection"]) + ".")
        return
    pairs = sorted(summary.pairs)
    layer = summary.layers[index].layer
    a, b = next((p for p in pairs if p[0] == layer), pairs[-1])
    pair = summary.pairs[(a, b)]
    app.chart(figs.co_selection_share_map(views.co_selection_share(pair), a, b), key="routes_co_selection")
    st.caption(f"Over all {pair.tokens:,} tokens routed at layers {a} and {b}: row i, column j = of the tokens "
               f"that chose expert i at layer {a}, the share that also chose expert j at layer {b} (0 to 1, a share "
               f"of the row's tokens). Each token picks k experts at layer {b}, so a row adds up to k, not 1. If "
               f"the layers chose independently, every row would look alike (layer {b}'s load); a bright cell off "
               "that pattern is a path tokens take.")


def logits_section(summary, index: int):
    app.section("6 · With router logits")
    st.caption(f"The router's probabilities for each token, and the **what-if**, which {WHAT_IF_MEANS}.")
    missing = views.missing_views(summary)
    if "router probabilities and what-if" in missing:
        st.info("No probabilities or what-if: " + escape_markdown(missing["router probabilities and what-if"])
                + ". The checkpoint source shows them.")
        return
    window, layer = summary.window, summary.layers[index].layer
    if layer not in window.logits:
        st.info(f"The window's tokens have no logits at layer {layer}.")
        return
    i = window.layers.index(layer)
    labels = [f"#{window.start + t}" for t in range(window.num_tokens)]
    app.chart(probs_heatmap(views.window_probs(window, layer), window.ids[:, i], labels,
                            title=f"Layer {layer}: router probabilities"),
              key="routes_probs")
    st.caption(f"The softmax of the router logits the dump recorded for the window's tokens at layer {layer}; "
               "outlined: the experts the dump says each token used.")
    variant = app.linked(st.selectbox, "Route the same logits with", VARIANT_KEYS, key="routes_whatif",
                         default="switch", parse=app.parse_choice(VARIANT_KEYS), format_func=VARIANT_LABELS.get)
    left, right = st.columns(2)
    cf = app.linked(left.select_slider, "Capacity factor", DROP_FACTORS, key="routes_whatif_capacity",
                    default=1.0, parse=app.parse_float_choice(DROP_FACTORS))
    policy = app.linked(right.selectbox, "Drop policy", DROP_POLICIES, key="routes_whatif_drop",
                        default="weight", parse=app.parse_choice(DROP_POLICIES), format_func=POLICY_LABELS.get)
    w = views.window_what_if(window, layer, variant, cf, policy)
    app.chart(router_heatmap(w.trace, labels, title=f"Layer {layer} under {w.variant.label}"), key="routes_whatif_map")
    changed = views.changed_tokens(window, layer, w.trace.topk_indices, ~w.trace.dropped)
    st.caption(f"The same logits of these {window.num_tokens} tokens (one batch: C = {w.trace.capacity} slots per "
               f"expert) through moeviz's {w.variant.label} router: {changed} tokens run a different set of experts "
               "than the dump says. Softmax is the probability rule of most routers here; DeepSeek-style sigmoid "
               "routers score each expert on its own.")


def run_section(controls):
    app.section("7 · Run the plan")
    st.caption("Here each GPU is a worker process on this server: the processes send each other tokens the way "
               "the GPUs of a cluster do, and each computes its own experts for real, on its own CPU thread (the "
               "sidebar's “1 thread” is the page's own process, not these).",
               help="torch.distributed with the gloo backend (CPU): the same all-to-all calls a GPU cluster makes "
                    "with NCCL.")
    cfg, note = replica_config(controls.moe_config(d_model=RUN_D_MODEL, d_hidden=RUN_D_HIDDEN, device="cpu"))
    workers_options = [w for w in RUN_WORKERS if w <= cfg.num_experts and cfg.num_experts % w == 0]
    if not workers_options:
        st.info(f"N = {cfg.num_experts} experts do not split evenly over 2 or 4 GPUs: pick N in the sidebar.")
        return
    left, mid, right = st.columns(3)
    workers = app.linked(left.radio, "GPUs", workers_options, key="replica_workers",
                         default=layout_default(DEFAULT_GPUS, workers_options),
                         parse=app.parse_int_choice(workers_options), horizontal=True)
    replica_options = list(range(workers, cfg.num_experts + 1, workers))
    replicas = app.linked(mid.select_slider, "Redundant replicas (R)", replica_options, key="replica_run_r",
                          default=layout_default(DEFAULT_REPLICAS, replica_options),
                          parse=app.parse_int_choice(replica_options))
    skew = app.linked(right.select_slider, "Skew toward GPU 0's experts", RUN_SKEWS, key="replica_skew",
                      default=0.9, parse=app.parse_float_choice(RUN_SKEWS))
    st.caption(f"The R slider's lowest value is {workers} here, 0 in section 3: the button always runs the layout "
               "with no replicas too, so R = 0 would only run it twice. As in section 3, R steps by the number of "
               "GPUs, so every GPU holds the same number of replicas.")
    st.caption(skew_words(skew, RUN_TOKENS, "batch"))
    app.layer_line(cfg, trained=False,
                   note=f"Its own GPUs and R, starting at section 3's layout ({DEFAULT_GPUS} GPUs, {DEFAULT_REPLICAS} "
                        "replicas; 2 or 4 GPUs, as each is a process on this small server) on the "
                        "sidebar's layer, not the dump's: its experts are few and small enough for this server to "
                        f"compute. {RUN_TOKENS} tokens per step, split over the GPUs")
    st.caption(f"The run is {glossary_link('Dropless MoE', 'dropless')}: no capacity limit, so every token copy is "
               "computed and none is dropped; replicas change which GPU computes a token copy, never whether.")
    if note:
        st.caption(f"For this run {note}")
    key = (cfg, workers, replicas, skew)
    if st.button("Run with and without replicas", key="run_replicas", type="primary"):
        pool = current_pool()
        with st.spinner("Running…" if pool and pool.world_size == workers else
                        f"Starting {workers} worker processes, one per GPU (once per server), then running…"):
            try:
                st.session_state["replica_result"] = (key, replica_demo(cfg, RUN_TOKENS, skew, workers, replicas))
            except (WorkerError, ValueError) as error:
                st.session_state.pop("replica_result", None)
                st.error(f"The worker processes could not run: {escape_markdown(str(error))}")
    result = st.session_state.get("replica_result")
    if not result or result[0] != key:
        st.caption("The button runs the same skewed batch twice: first each GPU holds a block of experts, then "
                   "the EPLB plan's replicas are added. It then compares the two: the **step time** (ms per step, "
                   "median of 3; every GPU waits for the slowest), the **token copies each GPU computed**, where "
                   "each GPU's time went (routing, computing, sending tokens), and the largest difference in any "
                   "output number from one process computing the whole layer (near 0: the split run computes the "
                   "same layer).")
        return
    show_run(result[1], replicas)


def show_run(out: dict, replicas: int):
    before, after = out["before"], out["after"]
    a, b, c = st.columns(3)
    a.metric("Step time, no replicas", f"{before['step_ms']:.0f} ms")
    b.metric(f"Step time, {replicas} replicas", f"{after['step_ms']:.0f} ms",
             f"{after['step_ms'] - before['step_ms']:+.0f} ms", delta_color="inverse")
    c.metric("Error vs one GPU", f"{max(before['max_abs_diff'], after['max_abs_diff']):.1e}",
             help="The largest difference from the whole layer run in one process on the same batch: the split "
                  "changes who computes, not what.")
    app.chart(figs.gpu_load_bars({"no replicas": before["rows"], "with replicas": after["rows"]},
                                 title="Token copies each GPU computed (measured)"), key="run_rows")
    app.chart(worker_timelines({"no replicas": before["workers"], "with replicas": after["workers"]}),
              key="run_timelines")
    copied = ", ".join(f"E{e}" for e in sorted({e for e in out["phy2log"] if out["phy2log"].count(e) > 1}))
    st.caption(f"Measured now on this machine (median of 3 steps). The plan replicated {copied}; the busiest GPU "
               f"went from {max(before['rows']):,} to {max(after['rows']):,} token copies. Other users share these "
               "cores, so times move from run to run; the token copies do not.")


controls = app.sidebar("moeviz · Replicas")
st.title("Hot experts, replicated")
st.caption("Serving and training systems record which experts every token used: this page reads such dumps "
           "from vLLM and SGLang (systems that serve models to many users) and Megatron-Core (which trains them). "
           "Bring a dump, see which experts are hot, and plan for them with EPLB, DeepSeek's "
           f"load balancer for {glossary_link('Expert parallelism', 'expert parallelism')} (the experts spread over "
           "GPUs, so the GPU with the busiest experts sets the pace): it plans replicas (extra copies) of the busiest experts and places them "
           "on GPUs. "
           f"Then run the plan. Sections 3 and 7 start from one layout: {DEFAULT_GPUS} GPUs, {DEFAULT_REPLICAS} "
           "redundant replicas.")
sidebar_note = st.empty()  # filled once the dump is read: it names the dump's own N and k
loaded = load_routing()
sidebar_scope(sidebar_note, controls, loaded[0] if loaded is not None else None)
if loaded is not None:
    summary, where = loaded
    layer_index = show_summary(summary, where)
    plan_section(summary, layer_index)
    drops, cf = drops_section(summary, layer_index)
    journeys_section(summary, layer_index, drops, cf)
    logits_section(summary, layer_index)
run_section(controls)

app.finish_page()
