"""/balance's explanation of one run, in words picked from that run's own numbers (pure Python, no streamlit).

A balanced run must not be told it collapsed: the paragraphs are chosen by the run's final load (max/mean and
the experts left nearly idle), and each quotes its numbers. `explain_run(history.final(), history.config)`.
"""
from __future__ import annotations

import math

from moeviz.capacity_words import CAPACITY_FORMULA, capacity_symbols
from moeviz.glossary import FAILING_MAX_MEAN_LOAD, MEASURES, PAPERS, glossary_link
from moeviz.routers import router_spec

SKEWED_START = 1.3  # max/mean load at step 1 from which the untrained router is called skewed
BALANCED_LOAD = 1.3  # final max/mean below this, with no idle expert: the run is called balanced
COLLAPSED_LOAD = FAILING_MAX_MEAN_LOAD  # final max/mean from this (or any expert left nearly idle): collapsed, the
# glossary's "failing" line
LARGE_WEIGHT = 1.0  # α from which the explanation warns that the task pays for the balance

# The lab's words, each said in plain words where a learner first meets it (the price table, at the top), and
# quoted again where the numbers are drawn. TASK_LOSS states what moeviz.train computes: MSE / mean(y²).
TASK_LOSS = ("**Task loss**: how far the layer's outputs are from the targets (each cluster's own fixed random "
             "linear function of the token), as the mean squared error divided by the targets' mean square, so "
             "1.0 means no better than always predicting zero and 0 means perfect.")
# One wording of specialization on the page: the glossary's measure (a reader met two wordings of "100 %").
SPECIALIZATION = "**Specialization**" + MEASURES["specialization"].removeprefix("Specialization")
SHARED_OFFSET = ("Every token also carries the same **offset**: one fixed vector added to all of them (real hidden "
                 "states are not centred on zero either). The untrained router therefore prefers the same few "
                 "experts for every token: a skewed start, which stays skewed unless something pushes the load towards "
                 "even. That is **collapse**: a few experts take most tokens while others sit nearly idle. This page "
                 f"calls a run collapsed when its busiest expert takes {COLLAPSED_LOAD:g}× the mean load or more, or "
                 "an expert gets less than a quarter of the mean.")


def router_entropy_words(num_experts: int) -> str:
    """The health chart's "router entropy (nats)", defined with its ceiling ln N for this run's N."""
    return (f"**Router entropy**: how spread a token's router probabilities are, in nats (natural-log units): 0 = "
            f"all on one expert, at most ln N ≈ {math.log(num_experts):.2f} for N = {num_experts} (spread evenly). It "
            "measures how sure the router is about each token, not how even the load is: a router that has learnt "
            "falls below ln N, while the load over all tokens can still be even.")


def no_drops_words(f: dict) -> str:
    """Capacity off: why the dropped copies read 0, and what the same load would drop at Switch's 1.25 (the number
    the cost paragraph quotes)."""
    return (f"Capacity off: nothing is dropped (at capacity factor 1.25 this run's final load would overflow "
            f"{f['overflow_at_1_25']:.1%} of its token copies). Set a capacity factor in the sidebar to train "
            "with drops.")


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
    opening = (f"already took **{first:.2f}×** the mean load: every token carries the same shared offset (one "
               f"fixed vector added to all of them), so the untrained router favours a few experts for all of "
               f"them" if first >= SKEWED_START else
               f"took **{first:.2f}×** the mean load: close to even before any training")
    return (f"*Load imbalance.* At step 1 the busiest expert {opening}. Over the last {f['window_steps']} "
            f"steps the busiest expert took **{f['max_mean_load']:.2f}×** the mean load (1.00 would be "
            f"perfectly even), and {f['idle_experts']} of {cfg['num_experts']} experts got less than a quarter "
            f"of the mean load.")


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
    return (f"*What imbalance costs.* Systems pay for it in one of two ways. With a fixed "
            f"{glossary_link('Capacity factor', 'capacity')} (Google's Switch Transformer and GShard) each expert "
            f"gets {CAPACITY_FORMULA} slots "
            f"{capacity_symbols('the tokens in the batch, each sent as k copies, one per chosen expert')}; "
            f"at cf = 1.25, Switch's training factor, this final load would overflow **{f['overflow_at_1_25']:.1%}** of all token copies: those copies skip their expert "
            f"(dropped; the token keeps its other experts), while the idle experts' empty slots are still "
            f"computed. Dropless MoE (Mixtral and OLMoE in Hugging Face transformers, DeepSeek-V3, MegaBlocks) "
            f"runs every chosen expert on all the tokens that chose it: nothing is dropped, but with experts on "
            f"separate devices everyone waits for the busiest one. Set a capacity factor in the sidebar to train with drops; the dropped-copies "
            f"curve then shows them.")


def method_words(cfg: dict) -> str:
    """A run's balancing method in the page's words (never the code's "aux_loss" / "aux_free")."""
    return ("the aux-loss-free bias" if cfg["method"] == "aux_free" else
            f"the balance loss, α = {cfg['balance_weight']:g}")


def run_words(cfg: dict) -> str:
    """A run's layer and method in the page's words: router "softmax → top-k", N, k, method."""
    return (f"router {router_spec(cfg['router']).label}, {cfg['num_experts']} experts, k = {cfg['top_k']}, "
            f"{method_words(cfg)}")


def explain_run(f: dict, cfg: dict) -> str:
    """The explanation's Markdown for a run's final summary `f` (TrainHistory.final()) and its config."""
    head = (f"**What this run shows** ({method_words(cfg)}, {cfg['num_experts']} experts, k = {cfg['top_k']}, "
            f"{f['steps']} steps).")
    return "\n\n".join((head, _load_paragraph(f, cfg), _outcome_paragraph(f, cfg), _cost_paragraph(f)))


def _arrow(rows: list[dict], key: str, fmt: str) -> str:
    return " → ".join(format(r[key], fmt) for r in rows)


def _trade_sentence(pushed: list[dict]) -> str:
    """The weights above 0: one arrow per measure if the load evens and the task pays step by step, else which won."""
    evens = all(a["max_mean_load"] >= b["max_mean_load"] for a, b in zip(pushed, pushed[1:]))
    pays = all(a["task_loss"] <= b["task_loss"] for a, b in zip(pushed, pushed[1:]))
    if len(pushed) > 1 and evens and pays:
        return (f"Every weight above 0 stops the collapse, and each larger one buys a more even load with task loss "
                f"(α = {_arrow(pushed, 'balance_weight', 'g')}): the busiest expert takes "
                f"{_arrow(pushed, 'max_mean_load', '.2f')}× the mean load while the task loss rises "
                f"{_arrow(pushed, 'task_loss', '.3f')}.")
    low = min(pushed, key=lambda r: r["task_loss"])
    even = min(pushed, key=lambda r: r["max_mean_load"])
    return (f"Every weight above 0 stops the collapse; the lowest task loss came at α = {low['balance_weight']:g} "
            f"({low['task_loss']:.3f}) and the most even load at α = {even['balance_weight']:g} "
            f"({even['max_mean_load']:.2f}×).")


def _puzzle_sentence(low: dict, good: dict, capacity_factor: float | None) -> str:
    """Why a weight with a lower task loss than the lab's good one is no contradiction, and where it pays."""
    a, g = f"α = {low['balance_weight']:g}", f"α = {good['balance_weight']:g}"
    text = (f"So {a} ending with a *lower* task loss than {g} ({low['task_loss']:.3f} against "
            f"{good['task_loss']:.3f}) is no contradiction: it is the trade-off itself. A small weight is enough to "
            f"stop the collapse, and it leaves the load uneven ({low['max_mean_load']:.2f}× against "
            f"{good['max_mean_load']:.2f}×).")
    if capacity_factor is not None:
        return text
    return text + (
        " With no capacity limit an uneven load costs this task nothing (the busy experts simply compute "
        "more), so the push past that point is paid in task loss. The uneven load is paid for in hardware "
        f"instead: at a {glossary_link('Capacity factor', 'capacity factor')} of 1.25 (the Switch "
        f"Transformer's) the {a} load would overflow "
        f"**{low['overflow_at_1_25']:.1%}** of all token copies, and with experts on separate devices every "
        "step waits for the busiest. Set a capacity factor in the sidebar and the table trains again with "
        "the drops.")


def _drops_sentence(small: dict, good: dict, capacity_factor: float) -> str:
    """Under a capacity limit: the smallest push's drops against the good weight's, and whether the task felt them."""
    a, g = f"α = {small['balance_weight']:g}", f"α = {good['balance_weight']:g}"
    losses = f"(task loss {small['task_loss']:.3f} against {good['task_loss']:.3f})"
    return (f"With capacity factor {capacity_factor:g} an uneven load drops token copies: "
            f"**{small['dropped_fraction']:.1%}** at {a} against {good['dropped_fraction']:.1%} at {g}"
            + (f", and the task loss counts them {losses}." if small["task_loss"] > good["task_loss"] else
               f"; here that cost less than the push towards balance {losses}."))


def start_words(f: dict) -> str:
    """Where a run's load started, when it ended elsewhere: every run starts from the same skewed router (a reader
    saw α = 0 go from 3.92× to 3.04× with no push towards even, and no word why)."""
    first, last = f["first_max_mean_load"], f["max_mean_load"]
    if abs(first - last) < 0.1:
        return ""
    return (f" over its last {f['window_steps']} steps (it started at {first:.2f}× at step 1, as every run of this table does: the same layer, seed and start; "
            "with no push towards even, the task's own gradient still moves the router, and the load with it)")


def explain_price(rows: list[dict], capacity_factor: float | None = None, good_weight: float = 0.3) -> str:
    """The price table's Markdown list, in words picked from its rows (TrainHistory.final() per weight, by
    increasing α; one of them α = 0 and one the lab's good weight): what each weight bought and what the task paid."""
    by_weight = {r["balance_weight"]: r for r in rows}
    none, good = by_weight[0.0], by_weight[good_weight]
    pushed = [r for r in rows if r["balance_weight"] > 0]
    idle = f", leaving {none['idle_experts']} experts nearly idle" if none["idle_experts"] else ""
    parts = [f"**α = 0** lets the busiest expert take **{none['max_mean_load']:.2f}×** the mean load"
             f"{start_words(none)}{idle}, "
             f"with a task loss of {none['task_loss']:.3f} and specialization {none['specialization']:.0%}: the "
             "few busy experts each serve many clusters, so none learns one cluster's function well.",
             _trade_sentence(pushed)]
    low = min(pushed, key=lambda r: r["task_loss"])
    if low["balance_weight"] < good_weight and low["max_mean_load"] > good["max_mean_load"]:
        parts.append(_puzzle_sentence(low, good, capacity_factor))
    if capacity_factor is not None and pushed[0] is not good:
        parts.append(_drops_sentence(pushed[0], good, capacity_factor))
    large = pushed[-1]
    if large is not good:
        parts.append(
            f"**α = {large['balance_weight']:g}** is the price of a large weight: the load is even "
            f"({large['max_mean_load']:.2f}×) but the task loss rises to {large['task_loss']:.3f} and "
            f"specialization falls to {large['specialization']:.0%} (from {good['specialization']:.0%} at "
            f"α = {good_weight:g}): the balance term drowns the task's signal to the router."
            if large["task_loss"] > good["task_loss"] else
            f"**α = {large['balance_weight']:g}** did not cost task loss on this layer ({large['task_loss']:.3f}); "
            f"its specialization is {large['specialization']:.0%} against {good['specialization']:.0%}.")
    return "\n".join(f"- {part}" for part in parts)


def explain_z_loss(plain: dict, penalised: dict, weight: float, steps: int) -> str:
    """The z-loss pair in words picked from its numbers: `plain` and `penalised` are TrainHistory.final() merged
    with TrainHistory.logit_summary(), of the same run without and with z-loss weight `weight`."""
    z0, z1 = plain["z_loss"], penalised["z_loss"]
    top0, top1 = plain["max_logit"], penalised["max_logit"]
    size0, size1 = plain["mean_abs_logit"], penalised["mean_abs_logit"]
    both = (f"Both runs train the same layer from the same start for {steps} steps; only the z-loss weight "
            f"differs. z is the value the z-loss penalises: the mean over tokens of logsumexp(logits)², where "
            f"logsumexp = ln Σ exp(logit) over the experts, a little above the largest logit. Over the last "
            f"{plain['window_steps']} steps, without the z-loss z averages **{z0:.3g}** and each token's largest "
            f"logit **{top0:.2f}**; with weight {weight:g}, z averages **{z1:.3g}** and the largest logit "
            f"**{top1:.2f}**.")
    if not (z1 < z0 and top1 < top0):
        return both + " Here the penalty did not pull the log-sum-exp down: try a larger weight."
    window = f"Averaged over the last {plain['window_steps']} steps of each run"
    size = (f"{window}, the mean |logit| (a logit's size, its sign ignored) is {size0:.2f} without the z-loss and "
            f"{size1:.2f} with it: *larger*, not smaller. The router shifted every logit down, so none grows large "
            "and positive." if size1 >= size0 else
            f"{window}, the mean |logit| (a logit's size, its sign ignored) is {size0:.2f} without the z-loss and "
            f"{size1:.2f} with it; what the penalty targets is the largest logit, which the router pulled down by "
            "shifting every logit.")
    return f"{both} {size} The task loss: {plain['task_loss']:.3f} without, {penalised['task_loss']:.3f} with."


def method_captions(methods: list[str]) -> list[str]:
    """One line under each balancing method of the radio, in the order given: what it adds to training."""
    words = {
        "aux_loss": (f"Adds α × the {glossary_link('Load balancing loss', 'balance loss')} to the task's loss: "
                     "the router is pushed towards an even load through its gradient."),
        "aux_free": ("No auxiliary (aux) loss, that is no balance loss, so the sidebar's α does not act: the router "
                     "becomes a sigmoid, as in DeepSeek-V3, whose router scores each "
                     "expert with its own sigmoid. Each expert gets a bias that counts only when experts are "
                     f"*picked* (not in the {glossary_link('Combine weight', 'combine weights')} that mix their "
                     "outputs); after each step an overloaded expert's bias goes down and an idle one's up. More: "
                     f"{glossary_link('Expert collapse', 'the glossary')}."),
    }
    return [words[m] for m in methods]


def cluster_map_words(cfg: dict) -> str:
    """What a cell of the cluster map is a share of, and so how large it can get (a newcomer expected 100 %)."""
    if router_spec(cfg["router"]).experts_choose:
        return ("Each row is one cluster's token copies over the last 10% of steps: a cell is the share of them "
                "that went to that expert (a row sums to 100%). Here the experts pick the tokens, so a token can "
                "have any number of copies.")
    k = cfg["top_k"]
    if k == 1:
        return ("Each row is one cluster's token copies over the last 10% of steps (k = 1: one copy per token): a "
                "cell is the share of them that went to that expert, and a row sums to 100%.")
    dropped = cfg.get("capacity_factor") is not None
    bound = (f"A token never sends two copies to one expert, so a cell is at most 1/{k} = {1 / k:.0%}: a cluster "
             f"with {k} experts of its own shows {1 / k:.0%} in each of them")
    return (f"Each row is one cluster's token copies over the last 10% of steps (k = {k} per token, one per chosen "
            f"expert): a cell is the share of them that went to that expert, and a row sums to 100%. {bound}"
            + (". Dropped copies are not counted, so a cluster whose other copies overflowed can pass it."
               if dropped else "."))


def pick_alpha_words(fixed_weights, steps: int, lr: float) -> str:
    """What the sidebar's α does to the price table (a reader thought every row followed it) and that the lab's
    Training steps and Learning rate knobs do not act on the table."""
    fixed = ", ".join(f"{w:g}" for w in fixed_weights)
    return (f"Pick α in the sidebar: the table's rows α = {fixed} stay, and the row marked *(sidebar)* follows your "
            f"α; the results further down train it too. The table always trains {steps} steps at learning rate "
            f"{lr:g}: the Training steps and Learning rate knobs below act on the results, not on the table.")


# The caption under the lab's lead: why α is larger here than in real models.
WHY_ALPHA_IS_LARGE = (
    "Why this lab needs α = 0.3 for an even load when real models use 0.01–0.001, in short: a real model's small "
    "push acts over many more layers and steps than this lab's one layer and few hundred. In full (Hugging Face "
    "transformers' configs default to 0.01 for OLMoE and to 0.001 for Mixtral, Qwen-MoE, GPT-OSS and Switch "
    "Transformers, as of transformers 5.24): this lab trains one layer for a few hundred steps of 256 tokens, "
    "starting from a router that is skewed on purpose, and measures each expert's share f on those 256 tokens. "
    "Real training measures f per " + glossary_link("Micro-batch and global batch", "micro-batch") + ", the slice "
    "of a training step one GPU computes at once (" + glossary_link(PAPERS, "Megatron-Core") + ", NVIDIA's MoE training library: its default balance loss), or per sequence (its "
    "sequence-level option, DeepSeek's sequence-wise loss), not over the global batch, all the micro-batches of "
    "one training step together (balancing over the global batch is a separate choice: Qiu et al. 2025), and has "
    "dozens of MoE layers and hundreds of thousands of steps for a gentle push to act.")

# logsumexp, said where the z-loss paragraph first uses it (not only in the caption under its chart).
LOGSUMEXP = "logsumexp = ln Σ exp(logit) over the experts, a little above the largest logit"


def precision_words(rows: list[dict]) -> str:
    """The caption under the bf16 table, from its rows (runners.precision_rows): what rounding changed, why, and
    what its two Δ columns are."""
    worst = rows[-1]
    return (f"With every logit {worst['shift']:g} higher, rounding to bfloat16 gave "
            f"**{worst['changed_choice']:.0%}** of the tokens other experts than exact routing; with no shift, "
            f"{rows[0]['changed_choice']:.0%}. bfloat16 keeps 8 significant bits, so the step between "
            "neighbouring numbers grows with their size (the *bf16 step there* column): 1/64 near 2, 1/8 near "
            "20, 1/2 near 64. What decides a token's experts is the *differences* between its logits; what "
            "decides the rounding is their *size*. (Scaling all logits up instead would scale their differences "
            "too, and flip almost nothing.) A tie at the k-th expert means two experts' logits became the same "
            "bfloat16 number, so only the experts' order in memory decides which one runs. *max |Δ combine "
            "weight|* is the largest change of a combine weight (the weight an expert's output gets) between the "
            "exact and the bf16 run; *max |Δ probability|* the same for the router's probabilities.")


# The closing paragraph of the precision section: which real systems route in which number format.
ROUTING_PRECISION = (
    "In Hugging Face's transformers library (as of version 5.x) DeepSeek-V3's router computes its logits in fp32; Mixtral, OLMoE and Qwen-MoE "
    "compute the logits in the number format the rest of the model runs in (bf16) and only the softmax in fp32; "
    "GraniteMoE casts its logits to fp32 after a bf16 matrix product; GPT-OSS does both in bf16. Megatron-Core "
    "has a setting to route in fp32 or in fp64 (64-bit numbers, finer still); it is off by default. The Switch "
    "Transformer turns only the router's input into fp32 and keeps the rest of the layer in bf16 (its paper calls "
    "this selective precision). This app routes in fp32, which keeps decisions and weights as the router computed "
    "them. The z-loss helps in bf16 too: the experts a token picks are its *largest* logits, and the z-loss keeps "
    "those near 0, where bf16's step is finest; the far-negative logits it lets grow matter less, as top-k picks "
    "the largest.")
