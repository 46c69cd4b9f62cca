"""Reading values from a link, safely: parsers that say what is wrong, and the shared controls' ranges.

Pure Python (no streamlit), so the rules for hostile links are unit-tested on their own. A parser takes the raw
text of one URL parameter and returns a value, or raises `ParamError` with a sentence for the reader.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from moeviz.config import ROUTERS
from moeviz.routers import router_spec
from moeviz.text import escape_markdown

MAX_SHOWN_CHARS = 40  # a hostile value is quoted back to the reader, but never at length

# The shared controls (docs/architecture.md). Widget keys are the URL parameter names.
SHARED_KEYS = ("num_experts", "top_k", "router", "balance_weight", "capacity_factor", "seed")
MIN_EXPERTS, MAX_EXPERTS = 2, 64
MAX_TOP_K = 8  # DeepSeek-V3 routes 8 (a few newer models ~10); more would be unreadable in a figure
MAX_SEED = 2**31 - 1
BALANCE_WEIGHTS = (0.0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # 0, then log-spaced
CAPACITY_OFF = "off"
CAPACITY_FACTORS = (CAPACITY_OFF, "0.5", "0.75", "1", "1.25", "1.5", "2", "3", "4")  # widget options, as text

DEFAULTS = {"num_experts": 8, "top_k": 2, "router": "softmax_topk", "balance_weight": 0.01,
            "capacity_factor": CAPACITY_OFF, "seed": 0}


class ParamError(ValueError):
    """A URL value that cannot be used; the message says why, in words for the reader."""


Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Renamed:
    """A parser's answer for a value an older link wrote under another name: use `value`, tell the reader."""
    value: Any
    note: str


def shown(raw: str) -> str:
    """A raw value as quoted back to the reader: one line, shortened, inert as Markdown."""
    raw = " ".join(str(raw).split())
    raw = raw if len(raw) <= MAX_SHOWN_CHARS else raw[: MAX_SHOWN_CHARS - 1] + "…"
    return escape_markdown(raw)


def parse_int(lo: int, hi: int) -> Parser:
    """A parser for a whole number in [lo, hi]."""
    def parse(raw: str) -> int:
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,12}", text):
            raise ParamError(f"“{shown(raw)}” is not a whole number.")
        value = int(text)
        if not lo <= value <= hi:
            raise ParamError(f"{value} is outside {lo}…{hi}.")
        return value
    return parse


def parse_choice(options: Sequence[str], renamed: dict[str, str] | None = None) -> Parser:
    """A parser for one of a fixed set of words (exact match after trimming); an old word in `renamed`
    (old -> new) gives its new word as a `Renamed`, so the page can say so and write the new word back."""
    renamed = renamed or {}

    def parse(raw: str) -> str | Renamed:
        text = raw.strip()
        if text in renamed:
            new = renamed[text]
            return Renamed(new, f"“{text}” is the old name of “{new}” (the same rule); the link now says "
                                f"{new}.")
        if text not in options:
            raise ParamError(f"“{shown(raw)}” is not one of {', '.join(options)}.")
        return text
    return parse


def parse_int_choice(options: Sequence[int]) -> Parser:
    """A parser for one of a few whole numbers (e.g. batch sizes)."""
    words = parse_choice([str(o) for o in options])
    return lambda raw: int(words(raw))


def parse_choices(options: Sequence[str]) -> Parser:
    """A parser for a comma-separated set of words from `options` (at least one), in the options' order."""
    def parse(raw: str) -> tuple[str, ...]:
        words = {w.strip() for w in raw.split(",") if w.strip()}
        if not words:
            raise ParamError("the list is empty.")
        unknown = sorted(words - set(options))
        if unknown:
            raise ParamError(f"“{shown(unknown[0])}” is not one of {', '.join(options)}.")
        return tuple(o for o in options if o in words)
    return parse


def parse_float_choice(options: Sequence[float]) -> Parser:
    """A parser for one of a fixed set of numbers (so 0.010 and 1e-2 both mean 0.01)."""
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ParamError(f"“{shown(raw)}” is not a number.") from None
        if not math.isfinite(value):
            raise ParamError(f"“{shown(raw)}” is not a finite number.")
        for option in options:
            if math.isclose(value, option, rel_tol=1e-9, abs_tol=1e-12):
                return option
        raise ParamError(f"{value:g} is not one of {', '.join(f'{o:g}' for o in options)}.")
    return parse


def parse_capacity(raw: str) -> str:
    """Capacity factor: 'off' (also 'none', empty) or one of CAPACITY_FACTORS, returned as its option text."""
    text = raw.strip().lower()
    if text in ("off", "none", ""):
        return CAPACITY_OFF
    numbers = parse_float_choice([float(o) for o in CAPACITY_FACTORS[1:]])(text)
    return f"{numbers:g}"


def parse_flag(raw: str) -> bool:
    """An on/off switch: 1/true/yes/on or 0/false/no/off."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ParamError(f"“{shown(raw)}” is not on/off (use 1 or 0).")


def parse_text(max_chars: int, multiline: bool = False) -> Parser:
    """A parser for free text: printable, at most `max_chars` long, not blank. Line breaks and tabs are kept
    when `multiline` (a text area: code lines must survive the link), else they become spaces (so words stay
    apart); every other control character is dropped."""
    def parse(raw: str) -> str:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if not multiline:
            raw = raw.replace("\n", " ").replace("\t", " ")
        text = "".join(ch for ch in raw if ch.isprintable() or ch in "\n\t")
        if not text.strip():
            raise ParamError("the text is empty.")
        if len(text) > max_chars:
            raise ParamError(f"the text is longer than {max_chars} characters.")
        return text
    return parse


SHARED_PARSERS: dict[str, Parser] = {
    "num_experts": parse_int(MIN_EXPERTS, MAX_EXPERTS),
    "top_k": parse_int(1, MAX_TOP_K),
    "router": parse_choice(ROUTERS),
    "balance_weight": parse_float_choice(BALANCE_WEIGHTS),
    "capacity_factor": parse_capacity,
    "seed": parse_int(0, MAX_SEED),
}


@dataclass(frozen=True)
class ReadResult:
    value: Any
    warning: str | None  # a sentence for st.warning, or None when the link's value was used as is


def read_param(key: str, raw_values: Sequence[str], parse: Parser, default: Any) -> ReadResult:
    """One URL parameter's value: the (last) raw value parsed, or `default` with a warning saying why
    (an old name the parser renamed is used, with a note)."""
    if not raw_values:
        return ReadResult(default, None)
    repeated = f"`{key}` appears {len(raw_values)} times in the link; the last one counts. " \
        if len(raw_values) > 1 else ""
    try:
        value = parse(raw_values[-1])
    except ParamError as problem:
        return ReadResult(default, f"{repeated}Ignored `{key}` from the link: {problem} Using {default!r}.")
    if isinstance(value, Renamed):
        return ReadResult(value.value, f"{repeated}`{key}` from the link: {value.note}")
    return ReadResult(value, repeated or None)


def fit_top_k(top_k: int, num_experts: int) -> tuple[int, str | None]:
    """The k the learner may pick with `num_experts` experts: at most min(MAX_TOP_K, num_experts), with a note
    when a too-large k had to shrink. (Switch runs k = 1 whatever is picked: MoEConfig.routed_top_k.)"""
    k_max = min(MAX_TOP_K, num_experts)
    if top_k > k_max:
        return k_max, f"k = {top_k} is more than the {k_max} allowed with {num_experts} experts; using k = {k_max}."
    return top_k, None


def capacity_value(option: str) -> float | None:
    """The widget's capacity option as MoEConfig wants it: None for 'off', else the number."""
    return None if option == CAPACITY_OFF else float(option)


def read_shared(query: Callable[[str], Sequence[str]]) -> tuple[dict, list[str]]:
    """All shared controls from a link (`query(key)` -> raw values): valid values and the warnings to show."""
    values, warnings = {}, []
    for key in SHARED_KEYS:
        result = read_param(key, query(key), SHARED_PARSERS[key], DEFAULTS[key])
        values[key] = result.value
        if result.warning:
            warnings.append(result.warning)
    # Keep the link's k when it fits, even for switch (which runs k = 1): going back to another router restores it.
    fitted, note = fit_top_k(values["top_k"], values["num_experts"])
    values["top_k"] = fitted
    if note and query("top_k"):
        fixed = router_spec(values["router"]).fixed_top_k
        warnings.append(note + (f" Switch routing itself runs k = {fixed}." if fixed else ""))
    return values, warnings


def shared_url_params(values: dict) -> dict[str, str]:
    """The shared controls' values as the link's query parameters."""
    return {key: url_text(values[key]) for key in SHARED_KEYS}


def url_text(value: Any) -> str:
    """How a value is written into the link (floats without trailing zeros, flags as 1/0, lists comma-separated)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(url_text(v) for v in value)
    return str(value)
