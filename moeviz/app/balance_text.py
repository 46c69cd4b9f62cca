"""/balance's explanation of one run, in words picked from that run's own numbers (pure Python, no streamlit).

A balanced run must not be told it collapsed: the paragraphs are chosen by the run's final load (max/mean and
the experts left nearly idle), and each quotes its numbers. `explain_run(history.final(), history.config)`.
"""
from __future__ import annotations

from moeviz.routers import router_spec

SKEWED_START = 1.3  # max/mean load at step 1 from which the untrained router is called skewed
BALANCED_LOAD = 1.3  # final max/mean below this, with no idle expert: the run is called balanced
COLLAPSED_LOAD = 2.0  # final max/mean from this (or any expert left nearly idle): the run is called collapsed
LARGE_WEIGHT = 1.0  # α from which the explanation warns that the task pays for the balance


def verdict(f: dict) -> str:
    """"balanced", "uneven" or "collapsed", from the final max/mean load and the nearly idle experts."""
    if f["max_mean_load"] >= COLLAPSED_LOAD or f["idle_experts"] > 0:
        return "collapsed"
    return "balanced" if f["max_mean_load"] < BALANCED_LOAD else "uneven"


def _load_paragraph(f: dict, cfg: dict) -> str:
    if router_spec(cfg["router"]).experts_choose:
        return (f"*Load imbalance.* With expert choice each expert picks exactly C tokens, so the load is even by "
                f"construction (busiest expert **{f['max_mean_load']:.2f}×** the mean) and a balance loss has "
                f"little to fix. Its failure mode is the other way round: a token that no expert picked gets "
                f"only the residual path ({f['dropped_fraction']:.1%} of tokens over the last "
                f"{f['window_steps']} steps).")
    first = f["first_max_mean_load"]
    opening = (f"already took **{first:.2f}×** its fair share: every token carries the same offset, so the "
               f"untrained router favours a few experts for all of them" if first >= SKEWED_START else
               f"took **{first:.2f}×** its fair share: close to even before any training")
    return (f"*Load imbalance.* At step 1 the busiest expert {opening}. Over the last {f['window_steps']} "
            f"steps the busiest expert took **{f['max_mean_load']:.2f}×** the mean load (1.00 would be "
            f"perfectly even), and {f['idle_experts']} of {cfg['num_experts']} experts got less than a quarter "
            f"of a fair share.")


def _outcome_paragraph(f: dict, cfg: dict) -> str:
    learned = (f"the chosen expert reveals **{f['specialization']:.0%}** of what it could about a token's cluster "
               f"(specialization), and the task loss ended at **{f['task_loss']:.3f}**")
    if router_spec(cfg["router"]).experts_choose:
        return f"*What was learned.* Here {learned}."
    kind = verdict(f)
    if kind == "collapsed":
        text = ("*Expert collapse.* This run collapsed onto a few experts. An expert that gets more tokens gets "
                "more gradient, becomes better, and so is chosen even more: without enough push back the router "
                f"settles on a few experts and the rest stop learning. Here {learned}.")
    elif kind == "uneven":
        text = (f"*Uneven, not collapsed.* Every expert still gets a real share, but the busiest takes "
                f"{f['max_mean_load']:.2f}× the mean: the balance push is not strong enough to even it out, or the "
                f"run is too short. Here {learned}.")
    else:
        text = (f"*Balanced.* The push towards balance held: no expert collapsed and the busiest took only "
                f"{f['max_mean_load']:.2f}× the mean. Here {learned}. Train with α = 0 to see the opposite: an "
                "expert that gets more tokens gets more gradient and is chosen even more, until a few take it all.")
    if cfg["method"] != "aux_free" and cfg["balance_weight"] >= LARGE_WEIGHT:
        text += (f" A weight as large as α = {cfg['balance_weight']:g} evens the load but drowns the task's signal "
                 "to the router: compare specialization and task loss with α = 0.3.")
    return text


def _cost_paragraph(f: dict) -> str:
    return (f"*What imbalance costs.* Systems pay for it in one of two ways. With a fixed capacity (Switch, GShard) "
            f"each expert gets C = ⌈cf · T · k / N⌉ slots; at cf = 1.25, Switch's training factor, this final load "
            f"would overflow **{f['overflow_at_1_25']:.1%}** of all token copies: those copies skip their expert "
            f"(dropped; the token keeps its other experts), while the idle experts' empty slots are still "
            f"computed. Dropless MoE (HF Mixtral and OLMoE, DeepSeek-V3, MegaBlocks) runs every chosen expert on "
            f"all the tokens that chose it: nothing is dropped, but with experts on separate devices everyone waits "
            f"for the busiest one. Set a capacity factor in the sidebar to train with drops; the dropped-slots "
            f"curve then shows them.")


def explain_run(f: dict, cfg: dict) -> str:
    """The explanation's Markdown for a run's final summary `f` (TrainHistory.final()) and its config."""
    how = ("the aux-loss-free bias" if cfg["method"] == "aux_free" else f"balance weight α = {cfg['balance_weight']:g}")
    head = f"**What this run shows** ({how}, {cfg['num_experts']} experts, k = {cfg['top_k']}, {f['steps']} steps)."
    return "\n\n".join((head, _load_paragraph(f, cfg), _outcome_paragraph(f, cfg), _cost_paragraph(f)))
