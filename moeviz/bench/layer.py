"""Sparse MoE vs its peers, on the same inputs (docs/core.md reports and discusses the results):

    dense-all        every expert on every token, then masked (layer.dense_forward)
    per-expert loop  HF Mixtral's loop over experts with index_add_ (hf_mixtral_forward below)
    sparse           this project's forward, full RoutingTrace included (layer(x))
    dense-equivalent one plain MLP of hidden size k * d_hidden: the same active FLOPs with no routing

Run: python -m moeviz.bench layer [--regime sentence|large|all] [--out bench-results/layer.json]
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from moeviz.bench.timing import machine_info, time_interleaved, write_report
from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.routers import router_spec

REGIMES = {
    "sentence": dict(tokens=64, d_model=128, d_hidden=256, num_experts=64, top_k=2, repeats=300),
    "large": dict(tokens=4096, d_model=512, d_hidden=1024, num_experts=64, top_k=2, repeats=11),
}
IMPLS = ("dense-all", "per-expert loop", "sparse", "dense-equivalent")
# Printed by the CLI as a floor: only the experts' batched matmuls on this routing's padded buffer, i.e. the cost
# of streaming the weights of every expert the batch touches (no routing, gathering or trace).
FLOOR = "expert matmuls only"


def hf_mixtral_forward(layer: MoELayer, x: torch.Tensor) -> torch.Tensor:
    """The routed part of HF transformers' MixtralSparseMoeBlock.forward, on this layer's weights."""
    E, k = layer.cfg.num_experts, layer.cfg.top_k
    router_logits = layer.router(x)
    routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
    routing_weights, selected_experts = torch.topk(routing_weights, k, dim=-1)
    routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
    routing_weights = routing_weights.to(x.dtype)
    final = torch.zeros_like(x)
    expert_mask = F.one_hot(selected_experts, num_classes=E).permute(2, 1, 0)  # (E, k, T)
    expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
    for expert_idx in expert_hit:
        idx, top_x = torch.where(expert_mask[expert_idx].squeeze(0))
        hidden = layer.experts.forward_expert(int(expert_idx), x[top_x]) * routing_weights[top_x, idx, None]
        final.index_add_(0, top_x, hidden.to(x.dtype))
    return final


def routes_like_mixtral(cfg: MoEConfig) -> bool:
    """Whether the eval-mode layer computes what hf_mixtral_forward does: softmax probabilities, the top k by
    them, renormalised to sum to 1 (top-k -> softmax gives the same values), no capacity, no shared expert."""
    spec = router_spec(cfg.router)
    return (spec.probs_sum_to_one and spec.weights_sum_to_one(cfg.norm_topk_prob) and not spec.experts_choose
            and not spec.selection_bias and cfg.effective_capacity_factor is None and not cfg.shared_expert)


class DenseFFN(nn.Module):
    """A plain MLP with the MoE's active width (k * d_hidden): the compute floor for a top-k layer."""

    def __init__(self, cfg: MoEConfig):
        super().__init__()
        width = cfg.top_k * cfg.d_hidden
        self.activation = cfg.activation
        self.up = nn.Linear(cfg.d_model, 2 * width if cfg.activation == "swiglu" else width, bias=False)
        self.down = nn.Linear(width, cfg.d_model, bias=False)

    def forward(self, x):
        h = self.up(x)
        if self.activation == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.gelu(h) if self.activation == "gelu" else F.relu(h)
        return self.down(h)


def build_impls(cfg: MoEConfig) -> tuple[MoELayer, dict[str, Callable[[torch.Tensor], object]]]:
    layer = MoELayer(cfg).eval()
    ffn = DenseFFN(cfg).to(layer.device, layer.router.weight.dtype).eval()
    return layer, {
        "dense-all": layer.dense_forward,
        "per-expert loop": lambda x: hf_mixtral_forward(layer, x),
        "sparse": layer,
        "dense-equivalent": ffn,
    }


def run_case(cfg: MoEConfig, tokens: int, repeats: int, impls=IMPLS, budget_s: float = 20.0,
             progress: Callable[[str], None] | None = None) -> dict:
    """Time the chosen implementations on one shared random input. Returns {impl: timing dict}."""
    layer, fns = build_impls(cfg)
    x = torch.randn(tokens, cfg.d_model, generator=torch.Generator().manual_seed(cfg.seed + 1))
    x = x.to(layer.device, layer.router.weight.dtype)
    with torch.inference_mode():
        _check_agreement(layer, x)
        _, trace = layer(x)
        chosen = {name: (lambda fn=fns[name]: fn(x)) for name in impls if name != FLOOR}
        if FLOOR in impls and trace.metrics["dispatch"] == "padded":  # the floor of the padded path only
            buffer = _padded_buffer(layer, trace)
            chosen[FLOOR] = lambda: layer.experts.forward_padded(buffer)
        results = time_interleaved(chosen, layer.device, repeats, budget_s=budget_s, progress=progress)
    if "sparse" in results:
        results["sparse"]["dispatch"] = trace.metrics["dispatch"]
    return results


def _padded_buffer(layer: MoELayer, trace) -> torch.Tensor:
    """An (E, C_max, D) buffer of the size the padded dispatch built for this batch (its values do not matter)."""
    capacity = int(trace.tokens_per_expert.max())
    return trace.input.new_empty(layer.cfg.num_experts, capacity, layer.cfg.d_model).normal_()


def _check_agreement(layer: MoELayer, x: torch.Tensor) -> None:
    """Refuse to time implementations that disagree: the comparison is only fair if they compute the same y."""
    y, _ = layer(x)
    y_dense, _ = layer.dense_forward(x)
    y_hf = hf_mixtral_forward(layer, x) if routes_like_mixtral(layer.cfg) else y
    tol = 1e-4 if x.dtype == torch.float32 else 5e-2
    torch.testing.assert_close(y, y_dense, rtol=tol, atol=tol)
    torch.testing.assert_close(y, y_hf, rtol=tol, atol=tol)


def ratios(results: dict) -> dict:
    t = {name: r["median_ms"] for name, r in results.items()}
    return {
        "dense_all_over_sparse": t["dense-all"] / t["sparse"],
        "loop_over_sparse": t["per-expert loop"] / t["sparse"],
        "sparse_over_dense_equivalent": t["sparse"] / t["dense-equivalent"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.bench layer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regime", choices=[*REGIMES, "all"], default="all")
    parser.add_argument("--activation", default="gelu", choices=["gelu", "relu", "swiglu"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per case (default per regime)")
    parser.add_argument("--out", default="bench-results/layer.json")
    args = parser.parse_args(argv)
    report = {"machine": machine_info(), "activation": args.activation, "device": args.device, "regimes": {}}
    for name in REGIMES if args.regime == "all" else [args.regime]:
        spec = dict(REGIMES[name])
        tokens, repeats = spec.pop("tokens"), args.repeats or spec.pop("repeats")
        spec.pop("repeats", None)
        cfg = MoEConfig(**spec, activation=args.activation, device=args.device)
        print(f"\n== {name}: T={tokens} d_model={cfg.d_model} d_hidden={cfg.d_hidden} E={cfg.num_experts} "
              f"k={cfg.top_k} {cfg.activation} fp32 on {args.device}", flush=True)
        results = run_case(cfg, tokens, repeats, impls=(*IMPLS, FLOOR), progress=_printer())
        report["regimes"][name] = {"config": {"tokens": tokens, **spec}, "results": results,
                                   "ratios": ratios(results)}
        _print_table(results, ratios(results))
    write_report(args.out, report)
    return 0


def _printer():
    """Progress on one line, overwritten, so the table below stays readable."""
    return lambda note: print(f"\r   timing {note:<50}", end="", flush=True)


def _print_table(results: dict, r: dict) -> None:
    print(f"\r   {'implementation':<22}{'median ms':>11}{'p95 ms':>10}{'runs':>6}")
    for name, t in results.items():
        print(f"   {name:<22}{t['median_ms']:>11.3f}{t['p95_ms']:>10.3f}{t['runs']:>6}")
    print(f"   dense-all / sparse = {r['dense_all_over_sparse']:.1f}x   loop / sparse = {r['loop_over_sparse']:.2f}x"
          f"   sparse / dense-equivalent = {r['sparse_over_dense_equivalent']:.2f}x")


def scaling(cfg: MoEConfig, tokens: int, axis: str, values, repeats: int = 5, impls=IMPLS, budget_s: float = 3.0,
            progress: Callable[[str], None] | None = None, rounds: int | None = None) -> list[dict]:
    """Timings over one axis ("num_experts" or "tokens"), the rest of cfg fixed: [{"value", "results"}].

    Every point is timed in the same rounds (time_interleaved over all value × implementation pairs, after
    one untimed pass over all of them), not point after point; by default one timed call per point and round
    (rounds = repeats), so each point's calls spread over the whole sweep. Timed point by point, the first
    points paid the process's warm-up and a change in the machine's load fell on some points only: the
    dense-equivalent FFN, which does not depend on N, fell from ~7 to ~3 ms as N grew."""
    cases = {}
    for value in values:
        case_cfg = cfg.replace(num_experts=value) if axis == "num_experts" else cfg
        layer, fns = build_impls(case_cfg)
        x = torch.randn(value if axis == "tokens" else tokens, cfg.d_model,
                        generator=torch.Generator().manual_seed(cfg.seed + 1))
        x = x.to(layer.device, layer.router.weight.dtype)
        with torch.inference_mode():
            _check_agreement(layer, x)
        for name in impls:
            cases[f"{axis}={value}: {name}"] = (value, name, lambda fn=fns[name], x=x: fn(x))
    calls = {key: fn for key, (_, _, fn) in cases.items()}
    with torch.inference_mode():
        for fn in calls.values():  # warm-up pass: every shape and kernel once before anything is timed
            fn()
        timed = time_interleaved(calls, layer.device, repeats, rounds=rounds or repeats, budget_s=budget_s,
                                 progress=progress)
    return [{"value": value, "results": {name: timed[key] for key, (v, name, _) in cases.items() if v == value}}
            for value in values]
