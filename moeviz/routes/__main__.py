"""python -m moeviz.routes summary FILE [FILE ...] [--format NAME] [--layers N --top-k K] [--experts E] [--json]

Prints, per MoE layer, the tokens routed, k and tokens per expert; --json writes
{"format", "layers": [{"layer", "tokens", "top_k", "tokens_per_expert"}]}, small enough to copy to a laptop and
plan replicas there (python -m moeviz.eplb plan --load summary.json ...).
"""
from __future__ import annotations

import argparse
import json
import sys

from moeviz.routes import FORMATS, RoutesError, summarize


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m moeviz.routes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="per-layer tokens, k and tokens per expert of a routing dump")
    s.add_argument("file", nargs="+", help="a dump; several files of one format are added up (e.g. SGLang's "
                   "per_pass / per_token recorder writes one file per rank)")
    s.add_argument("--format", choices=list(FORMATS), help="skip detection: " + "; ".join(
        f"{name}: {f.what}" for name, f in FORMATS.items()))
    s.add_argument("--layers", type=int, help="num_hidden_layers (a flat SGLang payload does not say it)")
    s.add_argument("--top-k", type=int, help="experts per token (a flat SGLang payload does not say it)")
    s.add_argument("--experts", type=int, help="experts per layer (default: the highest id seen + 1)")
    s.add_argument("--json", action="store_true", help="write the summary as JSON")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = summarize(args.file, args.format, args.layers, args.top_k, args.experts)
    except RoutesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.to_dict()))
        return 0
    print(f"format: {summary.format}, {len(summary.layers)} MoE layers, {summary.num_experts} experts")
    print(f"{'layer':>5} {'tokens':>10} {'k':>3} {'max/mean':>9}  tokens per expert")
    for s in summary.layers:
        counts = s.tokens_per_expert
        ratio = max(counts) / (sum(counts) / len(counts))
        shown = " ".join(map(str, counts[:16])) + (" ..." if len(counts) > 16 else "")
        print(f"{s.layer:>5} {s.tokens if s.tokens is not None else '?':>10} {s.top_k or '?':>3} {ratio:>9.2f}  "
              f"{shown}")
    for note in summary.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
