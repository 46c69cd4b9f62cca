"""A persistent pool of expert-parallel worker processes, started once per server process and reused.

    result = run_expert_parallel(cfg, x, world_size=2)   # blocks; sessions queue on one lock
    shutdown_pool()                                      # also runs at interpreter exit

Workers are spawned (not forked: a Streamlit server has threads) with torch.multiprocessing and join a gloo
group on 127.0.0.1 at a free port. Any failure (a worker that dies, reports an error or runs past the timeout)
tears the whole pool down: every process is terminated and reaped, and the caller gets a WorkerError saying
what happened. The next call starts a fresh pool.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import queue
import socket
import sys
import threading
import time
import types
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.multiprocessing as mp

from moeviz.config import MoEConfig
from moeviz.parallel.engine import unsupported_reason
from moeviz.parallel.worker import worker_main

START_TIMEOUT_S = 180.0  # spawning imports torch in every worker: slow on a busy 2-core machine
STEP_TIMEOUT_S = 120.0
POLL_S = 0.2


class WorkerError(RuntimeError):
    """The worker pool could not start or a step failed; the message says why, for the page to show."""


@dataclass
class ParallelRun:
    output: torch.Tensor  # (T, D), the expert-parallel layer output, tokens in their original order
    workers: list[dict]  # per-rank stats from moeviz.parallel.engine.ep_step, ordered by rank
    world_size: int
    wall_ms: float  # as seen by the caller, including queue transfers
    pool_start_s: float  # seconds spent starting workers for this call (0.0 when the pool was reused)

    @property
    def step_ms(self) -> float:
        """The step ends when the slowest worker ends."""
        return max(w["step_ms"] for w in self.workers)


@contextlib.contextmanager
def _main_module_hidden():
    """Spawned children re-import the parent's __main__ module. Under Streamlit that is the page script being run
    (its script runner installs it as __main__), so each worker would run the page again. Workers need nothing
    from __main__: show spawn an empty one while the processes start."""
    main = sys.modules.get("__main__")
    stub = types.ModuleType("__main__")
    sys.modules["__main__"] = stub
    try:
        yield
    finally:
        if sys.modules.get("__main__") is stub:  # another thread may have installed its own script meanwhile
            sys.modules["__main__"] = main


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerPool:
    def __init__(self, world_size: int, start_timeout_s: float = START_TIMEOUT_S):
        if world_size < 1:
            raise ValueError(f"world_size must be at least 1, got {world_size}.")
        self.world_size = world_size
        self.closed = False
        self._lock = threading.Lock()
        self._job_id = 0
        ctx = mp.get_context("spawn")
        self._jobs = [ctx.Queue() for _ in range(world_size)]
        self._results = ctx.Queue()
        port = free_port()
        self._procs = [ctx.Process(target=worker_main, name=f"moeviz-ep-{rank}", daemon=True,
                                   args=(rank, world_size, port, self._jobs[rank], self._results, os.getpid()))
                       for rank in range(world_size)]
        started = time.perf_counter()
        try:
            with _main_module_hidden():
                for p in self._procs:
                    p.start()
            self._await_ready(start_timeout_s)
        except BaseException:
            self.close()
            raise
        self.start_s = time.perf_counter() - started

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def _await_ready(self, timeout_s: float) -> None:
        ready = set()
        for message in self._messages(timeout_s, lambda: len(ready) == self.world_size, "start"):
            if message[0] == "error":
                raise WorkerError(f"worker {message[1]} could not join the gloo group on 127.0.0.1: {message[2]}")
            ready.add(message[1])

    def _messages(self, timeout_s: float, done, what: str):
        """Yield result messages until done() or a failure: a dead worker or the deadline raises WorkerError."""
        deadline = time.monotonic() + timeout_s
        while not done():
            try:
                yield self._results.get(timeout=POLL_S)
                continue
            except queue.Empty:
                pass
            dead = [(p.name, p.exitcode) for p in self._procs if not p.is_alive()]
            if dead:
                raise WorkerError(f"worker process(es) died during {what}: "
                                  + ", ".join(f"{n} (exit code {c})" for n, c in dead))
            if time.monotonic() > deadline:
                raise WorkerError(f"workers did not finish {what} within {timeout_s:.0f} s")

    def run(self, cfg: MoEConfig, x: torch.Tensor, timeout_s: float = STEP_TIMEOUT_S,
            fail_rank: int | None = None, placement: tuple | None = None) -> ParallelRun:
        """One expert-parallel forward of x (T, D) with the seeded layer of `cfg`, tokens split evenly by rank.

        fail_rank makes that worker exit mid-step (to test and show clean-up); placement (phy2log) runs
        moeviz.parallel.replicated's step instead of the contiguous blocks."""
        with self._lock:
            if self.closed:
                raise WorkerError("the worker pool was shut down; start a new one.")
            try:
                return self._run(cfg, x, timeout_s, fail_rank, placement)
            except BaseException:
                self.close()
                raise

    def _run(self, cfg, x, timeout_s, fail_rank, placement=None) -> ParallelRun:
        self._job_id += 1
        job = self._job_id
        config = {f.name: getattr(cfg, f.name) for f in fields(cfg)} | {"device": "cpu"}
        shards = torch.tensor_split(x.detach().float().cpu(), self.world_size)
        started = time.perf_counter()
        for rank, shard in enumerate(shards):
            self._jobs[rank].put(("step", job, config, shard.numpy().copy(), rank == fail_rank, placement))
        outputs, stats = {}, {}
        for message in self._messages(timeout_s, lambda: len(outputs) == self.world_size, "the step"):
            if message[0] == "failed":
                raise WorkerError(f"worker {message[2]} failed during the step{self._deaths()}:\n{message[3]}")
            if message[0] == "done" and message[1] == job:
                outputs[message[2]], stats[message[2]] = message[3], message[4]
        output = torch.from_numpy(np.concatenate([outputs[r] for r in range(self.world_size)]))
        return ParallelRun(output, [stats[r] for r in range(self.world_size)], self.world_size,
                           (time.perf_counter() - started) * 1e3, 0.0)

    def _deaths(self, wait_s: float = 2.0) -> str:
        """', after worker X died (exit code C)' when a peer's crash is what broke the step, else ''."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            dead = [(p.name, p.exitcode) for p in self._procs if p.exitcode is not None]
            if dead:
                return ", after " + ", ".join(f"{n} died (exit code {c})" for n, c in dead)
            time.sleep(POLL_S)
        return ""

    def close(self) -> None:
        """Stop every worker and reap it: ask politely, then terminate, then kill. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        for jobs, p in zip(self._jobs, self._procs):
            if p.is_alive():
                try:
                    jobs.put_nowait(("stop",))
                except (ValueError, OSError, queue.Full):
                    pass
        _reap(self._procs)
        for q in [*self._jobs, self._results]:
            q.cancel_join_thread()  # unread items must not block our exit
            q.close()


def _reap(procs, grace_s: float = 3.0) -> None:
    deadline = time.monotonic() + grace_s
    for p in procs:
        if p.pid is not None:
            p.join(max(0.0, deadline - time.monotonic()))
    for signal_step in ("terminate", "kill"):
        alive = [p for p in procs if p.pid is not None and p.is_alive()]
        for p in alive:
            getattr(p, signal_step)()
        for p in alive:
            p.join(2.0)


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()  # one job at a time across all sessions of a server; others wait their turn


def run_expert_parallel(cfg: MoEConfig, x: torch.Tensor, world_size: int, timeout_s: float = STEP_TIMEOUT_S,
                        fail_rank: int | None = None, placement: tuple | None = None) -> ParallelRun:
    """Run one step on the process-wide pool of `world_size` workers, starting (or restarting) it if needed."""
    global _POOL
    reason = unsupported_reason(cfg)
    if reason:
        raise ValueError(f"expert-parallel run not possible: {reason}")
    with _POOL_LOCK:
        start_s = 0.0
        if _POOL is None or _POOL.closed or _POOL.world_size != world_size:
            if _POOL is not None:
                _POOL.close()
            _POOL = None
            try:
                _POOL = WorkerPool(world_size)
            except WorkerError:
                raise
            except Exception as error:  # ports, permissions, resource limits: say so instead of a traceback
                raise WorkerError(f"could not start {world_size} worker processes: "
                                  f"{type(error).__name__}: {error}") from error
            start_s = _POOL.start_s
        result = _POOL.run(cfg, x, timeout_s, fail_rank, placement)
        result.pool_start_s = start_s
        return result


def current_pool() -> WorkerPool | None:
    """The live pool, if any (for status lines and tests)."""
    return _POOL if _POOL is not None and not _POOL.closed else None


def shutdown_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None


atexit.register(shutdown_pool)


def measure_expert_parallel(cfg: MoEConfig, x: torch.Tensor, world_size: int, repeats: int = 3,
                            placement: tuple | None = None) -> ParallelRun:
    """`repeats` steps on the pool; returns the one with the median step time (the first step also warms up
    the workers' kernels and caches, so one step alone overstates the cost). Its pool_start_s is the first's."""
    return measure_interleaved({"run": (cfg, x)}, world_size, repeats, placement)["run"].median


@dataclass
class Measured:
    """One case's steps from measure_interleaved: `median` (the run with the median step time) and every
    step's time in round order, so rounds of different cases can be compared pair by pair."""
    median: ParallelRun
    step_ms: list[float]


def measure_interleaved(cases: dict[str, tuple[MoEConfig, torch.Tensor]], world_size: int,
                        repeats: int = 3, placement: tuple | None = None) -> dict[str, Measured]:
    """`repeats` rounds of one step of every case, in turn, on the same pool. Interleaving makes a burst of
    load from other users of the machine fall on every case alike instead of on whichever ran then."""
    steps: dict[str, list[ParallelRun]] = {label: [] for label in cases}
    for _ in range(max(1, repeats)):
        for label, (cfg, x) in cases.items():
            steps[label].append(run_expert_parallel(cfg, x, world_size, placement=placement))
    first_start = max(runs[0].pool_start_s for runs in steps.values())  # only the very first step started the pool
    out = {}
    for label, runs in steps.items():
        chosen = sorted(runs, key=lambda r: r.step_ms)[len(runs) // 2]
        chosen.pool_start_s = first_start
        out[label] = Measured(chosen, [r.step_ms for r in runs])
    return out
