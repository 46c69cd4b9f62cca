"""The expert-parallel step under torchrun, on one machine or many (same engine as the app's worker pool).

    torchrun --standalone --nproc-per-node 2 -m moeviz.parallel.run --tokens 4096
    # two machines: on each, with the first machine's address
    torchrun --nnodes 2 --nproc-per-node 1 --node-rank <0|1> --master-addr 10.0.0.1 --master-port 29500 \\
        -m moeviz.parallel.run --tokens 4096

torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; every rank builds the same seeded layer and the same
seeded tokens, keeps its experts and its shard of tokens, and rank 0 prints the per-worker table and checks the
gathered output against the single-process layer (run on each rank's shard: with --capacity-factor, every rank's
tokens are one capacity group, as in GShard).
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel.engine import ep_step, keep_local_experts, local_group_reference, unsupported_reason
from moeviz.parallel.workload import skewed_tokens
from moeviz.routers import ROUTER_SPECS


def parse_args(argv):
    p = argparse.ArgumentParser(prog="torchrun ... -m moeviz.parallel.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-experts", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    # experts-choose routers rank the whole batch together, so a rank cannot route its shard alone
    p.add_argument("--router", default="softmax_topk",
                   choices=[name for name, spec in ROUTER_SPECS.items() if not spec.experts_choose])
    p.add_argument("--capacity-factor", type=float, default=None, help="slots per expert per rank's group "
                   "(default: no limit; switch uses its own default)")
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--d-hidden", type=int, default=512)
    p.add_argument("--tokens", type=int, default=4096, help="tokens in the whole batch (split over ranks)")
    p.add_argument("--skew", type=float, default=0.0, help="share of tokens pushed toward rank 0's experts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3, help="steps to run; the table shows the last")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            print(f"{name} is not set: start this with torchrun (see --help).", file=sys.stderr)
            return 2
    try:  # before joining the group, so no peer waits on a rank that gave up
        cfg = MoEConfig(d_model=args.d_model, d_hidden=args.d_hidden, num_experts=args.num_experts,
                        top_k=MoEConfig.routed_top_k(args.router, args.top_k), router=args.router,
                        capacity_factor=args.capacity_factor, device="cpu", seed=args.seed)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if unsupported_reason(cfg):
        print(f"cannot run expert-parallel: {unsupported_reason(cfg)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    rank, W = dist.get_rank(), dist.get_world_size()
    full = MoELayer(cfg).eval()
    x = skewed_tokens(full, args.tokens, args.skew, args.seed + 1, W)
    reference = local_group_reference(full, x, W)[0] if rank == 0 else None
    layer = keep_local_experts(full, rank, W)
    x_local = torch.tensor_split(x, W)[rank]
    for _ in range(args.steps):
        y_local, stats = ep_step(layer, x_local)
    all_stats = [None] * W
    dist.all_gather_object(all_stats, stats)
    outputs = [None] * W
    dist.all_gather_object(outputs, y_local)
    if rank == 0:
        print_table(all_stats)
        diff = (torch.cat(outputs) - reference).abs().max().item()
        print(f"max |expert-parallel - single-process| = {diff:.2e}")
    dist.destroy_process_group()
    return 0


def print_table(workers: list[dict]) -> None:
    print(f"{'rank':>4} {'experts':>9} {'rows in':>8} {'compute ms':>11} {'wait ms':>8} {'comm ms':>8} "
          f"{'sent KB':>8} {'recv KB':>8} {'step ms':>8}")
    for w in workers:
        print(f"{w['rank']:>4} {w['experts'][0]:>4}-{w['experts'][1]:<4} {w['rows_received']:>8} "
              f"{w['compute_ms']:>11.2f} {w['wait_ms']:>8.2f} {w['comm_ms']:>8.2f} {w['bytes_sent'] / 1e3:>8.1f} "
              f"{w['bytes_received'] / 1e3:>8.1f} {w['step_ms']:>8.2f}")
    print(f"step time (slowest worker): {max(w['step_ms'] for w in workers):.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
