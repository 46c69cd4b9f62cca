"""The balance lab: train a fresh MoE layer on a clustered task and record how expert load evolves.

The task: tokens come from `num_clusters` clusters, and each cluster has its own target function (a random
linear map of the token's offset from its cluster centre). An expert can learn one map well, so the best
router gives each cluster its own experts: specialization pays, and we can measure it by how much the chosen
expert tells about the token's cluster (mutual information).

Every token also carries one shared offset (`shift`), as real hidden states do (they are far from zero-mean).
Through the router it acts as a per-expert bias, so at initialisation a few experts already win most tokens:
the rich-get-richer start from which, without a balance loss, the router collapses.

    history = train(TrainConfig(balance_weight=0.3))      # plain numpy arrays per step
    for history in train_iter(cfg, report_every=25): ...  # the growing history, for live charts

Shapes: S steps, E experts, C clusters, T tokens per step, D = d_model.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

import numpy as np
import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.routers import router_spec
# The count statistics live in their own module; imported here for the history's summaries (and old imports).
from moeviz.routing_stats import mutual_information, overflow_at_capacity, purity, specialization

METHODS = ("aux_loss", "aux_free")  # Switch-style balance loss, or DeepSeek-V3's selection-bias update

# Weights shown in the sweep: 0, then log-spaced up to the "balance at any price" end.
SWEEP_WEIGHTS = (0.0, 0.01, 0.1, 0.3, 1.0, 10.0)


@dataclass(frozen=True)
class ClusterTask:
    num_clusters: int = 8  # C: kinds of token, each with its own target function
    d_model: int = 16  # D: small, so a training step costs milliseconds
    radius: float = 0.5  # cluster centres lie at radius * sqrt(D) from the shared offset
    spread: float = 0.3  # per-feature noise around a centre
    shift: float = 1.5  # the offset every token shares, length shift * sqrt(D): skews the router at init
    zipf: float = 1.0  # cluster c is drawn with probability ∝ 1/(c+1)^zipf: some token kinds are common
    seed: int | None = None  # centres, maps and batches; None = the run's seed, so each seed is a new task


@dataclass(frozen=True)
class TrainConfig:
    num_experts: int = 8
    top_k: int = 2
    router: str = "softmax_topk"
    capacity_factor: float | None = None
    balance_weight: float = 0.3  # α in task_loss + α * balance_loss
    method: str = "aux_loss"  # or "aux_free": no balance loss, selection bias updated from the load
    bias_update_rate: float = 0.01  # u for aux_free; larger than DeepSeek's 0.001 because we train 300 steps
    z_loss_weight: float = 0.0  # recorded always; trained on only when > 0
    steps: int = 300
    lr: float = 0.01  # Adam
    tokens_per_step: int = 256  # T: one batch, one forward + backward per step
    d_hidden: int = 32
    seed: int = 0  # layer weights, and the task and batches unless task.seed is set
    device: str = "auto"
    task: ClusterTask = field(default_factory=ClusterTask)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.method == "aux_free" and not router_spec(self.router).selection_bias:
            raise ValueError("the aux-loss-free method updates DeepSeek-V3's selection bias: use router='sigmoid_bias'.")
        if self.steps < 1 or self.tokens_per_step < 1 or not self.lr > 0 or self.balance_weight < 0:
            raise ValueError("steps, tokens_per_step and lr must be positive and balance_weight >= 0.")
        self.layer_config()  # validates the layer's fields too

    def layer_config(self) -> MoEConfig:
        return MoEConfig(d_model=self.task.d_model, d_hidden=self.d_hidden, num_experts=self.num_experts,
                         top_k=self.top_k, router=self.router, capacity_factor=self.capacity_factor,
                         bias_update_rate=self.bias_update_rate, seed=self.seed, device=self.device)


# The lesson's three outcomes, plus the aux-loss-free method on the same task (see docs/balance.md). Not the
# sidebar's classroom presets (moeviz.presets.CLASSROOM_PRESETS): training configs of this lab only.
LAB_PRESETS = {
    "collapse": TrainConfig(balance_weight=0.0),
    "balanced": TrainConfig(balance_weight=0.3),
    "overbalanced": TrainConfig(balance_weight=10.0),
    "aux_free": TrainConfig(router="sigmoid_bias", method="aux_free", balance_weight=0.0),
}


class TaskSampler:
    """Draws batches of the clustered task: tokens x (T, D), targets y (T, D), cluster ids (T,)."""

    def __init__(self, task: ClusterTask, device: torch.device):
        C, D = task.num_clusters, task.d_model
        self.generator = torch.Generator().manual_seed(10_000 + (task.seed or 0))
        g = self.generator
        centres = torch.randn(C, D, generator=g)
        self.centres = centres / centres.norm(dim=1, keepdim=True) * math.sqrt(D) * task.radius
        offset = torch.randn(D, generator=g)
        self.offset = offset / offset.norm() * math.sqrt(D) * task.shift
        self.maps = torch.randn(C, D, D, generator=g) / math.sqrt(D)  # each cluster's own target function
        self.cluster_probs = 1.0 / torch.arange(1, C + 1, dtype=torch.float32) ** task.zipf
        self.spread, self.device = task.spread, device

    def sample(self, num_tokens: int):
        g = self.generator  # drawn on the CPU so every device sees the same batches
        clusters = torch.multinomial(self.cluster_probs, num_tokens, replacement=True, generator=g)  # (T,)
        local = self.centres[clusters] + self.spread * torch.randn(num_tokens, self.centres.shape[1], generator=g)
        every_map = torch.einsum("cij,tj->tci", self.maps, local)  # (T, C, D): cheaper than gathering T maps
        y = every_map[torch.arange(num_tokens), clusters]  # (T, D)
        return (local + self.offset).to(self.device), y.to(self.device), clusters.to(self.device)

    def batches(self, steps: int, tokens_per_step: int, chunk: int = 100):
        """`steps` batches, drawn `chunk` steps at a time (one big draw is faster than many small ones)."""
        for start in range(0, steps, chunk):
            n = min(chunk, steps - start)
            x, y, clusters = self.sample(n * tokens_per_step)
            yield from zip(x.split(tokens_per_step), y.split(tokens_per_step), clusters.split(tokens_per_step))


@dataclass
class TrainHistory:
    """Per-step records as plain numpy arrays (safe to keep in a session), plus the run's settings."""
    config: dict
    task_loss: list = field(default_factory=list)  # MSE / mean(y^2): 1 = predicting zero
    balance_loss: list = field(default_factory=list)  # N * sum f_i P_i: 1 at perfect balance
    z_loss: list = field(default_factory=list)  # mean logsumexp(router logits)^2: 0 when every logsumexp is 0
    max_logit: list = field(default_factory=list)  # mean over tokens of the token's largest router logit
    mean_abs_logit: list = field(default_factory=list)  # mean |router logit|: z-loss can raise it (a shift down)
    load_cv: list = field(default_factory=list)
    max_mean_load: list = field(default_factory=list)
    router_entropy: list = field(default_factory=list)  # nats; log(E) = undecided
    dropped_fraction: list = field(default_factory=list)
    tokens_per_expert: list = field(default_factory=list)  # per step (E,)
    cluster_expert: list = field(default_factory=list)  # per step (C, E) slot counts
    # per step: mean over slots of log(active slots of the slot's token) = H(expert | token), nats; log k when
    # every token keeps its k slots, less after drops (the floor under H(expert | cluster) for specialization)
    slot_entropy: list = field(default_factory=list)
    stopped: bool = False

    SCALARS = ("task_loss", "balance_loss", "z_loss", "max_logit", "mean_abs_logit", "load_cv", "max_mean_load",
               "router_entropy", "dropped_fraction", "slot_entropy")

    @property
    def steps_done(self) -> int:
        return len(self.task_loss)

    def array(self, name: str) -> np.ndarray:
        return np.asarray(getattr(self, name), dtype=float)

    def specialization(self) -> np.ndarray:
        """Per step (S,): normalised mutual information between a slot's cluster and its expert."""
        return np.array([specialization(c, h) for c, h in zip(self.cluster_expert, self.slot_entropy)])

    def window(self) -> slice:
        """The last 10% of steps: end-of-run figures average over it so one noisy batch does not decide."""
        n = self.steps_done
        return slice(n - max(1, n // 10), n)

    def final(self) -> dict:
        """End-of-run summary over the last 10% of steps (load ratio and MI from the summed counts)."""
        w = self.window()
        load = self.array("tokens_per_expert")[w].sum(axis=0)
        counts = self.array("cluster_expert")[w]
        slots = counts.sum(axis=(1, 2))  # weight each step's H(expert | token) by its slots
        slot_entropy = float((self.array("slot_entropy")[w] * slots).sum() / max(slots.sum(), 1))
        counts = counts.sum(axis=0)
        return {"steps": self.steps_done, "task_loss": float(self.array("task_loss")[w].mean()),
                "max_mean_load": float(load.max() / max(load.mean(), 1e-12)),
                "load_cv": float(load.std() / max(load.mean(), 1e-12)),
                "dropped_fraction": float(self.array("dropped_fraction")[w].mean()),
                "router_entropy": float(self.array("router_entropy")[w].mean()),
                "specialization": specialization(counts, slot_entropy), "purity": purity(counts),
                "balance_weight": self.config["balance_weight"], "method": self.config["method"],
                # what the page's explanation quotes: the start, the idle experts, the cost under a capacity
                "window_steps": w.stop - w.start, "first_max_mean_load": float(self.array("max_mean_load")[0]),
                "idle_experts": int((load < 0.25 * load.mean()).sum()),
                "overflow_at_1_25": overflow_at_capacity(load, 1.25)}

    def logit_summary(self) -> dict:
        """The router z-loss, the mean largest logit and the mean |logit|, averaged over the window (as final()
        does); /balance quotes them for its z-loss pair. Histories kept before the logit fields give NaN."""
        w = self.window()
        return {name: float(np.mean(values)) if len(values := self.array(name)[w]) else math.nan
                for name in ("z_loss", "max_logit", "mean_abs_logit")}

    def to_dict(self) -> dict:
        return {**{name: self.array(name).tolist() for name in (*self.SCALARS, "tokens_per_expert",
                                                                "cluster_expert")},
                "config": self.config, "stopped": self.stopped}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainHistory":
        return cls(**data)


@contextlib.contextmanager
def one_thread():
    """Run tiny tensors on one thread. On a shared, busy CPU, OpenMP's extra workers spin and wait: the same
    300 steps took 2 s on one thread and 20-50 s on two. Called from a server's script thread this changes
    only that thread's OpenMP setting; the previous value is restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_iter(cfg: TrainConfig, report_every: int = 25, layer: MoELayer | None = None,
               should_stop: Callable[[], bool] | None = None) -> Iterator[TrainHistory]:
    """Train and yield the (growing) history every `report_every` steps and once at the end.

    `layer`, if given, is copied first: a cached or shared layer is never modified."""
    layer = MoELayer(cfg.layer_config()) if layer is None else copy.deepcopy(layer)
    layer.train()
    task = cfg.task if cfg.task.seed is not None else replace(cfg.task, seed=cfg.seed)
    sampler = TaskSampler(task, layer.device)
    optimizer = torch.optim.Adam(layer.parameters(), lr=cfg.lr)
    history = TrainHistory(config={**asdict(cfg), "task": asdict(task)})
    C, E = cfg.task.num_clusters, cfg.num_experts
    with one_thread():
        for step, (x, y, clusters) in enumerate(sampler.batches(cfg.steps, cfg.tokens_per_step)):
            if should_stop is not None and should_stop():
                history.stopped = True
                break
            output, trace = layer(x)  # output keeps the graph; trace's tensors are detached
            task_loss = (output - y).pow(2).mean() / y.pow(2).mean()
            loss = task_loss + cfg.balance_weight * trace.balance_loss + cfg.z_loss_weight * trace.z_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if cfg.method == "aux_free":
                layer.update_selection_bias(trace.tokens_per_expert)
            _record(history, trace, task_loss, clusters, C, E)
            if (step + 1) % report_every == 0 and step + 1 < cfg.steps:
                yield history
    yield history


def _record(history: TrainHistory, trace, task_loss, clusters, C: int, E: int) -> None:
    active = ~trace.dropped  # (T, K)
    slot_clusters = clusters.unsqueeze(1).expand_as(trace.topk_indices)[active]
    table = torch.bincount(slot_clusters * E + trace.topk_indices[active], minlength=C * E).view(C, E)
    logits = trace.router_logits
    scalars = torch.stack([task_loss.detach(), trace.balance_loss.detach(), trace.z_loss.detach(),
                           logits.max(dim=1).values.mean(), logits.abs().mean()]).tolist()
    for name, value in zip(("task_loss", "balance_loss", "z_loss", "max_logit", "mean_abs_logit"), scalars):
        getattr(history, name).append(value)
    for name in ("load_cv", "max_mean_load", "router_entropy", "dropped_fraction"):
        getattr(history, name).append(float(trace.metrics[name]))
    history.tokens_per_expert.append(trace.tokens_per_expert.cpu().numpy())
    history.cluster_expert.append(table.cpu().numpy())
    slots_per_token = active.sum(dim=1).float()  # m_t; a token with m_t slots contributes m_t * log m_t
    history.slot_entropy.append(float(torch.xlogy(slots_per_token, slots_per_token).sum()
                                      / slots_per_token.sum().clamp_min(1)))


def train(cfg: TrainConfig, layer: MoELayer | None = None) -> TrainHistory:
    """Train to the end and return the history."""
    history = None
    for history in train_iter(cfg, report_every=cfg.steps, layer=layer):
        pass
    return history


PRESETS = LAB_PRESETS  # the old name, for existing imports


def preset(name: str, **changes) -> TrainConfig:
    """A LAB_PRESETS entry with some fields changed, e.g. preset("collapse", seed=3)."""
    return replace(LAB_PRESETS[name], **changes)
