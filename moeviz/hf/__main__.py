"""python -m moeviz.hf trace --model NAME|PATH --text "..." [--out trace.json]: route a text through a checkpoint
and write the JSON trace that /heatmap opens (so a trace captured on a GPU box can be shown on a small server).
(NAME: one that `list` prints) and write the JSON trace that /heatmap opens.
python -m moeviz.hf list: the models the server would offer (shipped ones, moeviz-lm, then MOEVIZ_MODEL_DIRS).

Progress goes to stderr; the JSON goes to --out (or stdout with --out -).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _progress(message: str) -> None:
    print(f"[moeviz.hf] {message}", file=sys.stderr, flush=True)


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.2f} MiB"


from moeviz.hf.tracefile import MAX_TOKENS

# A trace file holds at most MAX_TOKENS tokens; a byte-level tokenizer makes at most 4 per character (plus a few
# special tokens), so this many characters always fit, and a longer text is refused before any model loads.
MAX_TRACE_CHARS = (MAX_TOKENS - 64) // 4
LM_NAME = "moeviz-lm"  # moeviz's own older LM: /heatmap shows it (model=moeviz-lm); it has no HF folder to trace


def _model_path(model: str) -> str:
    """A name that `list` printed -> its folder; anything else is taken as a path."""
    from moeviz.hf.folders import available_models
    found = available_models()
    return str(found[model]) if model in found else model


def _read_text(args) -> str | None:
    """The text, or None after saying why it is refused (before any model loads)."""
    if args.text_file:
        path = Path(args.text_file)
        if path.stat().st_size > 4 * MAX_TRACE_CHARS:
            _progress(f"refused: {path} is {_size(path.stat().st_size)}; a trace routes at most "
                      f"{MAX_TRACE_CHARS:,} characters")
            return None
        text = path.read_text(encoding="utf-8")
    else:
        text = args.text
    if len(text) > MAX_TRACE_CHARS:
        _progress(f"refused: the text is {len(text):,} characters; a trace routes at most {MAX_TRACE_CHARS:,}")
        return None
    return text


def trace(args) -> int:
    from moeviz.hf.files import CheckpointError, inspect_folder
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.tracefile import routing_json
    if args.model == LM_NAME:
        _progress(f"refused: {LM_NAME} is moeviz's own model, not a transformers checkpoint; open it on /heatmap "
                  "with model=moeviz-lm")
        return 2
    text = _read_text(args)
    if text is None:
        return 2
    args.model = _model_path(args.model)
    start = time.perf_counter()
    try:
        folder = inspect_folder(args.model)
        _progress(f"{folder.path.name}: {folder.model_type}, {folder.num_tensors} tensors, "
                  f"{_size(folder.weight_bytes)} of {folder.dtype} weights; loading ...")
        model = load_checkpoint(args.model, device=args.device)
        _progress(f"loaded on {model.device} in {time.perf_counter() - start:.1f} s; routing the text ...")
        routing = model.route(text)
    except CheckpointError as error:
        _progress(f"refused: {error}")
        return 2
    _progress(f"{len(routing.token_ids)} tokens through {len(routing.traces)} MoE layers "
              f"({len(routing.dense_layers)} dense) in {time.perf_counter() - start:.1f} s in all")
    payload = routing_json(routing)
    if args.out == "-":
        sys.stdout.write(payload + "\n")
    else:
        Path(args.out).write_text(payload, encoding="utf-8")
        _progress(f"wrote {args.out} ({_size(len(payload.encode()))})")
    return 0


def list_models(_args) -> int:
    from moeviz.hf.folders import ENV_VAR, available_models
    models = available_models()
    if not models:
        print(f"no models: set {ENV_VAR} to folders whose subfolders hold config.json", file=sys.stderr)
    for name, path in models.items():
        print(f"{name}\t{path}")
    print(f"{LM_NAME}\t(moeviz's older LM, moeviz/lm/checkpoints: shown on /heatmap, not traceable here)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.hf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("trace", help="route a text through a checkpoint folder and write the JSON trace")
    t.add_argument("--model", required=True, help="a name that `list` prints, or a checkpoint folder "
                                                   "(config.json, *.safetensors, tokenizer)")
    group = t.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="the text to route")
    group.add_argument("--text-file", help="a UTF-8 file holding the text")
    t.add_argument("--out", default="trace.json", help="where to write the JSON (- for stdout)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    t.set_defaults(run=trace)
    sub.add_parser("list", help="the models the server offers").set_defaults(run=list_models)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
