"""Where a token's experts live: how many devices its k copies reach, with and without a device limit.

Expert parallelism puts experts on devices in contiguous blocks (device d holds experts d*G .. d*G + G-1,
G = N / W, as moeviz.parallel.engine does). A token's copies go to every device that holds one of its experts,
so the devices it spans are the messages it costs. DeepSeek-V2 limits each token to M devices and DeepSeek-V3
to 4 nodes (of 8 expert groups): routing inside the token's best M groups (moeviz.router.group_limited).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer


def devices_spanned(topk_indices: torch.Tensor, num_experts: int, num_devices: int) -> torch.Tensor:
    """(T,) int: how many distinct devices hold the experts of each token (topk_indices (T, k))."""
    device = topk_indices // (num_experts // num_devices)  # (T, k) owner of each chosen expert
    reached = torch.zeros(topk_indices.shape[0], num_devices, dtype=torch.bool, device=topk_indices.device)
    return reached.scatter_(1, device, True).sum(dim=1)


class DeviceSpan(NamedTuple):
    num_devices: int  # W
    max_devices: int  # M: the limit
    free: list[int]  # histogram: free[m - 1] tokens spanned m devices, routing without the limit (m <= min(k, W))
    limited: list[int]  # the same with each token's experts on at most M devices
    same_choice: float  # share of tokens whose chosen experts did not change under the limit

    def mean(self, histogram: list[int]) -> float:
        return sum((m + 1) * n for m, n in enumerate(histogram)) / max(sum(histogram), 1)


def device_limit_demo(cfg: MoEConfig, num_tokens: int, token_seed: int, num_devices: int,
                      max_devices: int) -> DeviceSpan:
    """One seeded batch through DeepSeek-V3's sigmoid + bias router of `cfg`'s N and k, twice: free, and with
    experts grouped per device (n_group = W) and each token kept inside its best M devices (topk_group = M)."""
    base = cfg.replace(router="sigmoid_bias", capacity_factor=None, device="cpu", n_group=1, topk_group=None)
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(token_seed))
    chosen = []
    for c in (base, base.replace(n_group=num_devices, topk_group=max_devices)):
        with torch.inference_mode():
            chosen.append(MoELayer(c).eval()(x)[1].topk_indices)
    spans = [devices_spanned(t, cfg.num_experts, num_devices) for t in chosen]
    reach = min(cfg.top_k, num_devices)  # the most GPUs k experts can span: the histograms stop there
    histograms = [torch.bincount(s - 1, minlength=reach).tolist() for s in spans]
    same = (chosen[0].sort(dim=1).values == chosen[1].sort(dim=1).values).all(dim=1).float().mean()
    return DeviceSpan(num_devices, max_devices, histograms[0], histograms[1], float(same))


def limit_options(num_experts: int, top_k: int, num_devices: int) -> list[int]:
    """The limits M a token can keep on W devices: fewer than W, and enough experts on them for its k."""
    per_device = num_experts // num_devices
    return [m for m in range(1, num_devices) if m * per_device >= top_k]


def limit_can_act(top_k: int, num_devices: int, max_devices: int) -> bool:
    """Whether "at most M devices" can change any token's routing: a token's k experts reach at most
    min(k, W) devices, so a limit M at or above that never binds."""
    return max_devices < min(top_k, num_devices)


def default_span(num_experts: int, top_k: int, devices: list[int]) -> tuple[int, int]:
    """The page's default (W, M): DeepSeek-V3's 8 groups with at most 4 (or the largest W where a limit can act),
    M the largest acting limit up to W / 2. Falls back to the largest W and its middle limit if none acts."""
    acting = {w: [m for m in limit_options(num_experts, top_k, w) if limit_can_act(top_k, w, m)] for w in devices}
    usable = [w for w in devices if acting[w]]
    if not usable:
        w = devices[-1]
        options = limit_options(num_experts, top_k, w) or [1]
        return w, options[len(options) // 2]
    w = 8 if 8 in usable else usable[-1]
    return w, max([m for m in acting[w] if m <= max(1, w // 2)] or acting[w][:1])


__all__ = ["devices_spanned", "DeviceSpan", "device_limit_demo", "limit_options", "limit_can_act", "default_span"]
