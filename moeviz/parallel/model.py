"""Analytical systems numbers — a MODEL, not a measurement: comm_compute_model, the per-layer time of
expert-parallel all_to_all traffic vs expert compute on W devices. (Parameter and FLOP counts of one layer are
in moeviz.costs.)

Model (per device, one MoE layer, forward only), with R = imbalance * T_dev * k token copies on the busiest device:
    compute = 2 * m * R * D * H / F
    comm    = 2 * R * D * b * ( (g' - 1) / W / B_intra + (W - g') / W / B_inter ) + 2 * (W - 1) * alpha
where m = matrices per expert (3 for SwiGLU), D = d_model, H = d_hidden, F = achieved FLOP/s, b = bytes per value,
g' = min(W, devices per node), B_intra / B_inter = per-device bandwidth inside / between nodes, alpha = latency
per message. The leading 2 in comm counts dispatch and combine. Assumptions: tokens spread uniformly over the
devices, nothing overlaps (no compute hides communication), no attention or other layers, peak rates scaled
by the `*_efficiency`-style numbers in HARDWARE below. It shows trends, not the time of any real system.
"""
from __future__ import annotations

from dataclasses import dataclass

# One equation per line: on one line the formula overflowed the page's column on a 1024 px screen.
FORMULA_LATEX = (r"t_\text{compute} = \frac{2\,m\,R\,D\,H}{F},\quad "
                 r"R = \text{imbalance}\cdot T_\text{dev}\cdot k,\quad g' = \min(W, g)",
                 r"t_\text{comm} = 2\,R\,D\,b\left(\frac{g'-1}{W\,B_\text{intra}} + "
                 r"\frac{W-g'}{W\,B_\text{inter}}\right) + 2\,(W-1)\,\alpha")


@dataclass(frozen=True)
class Hardware:
    name: str
    flops_per_s: float  # achieved, not peak
    intra_bytes_per_s: float  # per device, to a device in the same node
    inter_bytes_per_s: float  # per device, to a device in another node
    devices_per_node: int
    latency_s: float  # per message


# Round public figures, each scaled to what jobs tend to achieve; change them and the curves move, nothing else.
HARDWARE = {
    "h100-nvlink-ib": Hardware("H100 nodes: NVLink inside (≈450 GB/s), 400 Gb/s InfiniBand between",
                               flops_per_s=0.4 * 989e12, intra_bytes_per_s=0.7 * 450e9,
                               inter_bytes_per_s=0.8 * 50e9, devices_per_node=8, latency_s=10e-6),
    "cpu-ethernet": Hardware("CPU servers on 10 Gb/s Ethernet, one device per node",
                             flops_per_s=200e9, intra_bytes_per_s=10e9, inter_bytes_per_s=0.8 * 1.25e9,
                             devices_per_node=1, latency_s=50e-6),
}

# Expert shapes of public models (d_model, d_hidden per expert, top_k, matrices), for the model's presets.
MODEL_SHAPES = {
    "Mixtral-8x7B-like (D=4096, H=14336, k=2)": (4096, 14336, 2, 3),
    "DeepSeek-V3-like (D=7168, H=2048, k=8)": (7168, 2048, 8, 3),
    "this app's layer (D=256, H=512, k=2)": (256, 512, 2, 2),
}


def comm_compute_model(tokens_per_device: int, d_model: int, d_hidden: int, top_k: int, num_devices: int,
                       hw: Hardware, matrices: int = 3, bytes_per_value: int = 2,
                       imbalance: float = 1.0) -> dict:
    """Seconds of expert compute and of all_to_all communication for one layer on the busiest device."""
    W, g = num_devices, min(num_devices, hw.devices_per_node)
    rows = imbalance * tokens_per_device * top_k
    compute = 2 * matrices * rows * d_model * d_hidden / hw.flops_per_s
    per_direction = rows * d_model * bytes_per_value * (
        (g - 1) / W / hw.intra_bytes_per_s + (W - g) / W / hw.inter_bytes_per_s)
    comm = 2 * per_direction + 2 * (W - 1) * hw.latency_s
    return {"compute_s": compute, "comm_s": comm, "comm_share": comm / (comm + compute) if comm + compute else 0.0}


DEVICE_COUNTS = (2, 4, 8, 16, 32, 64, 128, 256)


def model_curve(shape: str, hardware: str, tokens_per_device: int = 4096, imbalance: float = 1.0,
                devices=DEVICE_COUNTS) -> list[dict]:
    """comm_compute_model for one MODEL_SHAPES entry on one HARDWARE entry, over device counts (bf16 values)."""
    d_model, d_hidden, top_k, matrices = MODEL_SHAPES[shape]
    return [{"num_devices": W, **comm_compute_model(tokens_per_device, d_model, d_hidden, top_k, W, HARDWARE[hardware],
                                                     matrices=matrices, imbalance=imbalance)} for W in devices]
