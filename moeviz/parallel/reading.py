"""The numbers behind the per-worker charts' words, so each sentence says what its bars show.

Pure Python on the per-rank stats of moeviz.parallel.engine.ep_step (ParallelRun.workers). Three things a
reader of those bars gets wrong without them:
- "copies received" counts a worker's own token copies too, which never touch the wire; only the copies from
  other workers are traffic;
- every copy that crosses the wire comes back as a result of the same size, so over a step a worker's bytes
  out and bytes in are nearly equal however uneven the copies are (its incoming copies are its outgoing
  results, and the other way round);
- a worker that waits is not always the lighter one: waiting includes each barrier's own message round, and on
  shared cores two workers with the same number of copies can compute at different speeds.
"""
from __future__ import annotations

PHASES = ("route", "compute", "comm", "wait", "other")  # engine timings; they add up to step_ms


def worker_summary(workers: list[dict]) -> dict:
    """Per-worker counts and times for the page's sentences (workers ordered by rank)."""
    received = [w["rows_received"] for w in workers]
    remote = [w["rows_from_others"] for w in workers]
    mean = sum(received) / len(received)
    busiest = max(range(len(workers)), key=received.__getitem__)
    quietest = min(range(len(workers)), key=received.__getitem__)
    return {
        "received": received, "from_others": remote, "own": [r - o for r, o in zip(received, remote)],
        "mean_received": mean, "busiest": workers[busiest]["rank"], "quietest": workers[quietest]["rank"],
        "busiest_over_mean": received[busiest] / mean if mean else 0.0,
        "compute_ms": [w["compute_ms"] for w in workers],
        "least_wait_ms": min(w["wait_ms"] for w in workers),
        "phase_sum_ms": [sum(w.get(f"{p}_ms", 0.0) for p in PHASES) for w in workers],
        "step_ms": [w["step_ms"] for w in workers],
    }
