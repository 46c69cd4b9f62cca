"""The app's one cache layer, and the walkthrough's builder.

Every object the server keeps between reruns is made here; the core (moeviz/) caches nothing of its own, and
pages call these functions instead of decorating their own. Cache keys are primitive arguments (ints, floats,
strings) or a frozen MoEConfig (Streamlit hashes a dataclass by its fields), never widgets, so a rerun that
changes nothing hits the cache. A layer's MoEConfig comes from the one builder, Controls.moe_config. Cached objects are shared
between sessions: treat them as read-only, and never put a model in session state (it would be copied per
session and outlive the cache's bounds). The bounds are MAX_ENTRIES, the one table below.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from dataclasses import dataclass
from functools import partial
from typing import Callable

import streamlit as st
import torch

from moeviz.app.controls import Controls
from moeviz.bench.granularity import measure_design, time_designs
from moeviz.bench.layer import run_case
from moeviz.config import MoEConfig
from moeviz.hf.folders import ModelCache
from moeviz import load_health
from moeviz.hf import shipped
from moeviz.hf.model import CheckpointModel, CheckpointRouting
from moeviz.hf.tracefile import read_trace
from moeviz.hf.whatif import WhatIf, what_if
from moeviz.costs import granularity_designs
from moeviz.layer import MoELayer
from moeviz.lm.analysis import TextRouting
from moeviz.lm.shipped import ShippedLM, load_shipped, load_summary
from moeviz.text import MAX_TOKENS, embed_tokens
from moeviz.inference import InferenceRow, alone_vs_batch
from moeviz.parallel.capacity import CapacityDemo, capacity_demo
from moeviz.precision import precision_demo
from moeviz.parallel.demo import copies_per_worker
from moeviz.parallel.dropless import DroplessVsCapacity, dropless_vs_capacity
from moeviz.parallel.placement import DeviceSpan, device_limit_demo
from moeviz.quiz import Question, make_question
from moeviz.train import TrainConfig, TrainHistory, train
from moeviz.variants import VariantRun, noise_changes
from moeviz.walkthrough import DenseRun, WalkthroughRun, run_dense, run_walkthrough, walkthrough_inputs

# One intra-op thread per forward pass by default. The app's layers are tiny, so a second thread buys nothing and
# costs a lot on a shared server: measured on the 2-core classroom machine under load, building a 24-expert layer
# took 23 ms with 2 threads and 4 ms with 1, its forward 8 ms and 3 ms. Concurrency comes from the sessions.
# MOEVIZ_TORCH_THREADS overrides it (e.g. a single-user demo of large batches). Inter-op threads are left alone:
# setting them after torch has started work raises.
TORCH_THREADS = int(os.environ.get("MOEVIZ_TORCH_THREADS", "1") or 1)
torch.set_num_threads(max(1, min(TORCH_THREADS, os.cpu_count() or 1)))

WALKTHROUGH_D_MODEL = 32  # wide enough to look like a hidden state, narrow enough to draw every number
WALKTHROUGH_D_HIDDEN = 64
CAPACITY_D_MODEL, CAPACITY_D_HIDDEN = 32, 64  # /parallel's capacity demo: as small as the walkthrough's layer

# How many entries each cache keeps, whatever the number of sessions (the least recently used goes first).
# Together they bound the server's memory: the largest entries are the trained models (a few MB each).
MAX_ENTRIES = {
    "layer": 16,  # random MoELayers for the walkthrough (<= 64 experts of 32 x 64: under 1 MB each)
    "walkthrough": 64,  # a sentence (<= 48 tokens) through one of those layers: its RoutingTrace
    "dense": 16,  # the misreading's every-expert outputs, built only when a page asks
    "trained_lm": 12,  # shipped language models, keyed by the requested N, k and capacity factor
    "trained_walkthrough": 32,  # a sentence through one MoE layer of a trained model
    "trained_dense": 8,
    "untrained_walkthrough": 16,  # the same sentence through that layer's weights from before training
    "trained_routing": 64,  # /heatmap: a text through every layer of a trained model
    "summary": 1,  # the shipped training record (summary.json)
    "capacity": 32,  # /parallel: one batch's trace under a capacity limit
    "dropless": 32,  # /parallel: one batch dropless and under a capacity limit (two small traces' counts)
    "inference": 32,  # /parallel: a batch's tokens routed in the batch and alone, four routings (lists)
    "device_limit": 32,  # /parallel: devices spanned per token, free and node-limited (two histograms)
    "skew_preview": 32,  # /parallel: copies per GPU of section 2's tokens at one skew (W ints)
    "granularity": 8,  # /compute: four designs' counts measured on their layers (numbers only, no layer kept)
    "compute_timing": 16,  # /compute: sparse vs dense-all vs dense-equivalent timed on one batch (numbers only)
    "precision": 16,  # /balance: bf16 vs fp32 routing of one layer's logits (a few numbers per scale)
    "chance": 64,  # /heatmap: the max/mean load of random routing on a text's length (one float each)
    "lab_run": 24,  # /balance: one lab run's history (~0.2 MB at 300 steps, N = 8): the price table's, the sweep's
    "variants": 32,  # /variants: a sentence through every router variant
    "question": 256,  # /quiz: one question (its own tiny layer run)
    "model_cache": 1,  # /heatmap: the one ModelCache (it bounds the loaded checkpoints itself: folders.MAX_MODELS)
    "checkpoint_states": 16,  # the walkthrough: a sentence through olmoe-tiny, keeping each MoE layer's input
    "olmoe_layer": 16,  # one MoE block of olmoe-tiny as a moeviz MoELayer with the learner's k and capacity
    "checkpoint_routing": 32,  # /heatmap: a text through every MoE layer of a checkpoint (routing fields only)
    "checkpoint_what_if": 32,  # /heatmap: one layer's logits under a moeviz router variant
    "uploaded_trace": 4,  # /heatmap: an uploaded trace file, validated (at most tracefile.MAX_TRACE_BYTES each)
}

# The CPU bound beside the memory bounds: a training run of /balance keeps a core busy for seconds, so a
# classroom server trains at most this many at once, whatever the number of sessions (moeviz.train is the
# task itself and bounds nothing: a script or benchmark may train as it likes). The worker pool of /parallel
# bounds itself: one pool per server, one step at a time (moeviz.parallel.pool).
MAX_CONCURRENT_TRAINERS = 2
TRAINER_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_TRAINERS)


@contextlib.contextmanager
def trainer_slot(timeout: float | None = None):
    """Hold one of the server's MAX_CONCURRENT_TRAINERS slots; yields False if none freed within `timeout`."""
    acquired = TRAINER_SLOTS.acquire(timeout=timeout) if timeout is not None else TRAINER_SLOTS.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            TRAINER_SLOTS.release()


@st.cache_resource(max_entries=MAX_ENTRIES["layer"], show_spinner=False)
def cached_layer(cfg: MoEConfig) -> MoELayer:
    """An eval-mode MoELayer with random weights from `cfg.seed` (shared: do not train or modify it)."""
    return MoELayer(cfg).eval()


@st.cache_resource(max_entries=MAX_ENTRIES["walkthrough"], show_spinner=False)
def cached_walkthrough(cfg: MoEConfig, source: str, text: str, vector_seed: int) -> WalkthroughRun:
    """The walkthrough's numbers for one layer and one input (a sentence, or seeded random vectors)."""
    return run_walkthrough(*_layer_and_inputs(cfg, source, text, vector_seed))


@st.cache_resource(max_entries=MAX_ENTRIES["dense"], show_spinner=False)
def cached_dense(cfg: MoEConfig, source: str, text: str, vector_seed: int) -> DenseRun:
    """The "every expert votes" runs for the same layer and input (only when the page shows the misreading)."""
    layer, _, x = _layer_and_inputs(cfg, source, text, vector_seed)
    return run_dense(layer, x)


def _layer_and_inputs(cfg: MoEConfig, source: str, text: str, vector_seed: int):
    """(the cached layer, token labels, inputs (T, d_model)) for one walkthrough key."""
    layer = cached_layer(cfg)
    if source == "sentence":  # olmoe-tiny's tokens, as on every page; each a vector hashed from its text
        labels = shipped.sentence_tokens(text, MAX_TOKENS)
        return layer, labels, embed_tokens(labels, cfg.d_model, seed=0)
    labels, x = walkthrough_inputs(source, text, vector_seed, cfg.d_model)
    return layer, labels, x


def _key(controls, source: str, text: str, vector_seed: int) -> tuple:
    cfg = controls.moe_config(d_model=WALKTHROUGH_D_MODEL, d_hidden=WALKTHROUGH_D_HIDDEN)
    return (cfg, source, text, vector_seed)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_lm"], show_spinner="Loading the trained model…")
def trained_lm(num_experts: int, top_k: int, capacity_factor: float | None) -> ShippedLM:
    """The shipped language model nearest to `num_experts`, routing with `top_k` and `capacity_factor`."""
    return load_shipped(num_experts, top_k, capacity_factor)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_walkthrough"], show_spinner=False)
def trained_walkthrough(text: str, layer: int, num_experts: int, top_k: int,
                        capacity_factor: float | None) -> WalkthroughRun:
    """The walkthrough's numbers for MoE layer `layer` of the trained model, on the sentence's hidden states."""
    return trained_lm(num_experts, top_k, capacity_factor).walkthrough(text, layer)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_dense"], show_spinner=False)
def trained_dense(text: str, layer: int, num_experts: int, top_k: int, capacity_factor: float | None) -> DenseRun:
    """The misreading's runs on the same trained layer and hidden states as trained_walkthrough."""
    return trained_lm(num_experts, top_k, capacity_factor).dense_run(text, layer)


@st.cache_resource(max_entries=MAX_ENTRIES["untrained_walkthrough"], show_spinner=False)
def untrained_walkthrough(text: str, layer: int, num_experts: int, top_k: int,
                          capacity_factor: float | None) -> WalkthroughRun:
    """trained_walkthrough's hidden states through the same layer with its weights from before training."""
    return trained_lm(num_experts, top_k, capacity_factor).untrained_walkthrough(text, layer)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_routing"], show_spinner=False)
def trained_routing(num_experts: int, top_k: int, capacity_factor: float | None, text: str) -> TextRouting:
    """`text` through every layer of the trained model (the heatmap's numbers)."""
    return trained_lm(num_experts, top_k, capacity_factor).route(text)


@st.cache_resource(max_entries=MAX_ENTRIES["summary"], show_spinner=False)
def shipped_summary() -> dict:
    """The training record shipped next to the checkpoints (losses, what each expert learned)."""
    return load_summary()


@st.cache_resource(max_entries=MAX_ENTRIES["model_cache"], show_spinner=False)
def model_cache() -> ModelCache:
    """The server's one checkpoint cache: at most folders.MAX_MODELS loaded, one load at a time (its `.loading`
    names the model being loaded, for the page's "waiting for" line)."""
    return ModelCache()


def checkpoint_model(name: str, path: str) -> CheckpointModel:
    """The loaded checkpoint `name` (a listed folder name) from the one cache; CheckpointError if refused."""
    return model_cache().get(name, {name: Path(path)})


@st.cache_resource(max_entries=MAX_ENTRIES["checkpoint_routing"], show_spinner=False)
def checkpoint_routing(name: str, path: str, text: str) -> CheckpointRouting:
    """`text` through every MoE layer of checkpoint `name` (no hidden states kept); CheckpointError if refused."""
    return checkpoint_model(name, path).route(text)


@st.cache_resource(max_entries=MAX_ENTRIES["checkpoint_states"], show_spinner=False)
def checkpoint_states(name: str, path: str, text: str) -> CheckpointRouting:
    """checkpoint_routing keeping each MoE layer's input, output and expert outputs (the walkthrough's)."""
    return checkpoint_model(name, path).route(text, states=True)


@st.cache_resource(max_entries=MAX_ENTRIES["olmoe_layer"], show_spinner=False)
def olmoe_layer(name: str, path: str, layer: int, top_k: int, capacity_factor: float | None) -> MoELayer:
    """MoE layer `layer` of shipped checkpoint `name` as a moeviz MoELayer routing with `top_k` and capacity."""
    return shipped.as_moe_layer(checkpoint_model(name, path).blocks[layer], top_k, capacity_factor)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_walkthrough"], show_spinner=False)
def olmoe_walkthrough(name: str, path: str, text: str, layer: int, top_k: int,
                      capacity_factor: float | None) -> WalkthroughRun:
    """The walkthrough's numbers for MoE layer `layer` of olmoe-tiny, on the hidden states it fed that layer."""
    labels, x = shipped.layer_inputs(checkpoint_states(name, path, text), layer, MAX_TOKENS)
    return run_walkthrough(olmoe_layer(name, path, layer, top_k, capacity_factor), labels, x)


@st.cache_resource(max_entries=MAX_ENTRIES["trained_dense"], show_spinner=False)
def olmoe_dense(name: str, path: str, text: str, layer: int, top_k: int, capacity_factor: float | None) -> DenseRun:
    """The misreading's runs on the same olmoe-tiny layer and hidden states as olmoe_walkthrough."""
    _, x = shipped.layer_inputs(checkpoint_states(name, path, text), layer, MAX_TOKENS)
    return run_dense(olmoe_layer(name, path, layer, top_k, capacity_factor), x)


@st.cache_resource(max_entries=MAX_ENTRIES["untrained_walkthrough"], show_spinner=False)
def olmoe_untrained(name: str, path: str, text: str, layer: int, top_k: int,
                    capacity_factor: float | None) -> WalkthroughRun | None:
    """olmoe_walkthrough's hidden states through that layer as it was before training (None if unknown)."""
    fresh = shipped.initial_layer(checkpoint_model(name, path), layer, top_k, capacity_factor)
    if fresh is None:
        return None
    labels, x = shipped.layer_inputs(checkpoint_states(name, path, text), layer, MAX_TOKENS)
    return run_walkthrough(fresh, labels, x)


@st.cache_resource(max_entries=MAX_ENTRIES["checkpoint_what_if"], show_spinner=False)
def checkpoint_what_if(name: str, path: str, text: str, trace_index: int, variant: str,
                       capacity_factor: float | None, drop_policy: str) -> WhatIf:
    """The routed text's layer `trace_index` under a moeviz variant, capacity factor and drop policy."""
    return what_if(checkpoint_routing(name, path, text).traces[trace_index], variant,
                   capacity_factor=capacity_factor, drop_policy=drop_policy)


@st.cache_resource(max_entries=MAX_ENTRIES["uploaded_trace"], show_spinner="Reading the trace file…")
def uploaded_trace(file_id: str, _data: bytes) -> CheckpointRouting:
    """An uploaded trace file, validated by tracefile.read_trace (keyed by the upload's id, not its bytes)."""
    return read_trace(_data)


@st.cache_resource(max_entries=MAX_ENTRIES["checkpoint_what_if"], show_spinner=False)
def uploaded_what_if(file_id: str, _routing: CheckpointRouting, trace_index: int, variant: str,
                     capacity_factor: float | None, drop_policy: str) -> WhatIf:
    """checkpoint_what_if for an uploaded trace (cached under the upload's id)."""
    return what_if(_routing.traces[trace_index], variant, capacity_factor=capacity_factor, drop_policy=drop_policy)


def capacity_config(controls: Controls, policy: str = "position") -> MoEConfig:
    """The small layer of /parallel's demos: the sidebar's, d_model 32, with drop policy `policy`."""
    return controls.moe_config(d_model=CAPACITY_D_MODEL, d_hidden=CAPACITY_D_HIDDEN, drop_policy=policy,
                               device="cpu")


def capacity_run(controls: Controls, policy: str, tokens: int) -> CapacityDemo:
    """/parallel's capacity demo: `tokens` seeded random tokens through a small layer with drop policy `policy`."""
    return _capacity_run(capacity_config(controls, policy), tokens)


@st.cache_resource(max_entries=MAX_ENTRIES["capacity"], show_spinner=False)
def _capacity_run(cfg: MoEConfig, tokens: int) -> CapacityDemo:
    return capacity_demo(cfg, tokens, token_seed=cfg.seed + 1)


def dropless_run(controls: Controls, policy: str, tokens: int, capacity_factor: float) -> DroplessVsCapacity:
    """/parallel: the capacity demo's batch (same layer, tokens and drop policy), dropless and under
    `capacity_factor`."""
    return _dropless_run(capacity_config(controls, policy), tokens, capacity_factor)


@st.cache_resource(max_entries=MAX_ENTRIES["dropless"], show_spinner=False)
def _dropless_run(cfg: MoEConfig, tokens: int, capacity_factor: float) -> DroplessVsCapacity:
    return dropless_vs_capacity(cfg, tokens, cfg.seed + 1, capacity_factor)  # the capacity demo's tokens


@st.cache_resource(max_entries=MAX_ENTRIES["inference"], show_spinner="Routing every token alone and in the batch…")
def inference_run(num_experts: int, top_k: int, tokens: int, seed: int) -> list[InferenceRow]:
    """/parallel: each token of a seeded batch routed inside the batch and alone, under four routings."""
    return alone_vs_batch(num_experts, top_k, tokens, seed)


def device_limit_run(controls: Controls, devices: int, max_devices: int, tokens: int) -> DeviceSpan:
    """/parallel: DeepSeek-V3's router on the sidebar's N and k, free and limited to `max_devices` devices."""
    return _device_limit_run(capacity_config(controls), devices, max_devices, tokens)


@st.cache_resource(max_entries=MAX_ENTRIES["device_limit"], show_spinner=False)
def _device_limit_run(cfg: MoEConfig, devices: int, max_devices: int, tokens: int) -> DeviceSpan:
    return device_limit_demo(cfg, tokens, cfg.seed + 1, devices, max_devices)


@st.cache_resource(max_entries=MAX_ENTRIES["granularity"], show_spinner="Building and timing the four layers…")
def granularity_run(cfg: MoEConfig, tokens: int, repeats: int = 0, take: str = "") -> list[dict]:
    """/compute: coarse, + shared, fine-grained, fine + shared, each counted and checked on its real layer, and
    timed (median of `repeats` forwards, the four interleaved: time_designs) when repeats > 0; a new `take`
    measures again."""
    designs = granularity_designs(cfg)
    times = time_designs({d["label"]: d["cfg"] for d in designs}, tokens, repeats) if repeats else {}
    return [{"label": d["label"], "cfg": d["cfg"], **measure_design(d["cfg"], tokens),
             "median_ms": times[d["label"]]["median_ms"] if times else None,
             "samples_ms": times[d["label"]]["samples_ms"] if times else None} for d in designs]


@st.cache_resource(max_entries=MAX_ENTRIES["compute_timing"], show_spinner=False)
def compute_timing(cfg: MoEConfig, tokens: int, impls: tuple[str, ...], repeats: int, budget_s: float,
                   take: str = "") -> dict:
    """/compute: `impls` timed on one random batch of `tokens` (bench.layer.run_case); a new `take` measures
    again (the first take is shared by every session, so a page shows it at once)."""
    return run_case(cfg, tokens, repeats=repeats, impls=impls, budget_s=budget_s)


@st.cache_resource(max_entries=MAX_ENTRIES["skew_preview"], show_spinner=False)
def skew_preview(cfg: MoEConfig, tokens: int, skew: float, workers: int) -> list[int]:
    """/parallel section 2: the copies each GPU would receive at `skew`, routed here before any worker runs."""
    return copies_per_worker(cfg, tokens, skew, workers)


@st.cache_resource(max_entries=MAX_ENTRIES["precision"], show_spinner=False)
def precision_rows(num_experts: int, top_k: int, seed: int) -> list[dict]:
    """/balance: a random layer's router logits, scaled, routed in fp32 and after rounding to bfloat16."""
    return precision_demo(num_experts, top_k, seed)


@st.cache_data(max_entries=MAX_ENTRIES["chance"], show_spinner=False)
def chance_max_mean(num_tokens: int, top_k: int, num_experts: int) -> float:
    """/heatmap: what a router picking k of N experts at random reaches in max/mean load on a text this long
    (load_health.chance_max_mean: up to 200 seeded random texts, a few hundred ms on a long text)."""
    return load_health.chance_max_mean(num_tokens, top_k, num_experts)


@st.cache_resource(max_entries=MAX_ENTRIES["variants"], show_spinner="Routing the sentence through every variant…")
def olmoe_variant_runs(name: str, path: str, text: str, layer: int, top_k: int, capacity_factor: float | None,
                       bias_steps: int) -> list[VariantRun]:
    """/variants: every router variant on olmoe-tiny's real router logits at MoE layer `layer` for `text`."""
    logits = checkpoint_routing(name, path, text).traces[layer].router_logits
    return shipped.variants_on_logits(logits, top_k, capacity_factor, bias_steps)


@st.cache_resource(max_entries=MAX_ENTRIES["variants"], show_spinner=False)
def olmoe_noise_changes(name: str, path: str, text: str, layer: int, top_k: int,
                        capacity_factor: float | None) -> list[float]:
    """/variants: the share of tokens that each of noisy top-k's seeded draws moves (variants.noise_changes)."""
    logits = checkpoint_routing(name, path, text).traces[layer].router_logits
    return noise_changes(logits, top_k, capacity_factor)


@st.cache_resource(max_entries=MAX_ENTRIES["question"], show_spinner=False)
def quiz_question(seed: int, kind: str | None) -> Question:
    """Question `seed` of the quiz (of `kind`, or a kind drawn from the seed)."""
    return make_question(seed, kind)


@dataclass(frozen=True)
class TokenSource:
    """Where the walkthrough's tokens come from."""
    source: str  # "sentence" or "random"
    text: str  # the sentence (kept even while random vectors are shown)
    vector_seed: int


@dataclass(frozen=True)
class Walkthrough:
    """What the walkthrough shows, the same for every source: the sidebar's random layer or a trained one."""
    run: WalkthroughRun  # the sparse forward on the tokens
    dense: Callable[[], DenseRun]  # the misreading's runs on the same layer and tokens, computed when called
    controls: Controls  # the sidebar's controls (the layer that ran is run.trace: its router, k and N)
    caption: str  # which layer the numbers come from, in words
    layer: object  # the MoELayer that ran (for the page's layer line); read-only
    trained: bool  # True: a layer of the trained language model; False: random weights
    # The same tokens through the same layer before training (trained source only), computed when called.
    untrained: Callable[[], WalkthroughRun] | None = None


def build_walkthrough(controls: Controls, source: TokenSource, trained=None) -> Walkthrough:
    """The walkthrough of a trained model's MoE layer, fed the sentence's real hidden states (the page's default:
    `trained` is a trained_source.TrainedPick naming the model and layer), or of the sidebar's random layer
    when `trained` is None."""
    if trained is None:
        key = _key(controls, source.source, source.text, source.vector_seed)
        cfg = key[0]
        caption = (f"A real PyTorch MoE layer with random weights (seed {cfg.seed}): {cfg.num_experts} "
                   f"experts, top-{cfg.top_k} routing. Every number on this page is read from the layer's own "
                   "tensors. Change the layer in the sidebar.")
        return Walkthrough(cached_walkthrough(*key), partial(cached_dense, *key), controls, caption,
                           cached_layer(cfg), trained=False)
    if trained.model == "moeviz-lm":
        return _lm_walkthrough(controls, source, trained.layer)
    return _olmoe_walkthrough(controls, source, trained)


def _olmoe_walkthrough(controls: Controls, source: TokenSource, trained) -> Walkthrough:
    model = checkpoint_model(trained.model, trained.path)
    k = max(1, min(controls.top_k, model.info()["num_experts"]))
    args = (trained.model, trained.path, source.text, trained.layer, k, controls.capacity_factor)
    run = olmoe_walkthrough(*args)
    # Plain words first (a newcomer met the model's class name and sizes before anything was explained), then
    # the model's one naming sentence, the same on every page.
    caption = (f"A small language model, trained here, reads your sentence; this page follows one token through "
               f"one of its Mixture-of-Experts layers (layer {trained.layer}: {model.info()['num_experts']} "
               f"experts, top-{k} routing: each token is sent to {k} of them). Every number is read from that "
               f"layer's own weight arrays, fed the "
               f"real hidden state the model gave each token. The model: {model.describe()}")
    untrained = partial(olmoe_untrained, *args) if shipped.training_record(model.path) else None
    return Walkthrough(run, partial(olmoe_dense, *args), controls, caption, olmoe_layer(*args[:2], *args[3:]),
                       trained=True, untrained=untrained)


def _lm_walkthrough(controls: Controls, source: TokenSource, layer: int) -> Walkthrough:
    # The trained model routes softmax -> top-k with the learner's k (the sidebar's router does not apply to it).
    args = (source.text, layer, controls.num_experts, controls.top_k, controls.capacity_factor)
    lm = trained_lm(*args[2:])
    caption = (f"MoE layer {layer} of {shipped.describe(lm.info())} {lm.num_experts} experts, softmax → "
               f"top-{lm.top_k} routing, fed the real hidden state of each token of your sentence. " + " ".join(lm.notes()))
    return Walkthrough(trained_walkthrough(*args), partial(trained_dense, *args), controls, caption,
                       lm.model.blocks[layer].moe, trained=True, untrained=partial(untrained_walkthrough, *args))


class TrainersBusy(RuntimeError):
    """Every trainer slot stayed busy: the lab run waits for the next visit (nothing is cached)."""


@st.cache_resource(max_entries=MAX_ENTRIES["lab_run"], show_spinner=False)
def lab_run(cfg: TrainConfig, wait_s: float) -> TrainHistory:
    """/balance: the balance lab trained to the end (about a second of CPU at 300 steps), holding one of the
    server's trainer slots; TrainersBusy if none freed within wait_s. Shared between sessions: read-only."""
    with trainer_slot(timeout=wait_s) as free:
        if not free:
            raise TrainersBusy("the trainers stayed busy")
        return train(cfg)
