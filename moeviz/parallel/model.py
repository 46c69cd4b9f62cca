"""Analytical systems numbers — a MODEL, not a measurement: comm_compute_model, the per-layer time of
expert-parallel all_to_all traffic vs expert compute on W devices. (Parameter and FLOP counts of one layer are
in moeviz.costs.)

Model (per device, one MoE layer, forward only), with R = imbalance * T_dev * k token copies on the busiest device:
    compute = 2 * n_mat * R * d_model * d_hidden / F
    comm    = 2 * R * d_model * b * ( (g' - 1) / W / B_intra + (W - g') / W / B_inter ) + 2 * (W - 1) * t_msg
where n_mat = weight matrices per expert (3 for SwiGLU; not m, which /compute uses for DeepSeekMoE's split
count), F = achieved FLOP/s, b = bytes per value,
g' = min(W, devices per node), B_intra / B_inter = per-device bandwidth inside / between nodes, t_msg = latency
per message (not called alpha: in this app alpha is the balance-loss weight). The leading 2 in comm counts
dispatch and combine. W is at most N, the number of experts: expert parallelism gives each device whole
experts, and more devices would need replicated or split experts, which the model leaves out. Assumptions:
tokens spread uniformly over the devices, nothing overlaps (no compute hides communication), no attention or
other layers, peak rates scaled by the `*_efficiency`-style numbers in HARDWARE below. Also left out:
DeepSeek-V3's node-limited routing (each token goes to experts on at most 4 nodes), which caps the cross-node
traffic of one token; here every copy goes wherever its expert is. It shows trends, not any real system's time.
"""
from __future__ import annotations

from dataclasses import dataclass

# One equation per line: on one line the formula overflowed the page's column on a 1024 px screen.
# Short lines: a formula wider than its box becomes a scroll region (unreachable by keyboard, and cut on a phone).
FORMULA_LATEX = (r"t_\text{compute} = \frac{2\,n_\text{mat}\,R\,d_\text{model}\,d_\text{hidden}}{F}",
                 r"R = \text{imbalance}\cdot T_\text{dev}\cdot k,\quad g' = \min(W, g)",
                 r"t_\text{comm} = 2\,R\,d_\text{model}\,b\left(\frac{g'-1}{W\,B_\text{intra}} + "
                 r"\frac{W-g'}{W\,B_\text{inter}}\right)",
                 r"\phantom{t_\text{comm}} + 2\,(W-1)\,t_\text{msg}\;")  # (the space: the subscript overhangs)


@dataclass(frozen=True)
class Hardware:
    name: str
    flops_per_s: float  # achieved, not peak
    intra_bytes_per_s: float  # per device, to a device in the same node
    inter_bytes_per_s: float  # per device, to a device in another node
    devices_per_node: int
    latency_s: float  # t_msg: per message


# Round public figures, each scaled to what jobs tend to achieve; change them and the curves move, nothing else.
# The names give every bandwidth in bytes per second (GB/s), the unit of the model; a network's rating in bits
# (Gb/s) only beside it, 8 bits to a byte.
HARDWARE = {
    "h100-nvlink-ib": Hardware("H100 nodes: NVLink inside (≈450 GB/s per GPU), InfiniBand between (50 GB/s per "
                               "GPU, rated 400 Gb/s)",
                               flops_per_s=0.4 * 989e12, intra_bytes_per_s=0.7 * 450e9,
                               inter_bytes_per_s=0.8 * 50e9, devices_per_node=8, latency_s=10e-6),
    "cpu-ethernet": Hardware("CPU servers on 1.25 GB/s Ethernet (rated 10 Gb/s; one per node, each in the place "
                             "of a GPU)",
                             flops_per_s=200e9, intra_bytes_per_s=10e9, inter_bytes_per_s=0.8 * 1.25e9,
                             devices_per_node=1, latency_s=50e-6),
}

# Expert shapes of public models (d_model, d_hidden per expert, num_experts, top_k, matrices), for the model's
# presets: Mixtral-8x7B's and DeepSeek-V3's published configs (DeepSeek-V3: 256 routed experts, plus one shared
# expert that is not in the model).
MODEL_SHAPES = {
    "Mixtral-8x7B-like (d_model = 4096, d_hidden = 14336, N = 8, k = 2)": (4096, 14336, 8, 2, 3),
    "DeepSeek-V3-like (d_model = 7168, d_hidden = 2048, N = 256, k = 8)": (7168, 2048, 256, 8, 3),
    "this app's layer (d_model = 256, d_hidden = 512, N = 8, k = 2)": (256, 512, 8, 2, 2),
}


def comm_compute_model(tokens_per_device: int, d_model: int, d_hidden: int, top_k: int, num_devices: int,
                       hw: Hardware, matrices: int = 3, bytes_per_value: int = 2,
                       imbalance: float = 1.0, num_experts: int | None = None) -> dict:
    """Seconds of expert compute and of all_to_all communication for one layer on the busiest device.
    With `num_experts` given, more devices than experts is refused (each device holds whole experts)."""
    if num_experts is not None and num_devices > num_experts:
        raise ValueError(f"{num_devices} devices for {num_experts} experts: expert parallelism gives each device "
                         "whole experts, so use at most as many devices as experts.")
    W, g = num_devices, min(num_devices, hw.devices_per_node)
    rows = imbalance * tokens_per_device * top_k
    compute = 2 * matrices * rows * d_model * d_hidden / hw.flops_per_s
    per_direction = rows * d_model * bytes_per_value * (
        (g - 1) / W / hw.intra_bytes_per_s + (W - g) / W / hw.inter_bytes_per_s)
    comm = 2 * per_direction + 2 * (W - 1) * hw.latency_s  # t_msg per message, one to each other device
    return {"compute_s": compute, "comm_s": comm, "comm_share": comm / (comm + compute) if comm + compute else 0.0}


DEVICE_COUNTS = (2, 4, 8, 16, 32, 64, 128, 256)


def model_devices(shape: str, devices=DEVICE_COUNTS) -> tuple[int, ...]:
    """The device counts the model draws for a shape: those with at least one whole expert per device (W <= N)."""
    return tuple(W for W in devices if W <= MODEL_SHAPES[shape][2])


def model_curve(shape: str, hardware: str, tokens_per_device: int = 4096, imbalance: float = 1.0,
                devices=DEVICE_COUNTS) -> list[dict]:
    """comm_compute_model for one MODEL_SHAPES entry on one HARDWARE entry, over the device counts up to its
    number of experts (bf16 values)."""
    d_model, d_hidden, num_experts, top_k, matrices = MODEL_SHAPES[shape]
    return [{"num_devices": W, **comm_compute_model(tokens_per_device, d_model, d_hidden, top_k, W, HARDWARE[hardware],
                                                     matrices=matrices, imbalance=imbalance, num_experts=num_experts)}
            for W in model_devices(shape, devices)]


def when_comm_wins(rows: list[dict]) -> dict | None:
    """The first row of a model_curve where communication takes longer than compute, or None if it never does."""
    return next((r for r in rows if r["comm_s"] > r["compute_s"]), None)
