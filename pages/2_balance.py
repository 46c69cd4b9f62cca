"""Load-balancing lab: train a small MoE live with the balance-loss weight and watch collapse or balance."""
import streamlit as st

import moeviz.app as app
from moeviz.app.runners import precision_rows
from moeviz.app.balance_text import explain_run
from moeviz.config import MoEConfig
from moeviz.routers import router_spec
from moeviz.figures import balance as figs
from moeviz.glossary import MEASURES
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
Z_LOSS_WEIGHTS = (0.0, 0.001, 0.01, 0.1, 1.0)  # 0.001: ST-MoE's and transformers' SwitchTransformers default


def train_config(controls, method: str, steps: int, lr: float, weight: float | None = None,
                 z_loss_weight: float = 0.0) -> TrainConfig:
    aux_free = method == "aux_free"
    router = "sigmoid_bias" if aux_free else controls.router
    return TrainConfig(
        num_experts=controls.num_experts, top_k=MoEConfig.routed_top_k(router, controls.top_k),
        router=router, capacity_factor=controls.capacity_factor,
        balance_weight=0.0 if aux_free else (controls.balance_weight if weight is None else weight),
        method=method, steps=steps, lr=lr, seed=controls.seed, z_loss_weight=z_loss_weight)


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


def run_sweep(controls, steps: int, lr: float, z_weight: float, live) -> list[dict]:
    summaries = []
    for weight in SWEEP_WEIGHTS:
        cfg = train_config(controls, "aux_loss", steps, lr, weight, z_weight)
        summaries.append(train_live(cfg, f"α = {weight:g}", live, keep=False).final())
        st.session_state[SWEEP] = summaries
    return summaries


def explain(history: TrainHistory) -> None:
    st.markdown(explain_run(history.final(), history.config))


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
    cols[2].metric("specialization", f"{f['specialization']:.0%}", help=MEASURES["specialization"])
    # expert choice's dropped_fraction counts the tokens no expert picked, not token copies
    cols[3].metric("tokens no expert picked" if router_spec(cfg["router"]).experts_choose else "dropped token copies",
                   f"{f['dropped_fraction']:.1%}")
    app.chart(figs.load_heatmap(history), key="load_heatmap")
    app.chart(figs.loss_curves(history), key="loss_curves")
    app.chart(figs.health_curves(history), key="health_curves")
    st.caption(f"{MEASURES['load CV']} {MEASURES['specialization']}")
    left, right = st.columns([3, 2])
    app.chart(where=left, fig=figs.assignment_matrix(history), key="assignment")
    with right, app.fold("What this run shows"):  # folded in presenter mode: the figures come first
        explain(history)


controls = app.sidebar("moeviz · Load balancing")
st.title("Load balancing: collapse or balance, trained live")
intro = app.fold("What this lab does")
intro.markdown(
    "A fresh MoE layer learns a made-up task: tokens come from 8 clusters (some much more common than others), "
    "and each cluster needs its own function, so the best router gives each cluster its own experts. "
    "Pick the balance-loss weight α in the sidebar and train. Try α = 0 (collapse), 0.3 (balanced) and 1; "
    "the sweep also trains α = 10, where balance wins and the task pays. Set a capacity factor to see what "
    "imbalance costs in dropped slots: token copies that found their expert full.")
intro.caption(
    "Why 0.3 here when real models use 0.01–0.001 (transformers' configs default to 0.01 for OLMoE and to 0.001 "
    "for Mixtral, Qwen-MoE, GPT-OSS and Switch Transformers, as of transformers 5.24): "
    "this lab trains one layer for a few hundred steps of 256 tokens, starting from a router that is skewed on purpose. A real model sees "
    "millions of tokens per step, so each expert's share is measured with little noise, and has dozens of MoE "
    "layers and hundreds of thousands of steps for a gentle push to act; a large weight there costs quality.")

layer_line_slot = st.empty()  # filled once the knobs below have said which layer the lab trains

left, mid, right = st.columns(3)
mode = app.linked(left.radio, "Mode", MODES, key="balance_mode", default="single",
                  parse=app.parse_choice(list(MODES)), format_func=MODES.get)
method = app.linked(mid.radio, "Balancing method", METHODS, key="balance_method", default="aux_loss",
                    parse=app.parse_choice(list(METHODS)), format_func=METHODS.get)
steps = app.linked(right.select_slider, "Training steps", STEP_COUNTS, key="train_steps", default=300,
                   parse=app.parse_int_choice(STEP_COUNTS))
lr = app.linked(right.select_slider, "Learning rate (Adam)", LEARNING_RATES, key="train_lr", default=0.01,
                parse=app.parse_float_choice(LEARNING_RATES))
z_weight = app.linked(mid.select_slider, "Router z-loss weight", Z_LOSS_WEIGHTS, key="z_loss_weight", default=0.0,
                      parse=app.parse_float_choice(Z_LOSS_WEIGHTS), format_func=lambda w: "0 (off)" if w == 0 else f"{w:g}",
                      help="Adds weight × mean logsumexp(router logits)² to the loss (ST-MoE's z-loss). "
                           "It is always recorded; see section “Router z-loss” below.")
app.layer_line(train_config(controls, method, steps, lr).layer_config(), trained=True, where=layer_line_slot,
               note="It starts from random weights and is trained live on this page, on the made-up task above, "
                    "when you press Train")
if mode == "sweep" and method == "aux_free":
    st.caption("The sweep varies α, so it uses the balance loss.")

go_col, stop_col = st.columns([1, 5])
start = go_col.button("Train" if mode == "single" else "Run sweep", type="primary", key="balance_train")
stop_col.button("Stop", key="balance_stop", help="Stops after the current update; what was trained is kept.")
progress, live = st.empty(), st.empty()  # filled while training, emptied when done

if start and mode == "single":
    cfg = train_config(controls, method, steps, lr, z_loss_weight=z_weight)
    with_trainer(lambda: train_live(cfg, "Training", live))
elif start:
    st.session_state.pop(SWEEP, None)
    with_trainer(lambda: run_sweep(controls, steps, lr, z_weight, live))

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

st.header("Router z-loss, and why routers run in fp32")
st.markdown(
    "The **z-loss** (ST-MoE, Zoph et al. 2022) is the mean over tokens of logsumexp(router logits)²: small when "
    "the logits stay small. Nothing else in training stops them from growing, and large logits hurt in two "
    "ways: the softmax saturates (one expert gets probability ≈ 1, its gradient vanishes), and in low "
    "precision the small differences between large numbers are rounded away. The lab records it on every run; "
    "set a **router z-loss weight** above and train to penalise it (ST-MoE and transformers' "
    "SwitchTransformers config use 0.001, as of transformers 5.24; this lab's tiny run needs more to show).")
if st.session_state.get(RUN):
    kept = TrainHistory.from_dict(st.session_state[RUN])
    app.chart(figs.z_loss_curve(kept, f"Router z-loss of the last run (z-loss weight "
                                      f"{kept.config.get('z_loss_weight', 0.0):g})"), key="z_loss")
    st.caption("Train once with weight 0 and once with 0.1 on the same seed: the penalised run ends with a "
               "smaller logsumexp, and so smaller router logits.")
st.markdown(
    "**Why fp32.** bfloat16, the usual training format, keeps 8 significant bits, so the step between "
    "neighbouring numbers grows with their size: 1/64 near 2, 1/8 near 20, 1 near 200. Real MoE code therefore "
    "computes the router and its softmax in fp32 (the Switch Transformer's “selective precision”; "
    "transformers' `DeepseekV3TopkRouter` casts to float32), and so does this app. Below, a random layer's "
    "router logits (the sidebar's N, k and seed, 256 seeded tokens), scaled up as a router's logits can grow, "
    "routed softmax → top-k exactly and again after rounding them to bfloat16:")
st.dataframe([{"logits × ": f"{r['scale']:g}", "largest |logit|": f"{r['largest_logit']:.1f}",
               "bf16 step there": f"{r['bf16_step']:g}", "max |Δ probability|": f"{r['max_prob_error']:.4f}",
               "max |Δ combine weight|": f"{r['max_weight_error']:.4f}",
               "tokens with other experts": f"{r['changed_choice']:.1%}",
               "tokens tied at the k-th expert": f"{r['tied_choice']:.1%}"}
              for r in precision_rows(controls.num_experts, controls.top_k, controls.seed)], hide_index=True)
st.caption("A tie at the k-th expert means two experts' logits became the same bfloat16 number, so only the "
           "experts' order in memory decides which one runs. Routing in fp32 keeps both decisions and weights "
           "as the router computed them; the z-loss keeps the logits small enough that rounding matters less.")
