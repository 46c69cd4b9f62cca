"""The worker process: join the gloo group on loopback, then serve expert-parallel steps from a job queue.

Messages in (job queue):  ("step", job_id, config_fields, x_shard: numpy, fail: bool, placement: tuple | None)
                          or ("stop",)
Messages out (results):   ("ready", rank, pid) | ("error", rank, text) | ("done", job_id, rank, y: numpy, stats)
                          | ("failed", job_id, rank, text)
"""
from __future__ import annotations

import os
import queue
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel.engine import ep_step, keep_local_experts
from moeviz.parallel.replicated import replicated_step, slot_layer

COLLECTIVE_TIMEOUT = timedelta(seconds=60)  # a peer that vanished mid-step fails the step instead of hanging
PARENT_POLL_S = 1.0
INJECTED_FAILURE_EXIT = 3
MAX_LAYERS = 2  # the page alternates one layer dropless and under capacity: keep both, build neither twice


def worker_main(rank: int, world_size: int, port: int, jobs, results, parent_pid: int) -> None:
    _own_session()
    torch.set_num_threads(1)  # W workers share a few cores; more threads per worker would only fight
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - any start-up failure is reported to the parent as text
        results.put(("error", rank, f"{type(error).__name__}: {error}"))
        return
    results.put(("ready", rank, os.getpid()))
    try:
        _serve(rank, world_size, jobs, results, parent_pid)
    finally:
        dist.destroy_process_group()


def _own_session() -> None:
    """Start a session of our own. Linux's autogroup scheduler shares the CPU fairly between sessions, not
    processes: left in the server's session, the W workers split one share between them, so a step takes as
    long as the total work whatever its spread, and the busiest worker cannot set the pace. In a session each,
    each worker gets its own share, as each rank of a real job has its own device."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a session leader, or not allowed: keep the parent's session
            pass


def _serve(rank: int, world_size: int, jobs, results, parent_pid: int) -> None:
    layers: dict[tuple, MoELayer] = {}
    while True:
        try:
            message = jobs.get(timeout=PARENT_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:  # the parent died without stopping us: do not linger as an orphan
                return
            continue
        if message[0] == "stop":
            return
        _, job_id, fields, x_shard, fail, placement = message
        if fail:
            os._exit(INJECTED_FAILURE_EXIT)  # a crash mid-step, as a test or a demo asked for
        try:
            layer = _layer(layers, fields, rank, world_size, placement)
            x = torch.from_numpy(x_shard)
            y, stats = ep_step(layer, x) if placement is None else replicated_step(layer, x, placement)
            results.put(("done", job_id, rank, y.numpy(), stats))
        except Exception:  # noqa: BLE001 - the parent tears the pool down and shows this text
            results.put(("failed", job_id, rank, traceback.format_exc(limit=4)))
            return


def _layer(cache: dict, fields: dict, rank: int, world_size: int, placement: tuple | None = None) -> MoELayer:
    """This rank's part of the seeded layer: the same seed gives every rank the same router and experts,
    then each keeps only its own block of experts (or its slots of a placement: moeviz.parallel.replicated)."""
    key = (tuple(sorted(fields.items())), placement)
    if key not in cache:
        while len(cache) >= MAX_LAYERS:
            cache.pop(next(iter(cache)))  # the oldest: configs change when the page's controls change
        full = MoELayer(MoEConfig(**fields)).eval()
        cache[key] = keep_local_experts(full, rank, world_size) if placement is None else \
            slot_layer(full, placement, rank, world_size)
    return cache[key]
