"""Load-balancing lab: train a small MoE live with the balance-loss weight and watch collapse or balance."""
import streamlit as st

import moeviz.app as app
from moeviz.figures import balance as figs
from moeviz.train import (MAX_CONCURRENT_TRAINERS, SWEEP_WEIGHTS, TrainConfig, TrainHistory,
                          train_iter, trainer_slot)

RUN, SWEEP = "balance_run", "balance_sweep"  # session state: plain history dicts only, never a model
METHODS = {"aux_loss": "Balance loss (weight α from the sidebar)",
           "aux_free": "Aux-loss-free: DeepSeek-V3 selection bias (router forced to sigmoid + bias)"}
MODES = {"single": "Single run", "sweep": "Sweep of weights"}
STEP_COUNTS = (50, 100, 200, 300, 500, 1000)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03)
REPORT_EVERY = 25  # steps between chart updates while training
WAIT_S = 180  # how long a run waits for a free trainer before giving up
SKEWED_START = 1.3  # max/mean load at step 1 from which the explanation calls the untrained router skewed


def train_config(controls, method: str, steps: int, lr: float, weight: float | None = None) -> TrainConfig:
    aux_free = method == "aux_free"
    return TrainConfig(
        num_experts=controls.num_experts, top_k=controls.top_k,
        router="sigmoid_bias" if aux_free else controls.router, capacity_factor=controls.capacity_factor,
        balance_weight=0.0 if aux_free else (controls.balance_weight if weight is None else weight),
        method=method, steps=steps, lr=lr, seed=controls.seed)


def with_trainer(fn):
    """Run fn() holding a trainer slot; while the server's slots are all busy, say so and wait."""
    with trainer_slot(timeout=0) as free:
        if free:
            return fn()
    note = st.info(f"Waiting for a free trainer… (at most {MAX_CONCURRENT_TRAINERS} runs train at once)",
                   icon=":material/hourglass:")
    with trainer_slot(timeout=WAIT_S) as free:
        note.empty()
        if not free:
            st.warning("The trainers stayed busy: try again in a moment.")
            return None
        return fn()


def train_live(cfg: TrainConfig, label: str, live, keep: bool = True) -> TrainHistory:
    """Train with a progress bar, redrawing the live charts every REPORT_EVERY steps."""
    bar = progress.progress(0.0, text=label)
    for history in train_iter(cfg, report_every=REPORT_EVERY):
        if keep:
            st.session_state[RUN] = history.to_dict()  # a stopped run keeps what it reached
        bar.progress(history.steps_done / cfg.steps, text=f"{label}: step {history.steps_done} / {cfg.steps}")
        with live.container():
            n = history.steps_done
            app.chart(figs.load_heatmap(history, "Expert load so far"), key=f"live_load_{label}_{n}")
            app.chart(figs.loss_curves(history, None), key=f"live_loss_{label}_{n}")
    bar.empty()
    live.empty()
    return history


def run_sweep(controls, method: str, steps: int, lr: float, live) -> list[dict]:
    summaries = []
    for weight in SWEEP_WEIGHTS:
        cfg = train_config(controls, "aux_loss", steps, lr, weight)
        summaries.append(train_live(cfg, f"α = {weight:g}", live, keep=False).final())
        st.session_state[SWEEP] = summaries
    return summaries


def explain(history: TrainHistory) -> None:
    f, cfg = history.final(), history.config
    E, k = cfg["num_experts"], cfg["top_k"]
    first, idle, cost = f["first_max_mean_load"], f["idle_experts"], f["overflow_at_1_25"]
    how = ("the aux-loss-free bias" if cfg["method"] == "aux_free" else f"balance weight α = {cfg['balance_weight']:g}")
    if cfg["router"] == "expert_choice":
        start = (f"*Load imbalance.* With expert choice each expert picks exactly C tokens, so the load is even by "
                 f"construction (busiest expert **{f['max_mean_load']:.2f}×** the mean) and a balance loss has "
                 f"little to fix. Its failure mode is the other way round: a token that no expert picked gets "
                 f"only the residual path ({f['dropped_fraction']:.1%} of tokens over the last "
                 f"{f['window_steps']} steps).\n\n")
    else:
        opening = (f"already took **{first:.2f}×** its fair share: every token carries the same offset, so the "
                   f"untrained router favours a few experts for all of them" if first >= SKEWED_START else
                   f"took **{first:.2f}×** its fair share: close to even before any training")
        start = (f"*Load imbalance.* At step 1 the busiest expert {opening}. Over the last {f['window_steps']} "
                 f"steps the busiest expert took **{f['max_mean_load']:.2f}×** the mean load (1.00 would be "
                 f"perfectly even), and {idle} of {E} experts got less than a quarter of a fair share.\n\n")
    st.markdown(
        f"**What this run shows** ({how}, {E} experts, k = {k}, {f['steps']} steps).\n\n"
        + start +
        f"*Expert collapse.* An expert that gets more tokens gets more gradient, becomes better, and so is chosen "
        f"even more: without a push back the router settles on a few experts and the rest stop learning. Here the "
        f"chosen expert reveals **{f['specialization']:.0%}** of what it could about a token's cluster "
        f"(specialization), and the task loss ended at **{f['task_loss']:.3f}**. A very large weight evens the load "
        f"but drowns the task's signal to the router: load near 1.0, specialization and task loss worse.\n\n"
        f"*Why capacity makes imbalance expensive.* Real systems give each expert a fixed buffer, "
        f"C = ⌈cf · T · k / N⌉ slots. With cf = 1.25, this final load would overflow **{cost:.1%}** of all slots: "
        f"those token copies skip their expert (dropped), while idle experts' buffers are computed and wasted. "
        f"Set a capacity factor in the sidebar to train with drops; the dropped-slots curve then shows them.")


def show_run(data: dict) -> None:
    history = TrainHistory.from_dict(data)
    cfg = history.config
    done, total = history.steps_done, cfg["steps"]
    status = "finished" if done == total else f"stopped at step {done} of {total}"
    st.caption(f"Run kept for this session ({status}): router {cfg['router']}, {cfg['num_experts']} experts, "
               f"k = {cfg['top_k']}, method {cfg['method']}, α = {cfg['balance_weight']:g}, lr = {cfg['lr']:g}, "
               f"seed {cfg['seed']}.")
    f = history.final()
    cols = st.columns(4)
    cols[0].metric("max / mean load", f"{f['max_mean_load']:.2f}")
    cols[1].metric("task loss", f"{f['task_loss']:.3f}")
    cols[2].metric("specialization", f"{f['specialization']:.0%}")
    cols[3].metric("dropped slots", f"{f['dropped_fraction']:.1%}")
    app.chart(figs.load_heatmap(history), key="load_heatmap")
    app.chart(figs.loss_curves(history), key="loss_curves")
    app.chart(figs.health_curves(history), key="health_curves")
    left, right = st.columns([3, 2])
    app.chart(where=left, fig=figs.assignment_matrix(history), key="assignment")
    with right:
        explain(history)


controls = app.sidebar("moeviz · Load balancing")
st.title("Load balancing: collapse or balance, trained live")
st.markdown(
    "A fresh MoE layer learns a made-up task: tokens come from 8 clusters (some much more common than others), "
    "and each cluster needs its own function, so the best router gives each cluster its own experts. "
    "Pick the balance-loss weight α in the sidebar and train. Try α = 0 (collapse), 0.3 (balanced) and 1; "
    "the sweep also trains α = 10, where balance wins and the task pays. Set a capacity factor to see what "
    "imbalance costs in dropped tokens.")

left, mid, right = st.columns(3)
mode = left.radio("Mode", tuple(MODES), format_func=MODES.get, key="balance_mode",
                  index=list(MODES).index(app.url_value("balance_mode", "single", app.parse_choice(list(MODES)))))
method = mid.radio("Balancing method", tuple(METHODS), format_func=METHODS.get, key="balance_method",
                   index=list(METHODS).index(app.url_value("balance_method", "aux_loss",
                                                           app.parse_choice(list(METHODS)))))
steps = right.select_slider("Training steps", STEP_COUNTS, key="train_steps",
                            value=app.url_value("train_steps", 300, app.parse_int_choice(STEP_COUNTS)))
lr = right.select_slider("Learning rate (Adam)", LEARNING_RATES, key="train_lr",
                         value=app.url_value("train_lr", 0.01, app.parse_float_choice(LEARNING_RATES)))
for url_key, value in (("balance_mode", mode), ("balance_method", method), ("train_steps", steps), ("train_lr", lr)):
    app.set_url_value(url_key, value)
if mode == "sweep" and method == "aux_free":
    st.caption("The sweep varies α, so it uses the balance loss.")

go_col, stop_col = st.columns([1, 5])
start = go_col.button("Train" if mode == "single" else "Run sweep", type="primary", key="balance_train")
stop_col.button("Stop", key="balance_stop", help="Stops after the current update; what was trained is kept.")
progress, live = st.empty(), st.empty()  # filled while training, emptied when done

if start and mode == "single":
    cfg = train_config(controls, method, steps, lr)
    with_trainer(lambda: train_live(cfg, "Training", live))
elif start:
    st.session_state.pop(SWEEP, None)
    with_trainer(lambda: run_sweep(controls, method, steps, lr, live))

if mode == "sweep" and st.session_state.get(SWEEP):
    summaries = st.session_state[SWEEP]
    app.chart(figs.tradeoff_chart(summaries), key="tradeoff")
    st.dataframe([{"α": s["balance_weight"], "max/mean load": round(s["max_mean_load"], 2),
                   "task loss": round(s["task_loss"], 4), "specialization": round(s["specialization"], 2)}
                  for s in summaries], hide_index=True)
    st.markdown("Left of the chart the load is even; low means the task is learned well. α = 0 sits far right "
                "(collapse); the largest weights sit at load ≈ 1 but higher up (the task pays). "
                "A good weight is where the curve turns.")
if st.session_state.get(RUN):
    st.header("Last single run" if mode == "sweep" else "Results")
    show_run(st.session_state[RUN])
elif not start:
    st.info("Press **Train** to start. A 300-step run takes a few seconds.", icon=":material/play_arrow:")
