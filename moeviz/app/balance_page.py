"""/balance's sections: the lab's knobs, training live, the results, what a weight costs, z-loss and fp32.

One function per section (pages/2_balance.py lists them). Runs up to AT_ONCE_STEPS long are trained when the page
needs them, through the one cache (`runners.lab_run`, shared by the price table, the results and the sweep); the
Train button trains live through `moeviz.train` as a module (`lab.train_iter`), and the server's bound is
`runners.trainer_slot`, so that tests can count or hold them. Session state keeps plain history dicts (never a
model) and the knobs of this run as a frozen LabSettings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st

import moeviz.app as app
from moeviz import train as lab
from moeviz.app import runners
from moeviz.app.balance_text import (LOGSUMEXP, ROUTING_PRECISION, SHARED_OFFSET, SPECIALIZATION, TASK_LOSS,
                                     WHY_ALPHA_IS_LARGE, cluster_map_words, explain_price, explain_run,
                                     explain_z_loss, method_captions, no_drops_words, pick_alpha_words,
                                     precision_words, router_entropy_words, run_words)
from moeviz.app.tables import table
from moeviz.config import MoEConfig
from moeviz.figures import balance as figs
from moeviz.glossary import BALANCE_LOSS_FORMULA, BALANCE_LOSS_VALUE, MEASURES, PAPERS, glossary_link
from moeviz.routers import router_spec

RUN, SWEEP = "balance_run", "balance_sweep"  # session state: plain history dicts only, never a model
METHODS = {"aux_loss": "Balance loss (weight α from the sidebar)",
           "aux_free": "Aux-loss-free: DeepSeek-V3 selection bias (router forced to sigmoid + bias)"}
MODES = {"single": "Single run", "sweep": "Sweep of weights"}
STEP_COUNTS = (50, 100, 200, 300, 500, 1000)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03)
DEFAULT_STEPS, DEFAULT_LR = 300, 0.01
REPORT_EVERY = 25  # steps between chart updates while training
WAIT_S = 180  # how long a run waits for a free trainer before giving up
# The z-loss pair's penalised weight. 0.001: ST-MoE's and transformers' SwitchTransformers default, and already
# enough here (seed 0: z 16.6 → 0.50, largest logit 3.37 → −0.16); 0 ("off") is gone: the pair always has a run
# without the z-loss, and an old link's 0 gets a notice and the nearest weight.
Z_LOSS_WEIGHTS = (0.001, 0.01, 0.1, 1.0)
DEFAULT_Z_LOSS_WEIGHT = 0.001
PRICE_WEIGHTS = (0.0, 0.3, 10.0)  # none, the lab's good weight, "balance at any price"; the sidebar's α joins them
GOOD_WEIGHT = 0.3
AT_ONCE_STEPS = DEFAULT_STEPS  # runs this long or shorter train when shown (about a second each); longer wait for Train
MS_PER_STEP = 3.5  # CPU ms of one lab step, N = 8 to 64 alike (2.1-3.5 measured): the buttons' time estimate


@dataclass(frozen=True)
class LabSettings:
    """The page's own knobs for this run (the sidebar gives N, k, router, capacity, α and the seed)."""
    mode: str
    method: str
    steps: int
    lr: float


@dataclass(frozen=True)
class Live:
    """Where a run draws while it trains: a progress bar and the growing charts (emptied when done)."""
    progress: object
    charts: object


def train_config(controls, method: str, steps: int, lr: float, weight: float | None = None,
                 z_loss_weight: float = 0.0) -> lab.TrainConfig:
    aux_free = method == "aux_free"
    router = "sigmoid_bias" if aux_free else controls.router
    return lab.TrainConfig(
        num_experts=controls.num_experts, top_k=MoEConfig.routed_top_k(router, controls.top_k),
        router=router, capacity_factor=controls.capacity_factor,
        balance_weight=0.0 if aux_free else (controls.balance_weight if weight is None else weight),
        method=method, steps=steps, lr=lr, seed=controls.seed, z_loss_weight=z_loss_weight)


def intro(controls) -> None:
    """What the lab does, and what each weight costs, measured at the page's defaults (not behind a button)."""
    st.title("Load balancing: collapse or balance, trained on this page")
    with app.fold("What this lab does"):
        # The table first, after a short lead: on a phone the longer paragraph filled the screen before it.
        # The task first (a newcomer met it only under the table), kept short: the lead stays a few phone lines.
        st.markdown(
            f"The task: an MoE layer learns 8 clusters (each token {lab.ClusterTask().d_model} numbers "
            "near its cluster's centre); an expert serving few clusters learns theirs well. α weighs the **balance "
            "loss**, a push towards an even load (defined under the table). Each α's cost, trained now:")
        price_table(controls)
        st.markdown(
            "The balance-loss weight α pushes the layer's load towards even. " + SHARED_OFFSET + " Some clusters are much more common than others (cluster c is drawn with "
            "probability proportional to 1/(c+1)), so giving each cluster its own experts loads them unevenly. "
            + pick_alpha_words(PRICE_WEIGHTS, DEFAULT_STEPS, DEFAULT_LR) + " Try α = 0 (collapse), 0.3 (an even "
            "load) and the default 0.01; α = 10 (balance at any price) is past the sidebar's range (0 to 1). Set a capacity "
            "factor to see what imbalance costs in dropped copies: token copies that found their expert full.")
        st.caption(WHY_ALPHA_IS_LARGE)


def price_table(controls) -> None:
    """α = 0, the sidebar's, 0.3 and 10 trained on the sidebar's layer: the load each evens out and what the task
    pays (the sidebar's run is the one the results show at the default)."""
    cfg = train_config(controls, "aux_loss", DEFAULT_STEPS, DEFAULT_LR)
    router, top_k, chosen = cfg.router, cfg.top_k, controls.balance_weight
    weights = sorted({*PRICE_WEIGHTS, chosen})
    histories = lab_runs([train_config(controls, "aux_loss", DEFAULT_STEPS, DEFAULT_LR, w) for w in weights])
    if histories is None:
        return
    rows = [history.final() for history in histories]
    drops = cfg.capacity_factor is not None
    table([{"α": f"{f['balance_weight']:g}" + (" (sidebar)" if f["balance_weight"] == chosen else ""),
            figs.LOAD_RATIO: f"{f['max_mean_load']:.2f}",
            "task loss": f"{f['task_loss']:.3f}",
            "specialization": f"{f['specialization']:.0%}",
            **({figs.DROPPED: f"{f['dropped_fraction']:.1%}"} if drops else {})} for f in rows],
          key="price", hide_index=True)
    # The columns' words, defined here where a learner first meets them (not two screens further down).
    st.caption(f"**Balance loss** (Switch Transformer): {BALANCE_LOSS_FORMULA} {BALANCE_LOSS_VALUE} Training adds "
               f"α × it to the task's loss ({glossary_link('Load balancing loss', 'more in the glossary')}). "
               f"**{figs.LOAD_RATIO.capitalize()}**: the busiest expert's tokens as a multiple of the average expert's (1 = even). "
               f"{TASK_LOSS} {SPECIALIZATION} (More: {glossary_link('Mutual information', 'the glossary')}.)")
    st.markdown(f"Measured now, {DEFAULT_STEPS} steps each on this layer (router {router_spec(router).label}, "
                f"N = {controls.num_experts}, k = {top_k}, seed {controls.seed}; a lower task loss is better):\n\n"
                + explain_price(rows, cfg.capacity_factor, GOOD_WEIGHT))


def mode_captions() -> list[str]:
    """One line under each mode of the radio: what it trains and where it shows."""
    weights = ", ".join(f"{w:g}" for w in lab.SWEEP_WEIGHTS)
    return ["One run with the sidebar's α; the results below draw it step by step.",
            f"{len(lab.SWEEP_WEIGHTS)} runs, α = {weights}, one after another; a chart then puts each run's load "
            "against its task loss."]


def knobs(controls) -> LabSettings:
    """The lab's own controls, and the layer line for the layer they train."""
    layer_line_slot = st.empty()  # filled once the knobs below have said which layer the lab trains
    left, mid, right = st.columns(3)
    mode = app.linked(left.radio, "Mode", MODES, key="balance_mode", default="single",
                      parse=app.parse_choice(list(MODES)), format_func=MODES.get, captions=mode_captions())
    method = app.linked(mid.radio, "Balancing method", METHODS, key="balance_method", default="aux_loss",
                        parse=app.parse_choice(list(METHODS)), format_func=METHODS.get,
                        captions=method_captions(list(METHODS)))
    steps = app.linked(right.select_slider, "Training steps", STEP_COUNTS, key="train_steps", default=DEFAULT_STEPS,
                       parse=app.parse_int_choice(STEP_COUNTS))
    lr = app.linked(right.select_slider, "Learning rate (Adam)", LEARNING_RATES, key="train_lr", default=DEFAULT_LR,
                    parse=app.parse_float_choice(LEARNING_RATES),
                    help="How large a step each update takes. Adam is the usual optimiser for neural networks: it "
                         "scales each weight's step by how large that weight's recent gradients were.")
    app.knobs_here("aux_free" if method == "aux_free" and mode == "single" else "aux_loss")
    app.layer_line(train_config(controls, method, steps, lr).layer_config(), trained=False, where=layer_line_slot,
                   trains_here=True, note="It is trained on this page, on the made-up task above: "
                        f"at once for runs of up to {AT_ONCE_STEPS} steps, live when you press Train")
    if mode == "sweep" and method == "aux_free":
        st.caption("The sweep varies α, so it uses the balance loss.")
    return LabSettings(mode, method, steps, lr)


def with_trainer(fn):
    """Run fn() holding a trainer slot; while the server's slots are all busy, say so and wait."""
    with runners.trainer_slot(timeout=0) as free:
        if free:
            return fn()
    note = st.info(f"Waiting for a free trainer… (at most {runners.MAX_CONCURRENT_TRAINERS} runs train at once)",
                   icon=":material/hourglass:")
    with runners.trainer_slot(timeout=WAIT_S) as free:
        note.empty()
        if not free:
            st.warning("The trainers stayed busy: try again in a moment.")
            return None
        return fn()


def train_live(cfg: lab.TrainConfig, label: str, live: Live, keep: bool = True) -> lab.TrainHistory:
    """Train with a progress bar, redrawing the live charts every REPORT_EVERY steps."""
    bar = live.progress.progress(0.0, text=label)
    for history in lab.train_iter(cfg, report_every=REPORT_EVERY):
        if keep:
            st.session_state[RUN] = history.to_dict()  # a stopped run keeps what it reached
        bar.progress(history.steps_done / cfg.steps, text=f"{label}: step {history.steps_done} / {cfg.steps}")
        with live.charts.container():
            n = history.steps_done
            app.chart(figs.load_heatmap(history, "Expert load so far"), key=f"live_load_{label}_{n}")
            app.chart(figs.loss_curves(history, None), key=f"live_loss_{label}_{n}")
    bar.empty()
    live.charts.empty()
    return history


def run_sweep(controls, settings: LabSettings, live: Live) -> list[dict]:
    summaries = []
    for weight in lab.SWEEP_WEIGHTS:
        cfg = train_config(controls, "aux_loss", settings.steps, settings.lr, weight)
        summaries.append(train_live(cfg, f"α = {weight:g}", live, keep=False).final())
        st.session_state[SWEEP] = summaries
    return summaries


def training(controls, settings: LabSettings) -> bool:
    """The Train / Stop buttons; trains on a click. Returns whether this run started training."""
    go_col, stop_col = st.columns([1, 5])
    start = go_col.button("Train" if settings.mode == "single" else "Run sweep", type="primary",
                          key="balance_train")
    stop_col.button("Stop", key="balance_stop", help="Stops after the current update; what was trained is kept.")
    st.caption(button_caption(settings))
    live = Live(st.empty(), st.empty())  # filled while training, emptied when done
    if start and settings.mode == "single":
        cfg = train_config(controls, settings.method, settings.steps, settings.lr)
        with_trainer(lambda: train_live(cfg, "Training", live))
    elif start:
        st.session_state.pop(SWEEP, None)
        with_trainer(lambda: run_sweep(controls, settings, live))
    return start


def at_once(settings: LabSettings) -> bool:
    """Whether this mode's runs are short enough to train when shown, before any button."""
    return settings.steps <= AT_ONCE_STEPS


def button_caption(settings: LabSettings) -> str:
    """What Train / Run sweep will do and roughly how long it takes (the runs shown already, or still to come)."""
    sweep = settings.mode == "sweep"
    seconds = (len(lab.SWEEP_WEIGHTS) if sweep else 1) * settings.steps * MS_PER_STEP / 1000
    took = f"about {seconds:.0f} s" if seconds >= 1.5 else "about a second"
    noun, button = ("sweep", "Run sweep") if sweep else ("run", "Train")
    sizes = (f"α = {', '.join(f'{w:g}' for w in lab.SWEEP_WEIGHTS)}, {settings.steps} steps each" if sweep
             else f"{settings.steps} steps")
    if at_once(settings):
        return (f"The {noun} below ({sizes}) was trained when the page needed it ({took} on a quiet server, then "
                f"remembered). **{button}** trains it again live, its charts redrawn every {REPORT_EVERY} steps.")
    return (f"**{button}** trains the {noun} live ({sizes}): {took} on a quiet server, longer while others "
            f"train. Runs over {AT_ONCE_STEPS} steps wait for the button.")


def lab_runs(configs: list[lab.TrainConfig]) -> list[lab.TrainHistory] | None:
    """The cached runs of `configs` (each trained now if new); None, with a note, while the trainers stay busy."""
    histories = []
    with st.spinner(f"Training {len(configs)} run(s) of {configs[0].steps} steps (about a second per 300 steps, "
                    "then remembered)…"):
        for cfg in configs:
            try:
                histories.append(runners.lab_run(cfg, WAIT_S))
            except runners.TrainersBusy:
                st.info("The trainers are busy, so these runs wait: reload in a moment.")
                return None
    return histories


def sweep_at_once(controls, settings: LabSettings) -> list[dict] | None:
    """The sweep's final summaries from the cache (at the default, four of its weights are the price table's)."""
    histories = lab_runs([train_config(controls, "aux_loss", settings.steps, settings.lr, weight)
                          for weight in lab.SWEEP_WEIGHTS])
    return None if histories is None else [history.final() for history in histories]


def _same_settings(data: dict, cfg: lab.TrainConfig) -> bool:
    """Whether a kept run's config is `cfg` (the task is the page's one, fixed; its seed follows the run's)."""
    return {k: v for k, v in data["config"].items() if k != "task"} == {
        k: v for k, v in asdict(cfg).items() if k != "task"}


def shown_run(controls, settings: LabSettings) -> tuple[lab.TrainHistory | None, str]:
    """The single run to show and where it comes from: the run trained live for these knobs (kept, possibly
    stopped), else the cached run of these knobs if short enough, else the last run trained live."""
    kept = st.session_state.get(RUN)
    cfg = train_config(controls, settings.method, settings.steps, settings.lr)
    if kept and _same_settings(kept, cfg):
        return lab.TrainHistory.from_dict(kept), "trained live, kept for this session"
    if settings.mode == "single" and at_once(settings):
        histories = lab_runs([cfg])
        return (histories[0], "trained when the page needed it") if histories else (None, "")
    return (lab.TrainHistory.from_dict(kept), "the last run trained live, kept for this session") if kept else (
        None, "")


def results(controls, settings: LabSettings, started: bool) -> lab.TrainHistory | None:
    """The sweep's trade-off and the single run (trained at once when short enough). Returns the run shown."""
    summaries = None
    if settings.mode == "sweep":
        summaries = sweep_at_once(controls, settings) if at_once(settings) else st.session_state.get(SWEEP)
    if summaries:
        app.chart(figs.tradeoff_chart(summaries), key="tradeoff")
        table([{"α": s["balance_weight"], figs.LOAD_RATIO: round(s["max_mean_load"], 2),
                "task loss": round(s["task_loss"], 4), "specialization": round(s["specialization"], 2)}
               for s in summaries], key="sweep", hide_index=True)
        st.markdown("Left of the chart the load is even; low means the task is learned well. α = 0 sits far right "
                    "(collapse); the largest weights sit at load ≈ 1 but higher up (the task pays). "
                    "A good weight is where the curve turns.")
    history, source = shown_run(controls, settings)
    if history is not None:
        st.header("Last single run" if settings.mode == "sweep" else "Results")
        show_run(history, source)
    elif not started and not summaries:
        st.info(f"Press **{'Run sweep' if settings.mode == 'sweep' else 'Train'}** to start (what it trains and "
                "how long it takes: just above).", icon=":material/play_arrow:")
    return history


def show_run(history: lab.TrainHistory, source: str) -> None:
    cfg = history.config
    done, total = history.steps_done, cfg["steps"]
    status = "finished" if done == total else f"stopped at step {done} of {total}"
    st.caption(f"Run {source} ({status}): {run_words(cfg)}, learning rate {cfg['lr']:g}, seed {cfg['seed']}.")
    f = history.final()
    cols = st.columns(4)
    cols[0].metric(figs.LOAD_RATIO, f"{f['max_mean_load']:.2f}")
    cols[1].metric("task loss", f"{f['task_loss']:.3f}")
    cols[2].metric("specialization", f"{f['specialization']:.0%}", help=MEASURES["specialization"])
    # expert choice's dropped_fraction counts the tokens no expert picked, not token copies
    experts_choose = router_spec(cfg["router"]).experts_choose
    no_limit = cfg["capacity_factor"] is None and not experts_choose
    cols[3].metric("tokens no expert picked" if experts_choose else figs.DROPPED, f"{f['dropped_fraction']:.1%}",
                   help=no_drops_words(f) if no_limit else None)
    if no_limit and not app.presenting():  # presenter mode: the figures first, the words in the metric's help
        st.caption(no_drops_words(f))
    app.chart(figs.load_heatmap(history), key="load_heatmap")
    app.chart(figs.loss_curves(history), key="loss_curves")
    st.caption("The balance loss's dotted line marks 1, its value for perfectly even routing. It is a reference, "
               "not a floor: it dips a little below 1 when the experts that get more than their share of copies get "
               "less than their share of router probability.")
    # The words before the charts that use them: read after the charts, a newcomer met "load CV" and "router
    # entropy (nats)" as bare titles first.
    st.caption(f"**The routing-health charts below.** {MEASURES[figs.LOAD_RATIO]} {MEASURES['load CV']} "
               f"{router_entropy_words(cfg['num_experts'])} {MEASURES['specialization']} "
               f"(More: {glossary_link('Mutual information', 'mutual information in the glossary')}.) {TASK_LOSS}")
    app.chart(figs.health_curves(history), key="health_curves")
    # The page's full width: in the left of two columns it was narrower at 1024 px than on a phone.
    app.chart(figs.assignment_matrix(history), key="assignment")
    st.caption(cluster_map_words(history.config))
    if not figs.cluster_numbers_fit(figs.cluster_shares(history)):
        st.caption(f"With {cfg['num_experts']} experts the map prints no numbers (on a phone its cells are too "
                   "narrow for them): hover or tap a cell, or open the numbers just above.")
    with app.fold("What this run shows"):  # folded in presenter mode: the figures come first
        st.markdown(explain_run(history.final(), history.config))


def parse_z_weight(raw: str) -> float | app.Renamed:
    """The link's z-loss weight: one of Z_LOSS_WEIGHTS; an old link's 0 ("off", when the section drew one run)
    gives the nearest weight, with a notice."""
    try:
        if float(raw.strip()) == 0:
            return app.Renamed(Z_LOSS_WEIGHTS[0], "0 (off) is gone: the z-loss section now always "
                               "trains a run without the z-loss next to one with it; the link now says "
                               f"{Z_LOSS_WEIGHTS[0]:g}, the nearest weight.")
    except ValueError:
        pass  # the choice parser below says what is wrong
    return app.parse_float_choice(Z_LOSS_WEIGHTS)(raw)


def z_loss(controls, settings: LabSettings) -> None:
    """The router z-loss: what it penalises, and one run trained without and with it (the control sets the
    second run's weight), so the default shows what it does to z and to the largest logit."""
    # Two sections of their own: as one header and a subheader the same words stood twice, one under the other.
    st.header("Router z-loss")
    st.markdown(
        f"The **z-loss** ({glossary_link(PAPERS, 'ST-MoE')}, Zoph et al. 2022) is the mean over tokens of "
        f"logsumexp(router {glossary_link('Logit', 'logits')})², where "
        + LOGSUMEXP + ": small when each token's log-sum-exp is near 0. The softmax ignores a shift shared by all of a token's logits, so the "
        "router can meet it by moving **every logit down**: the z-loss keeps any logit from growing large and "
        "positive, not every logit small (their size can even grow while the z-loss falls). Large positive logits hurt in "
        "two ways: the softmax saturates (one expert gets probability ≈ 1, its gradient vanishes), and in low "
        "precision the small differences between large numbers are rounded away (next section). The same run, trained "
        "without and with the z-loss:")
    weight = app.linked(st.select_slider, "Router z-loss weight of the second run", Z_LOSS_WEIGHTS,
                        key="z_loss_weight", default=DEFAULT_Z_LOSS_WEIGHT, parse=parse_z_weight,
                        format_func=lambda w: f"{w:g}" + (" (ST-MoE's)" if w == DEFAULT_Z_LOSS_WEIGHT else ""),
                        help="Adds weight × mean logsumexp(router logits)² to the second run's loss (ST-MoE's "
                             "z-loss; transformers' router_z_loss_coef, 0.001 in its SwitchTransformers config).")
    # the slider shows only the chosen value: a reader could not tell which weights it offers
    st.caption(f"Weights to choose from: {', '.join(f'{w:g}' for w in Z_LOSS_WEIGHTS)}, each ten times the last; "
               "the first run always trains without the z-loss.")
    # The lab's layer and α as above, at most AT_ONCE_STEPS long so that both runs come from the cache at once.
    method = settings.method if settings.mode == "single" else "aux_loss"
    steps = min(settings.steps, AT_ONCE_STEPS)
    runs = lab_runs([train_config(controls, method, steps, settings.lr, z_loss_weight=z) for z in (0.0, weight)])
    if runs is None:
        return
    plain, penalised = runs
    app.chart(figs.z_loss_pair(plain, penalised, weight), key="z_loss")
    st.caption(explain_z_loss({**plain.final(), **plain.logit_summary()},
                              {**penalised.final(), **penalised.logit_summary()}, weight, steps)
               + f" (Both runs: {run_words(plain.config)}.)")


def precision(controls) -> None:
    """bf16 vs fp32 routing of one random layer's logits, with a shift shared by every logit."""
    layer = MoEConfig(d_model=32, d_hidden=8, num_experts=controls.num_experts,
                      top_k=min(controls.top_k, controls.num_experts), seed=controls.seed)
    # A short lead, then the table, its layer and the explanation under it: on a phone the whole paragraph and
    # the layer line came first, more than a screen of text before the table they explain.
    st.header("Which parts of routing run in fp32")
    st.markdown(
        f"Rounding router logits to {glossary_link('bf16 and fp32', 'bf16')} (a 16-bit format; fp32 has 32 bits) "
        "can give a token other experts, the more often the larger the logits. One random layer's logits, each "
        "shifted by the same number, routed exactly and in bf16:")
    rows = runners.precision_rows(controls.num_experts, controls.top_k, controls.seed)
    # The columns the caption quotes come first: at 1024 px the last ones are out of view until scrolled.
    table([{"every logit + ": f"{r['shift']:g}", "tokens with other experts": f"{r['changed_choice']:.1%}",
            "tokens tied at the k-th expert": f"{r['tied_choice']:.1%}",
            "largest |logit|": f"{r['largest_logit']:.1f}", "bf16 step there": f"{r['bf16_step']:g}",
            "max |Δ probability|": f"{r['max_prob_error']:.4f}",
            "max |Δ combine weight|": f"{r['max_weight_error']:.4f}"} for r in rows], key="bf16", hide_index=True)
    app.layer_line(layer, trained=False, section=True, knobs=("num_experts", "top_k", "seed"),
                   note="Not the lab's layer above: a random one of its own. Only its router's logits are used "
                        "here, on 256 seeded tokens; a shift shared by every logit leaves exact routing as it was")
    st.caption(precision_words(rows))
    st.markdown(ROUTING_PRECISION)
