"""Small builders shared by the core tests."""
import base64

import numpy as np
import torch

from moeviz import MoEConfig, MoELayer

TOKEN_CHOICE = ("softmax_topk", "topk_softmax", "sigmoid_bias", "noisy_topk", "switch")


def make_cfg(router: str = "softmax_topk", **overrides) -> MoEConfig:
    base = dict(d_model=12, d_hidden=20, num_experts=6, top_k=2, router=router, device="cpu", seed=3)
    base["top_k"] = MoEConfig.routed_top_k(router, base["top_k"])  # Switch: always 1
    base.update(overrides)
    return MoEConfig(**base)


def make_layer(router: str = "softmax_topk", **overrides) -> MoELayer:
    return MoELayer(make_cfg(router, **overrides)).eval()


def tokens(n: int, d_model: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d_model, generator=torch.Generator().manual_seed(seed))


def traced(num_tokens: int, token_seed: int = 0, **fields):
    """The RoutingTrace of an eval-mode MoELayer(MoEConfig(device="cpu", **fields)) on `num_tokens` seeded tokens."""
    layer = MoELayer(MoEConfig(device="cpu", **fields)).eval()
    with torch.inference_mode():
        return layer(tokens(num_tokens, layer.cfg.d_model, token_seed))[1]


def agree(shown: str, places: int = 4) -> bool:
    """Whether a metric written by moeviz.text.difference says two outputs agree to at least `places` decimals."""
    import re
    found = re.fullmatch(r"match to (\d+) decimal places", shown)
    return shown == "exactly equal" or (found is not None and int(found.group(1)) >= places)


def plotly_values(field) -> np.ndarray:
    """A Plotly figure's data field as an array: plain JSON lists, or plotly's typed arrays
    ({"dtype", "bdata"[, "shape"]}, as a chart's JSON spec carries numeric arrays)."""
    if isinstance(field, dict) and "bdata" in field:
        flat = np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"])
        shape = field.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.array(field, dtype=float)
