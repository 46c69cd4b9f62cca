"""python -m moeviz.bench <name> [options]: dispatch to one benchmark module.

Names map to modules so each benchmark stays a small file of its own; streamlit-based ones live in moeviz.app.
"""
import importlib
import sys

BENCHMARKS = {
    "layer": ("moeviz.bench.layer", "sparse layer vs dense-all, HF per-expert loop, dense-equivalent FFN"),
    "dispatch": ("moeviz.bench.dispatch", "padded vs grouped sparse dispatch over batch sizes; what auto picks"),
    "app": ("moeviz.app.bench", "server time of walkthrough reruns under AppTest"),
    "train": ("moeviz.bench.train", "balance lab: seconds for the default training preset"),
    "parallel": ("moeviz.bench.parallel", "expert parallelism over gloo workers: per-worker times and bytes"),
    "checkpoint": ("moeviz.bench.checkpoint", "real-architecture checkpoints (moeviz.hf): load and route time"),
    "routes": ("moeviz.bench.routes", "summarise a 500k-token x 48-layer x top-8 routing dump: time, peak memory"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print("usage: python -m moeviz.bench <name> [options]\n\nbenchmarks:")
        for name, (_, what) in BENCHMARKS.items():
            print(f"  {name:<10}{what}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(BENCHMARKS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
