"""Expert parallelism on real worker processes (torch.distributed, gloo), and the analytical systems model.

    from moeviz.parallel import run_expert_parallel, WorkerError, skewed_tokens
    run = run_expert_parallel(cfg, x, world_size=2)    # pooled workers on 127.0.0.1; run.workers, run.step_ms
    python -m moeviz.parallel.run                       # the same step under torchrun, across machines

engine.py  one rank's step (route, all_to_all, local experts, all_to_all back, combine)
worker.py  the worker process loop;  pool.py  the persistent pool;  run.py  the torchrun entry
capacity.py  expert buffers and drops;  dropless.py  one batch dropless and under capacity;
placement.py  devices a token's experts span (device-limited routing);  model.py  the communication-vs-compute *model*;  workload.py  inputs
"""
from moeviz.parallel.pool import (ParallelRun, WorkerError, current_pool, measure_expert_parallel,
                                  run_expert_parallel, shutdown_pool)
from moeviz.parallel.workload import skewed_tokens

__all__ = ["ParallelRun", "WorkerError", "current_pool", "measure_expert_parallel", "run_expert_parallel",
           "shutdown_pool", "skewed_tokens"]
