"""/parallel read as a newcomer reads it (issue 18): no control that moves nothing unexplained, charts and
their sentences from the same numbers, layer lines that name only the knobs that act, one word for the GPU."""
import json
import re

from tests.app import pages
from tests.app.pages import metrics
from tests.app.test_parallel_page import figure, traces

PAGE = "pages/3_parallel.py"
POLICY_IDLE = "No limit, so nothing is dropped — set a capacity factor in the sidebar to compare policies"


def open_page(params: dict | None = None):
    at = pages.open_page(PAGE, params)
    assert not at.exception
    return at


def section_lines(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Layer in this section:")]


def test_the_drop_policy_radio_is_disabled_with_its_reason_while_nothing_can_drop():
    """Before: at the default (capacity off) the radio moved and section 1 did not change, with no word why."""
    at = open_page()
    radio = at.radio(key="drop_policy")
    assert radio.disabled and metrics(at)["Dropped copies"] == "0%"
    assert any(POLICY_IDLE in c.value for c in at.caption)
    at = open_page({"capacity_factor": "1"})  # a limit: copies drop and the policy decides which
    assert not at.radio(key="drop_policy").disabled
    assert not any(POLICY_IDLE in c.value for c in at.caption)
    at = open_page({"router": "expert_choice"})  # never overflows, whatever the factor
    assert at.radio(key="drop_policy").disabled
    assert any("Expert choice never overflows" in c.value for c in at.caption)


def test_the_devices_spanned_axis_stops_at_k_and_the_text_says_why():
    """Before: at k = 2 the axis ran to 4 GPUs (bars of 0 tokens at 3 and 4), though 2 experts reach at most 2."""
    at = open_page()  # N = 8, k = 2: the default layout is W = 4, M = 1
    t = traces(figure(at, "How many GPUs"))
    assert t["free routing"]["x"] == [1, 2] and sum(t["free routing"]["y"]) == 256
    text = " ".join(m.value for m in at.markdown)
    assert "A token reaches at most 2 GPUs (its k = 2 experts), so the chart stops at 2" in text
    at = open_page({"num_experts": "16", "top_k": "4", "span_devices": "8", "max_devices": "2"})
    assert traces(figure(at, "How many GPUs"))["free routing"]["x"] == [1, 2, 3, 4]


def _busiest_claim(at) -> tuple[int, int, str]:
    fig = traces(figure(at, "The same batch, dropless"))
    kept, capacity = fig["capacity: rows kept"]["y"], fig["capacity C"]["y"][0]
    text = next(m.value for m in at.markdown if m.value.startswith("**Dropless** computes"))
    return max(kept), capacity, text


def test_at_n4_the_capacity_sentence_quotes_the_bars():
    """Before, at N = 4: the bars' busiest expert kept 19 rows and nothing dropped, while the sentence under them
    said "the busiest computes at most 20 rows" (C, which no bar reached)."""
    at = open_page({"num_experts": "4"})
    busiest, capacity, text = _busiest_claim(at)
    assert busiest < capacity  # the default factor 1.25 leaves room at N = 4: no expert fills its C slots
    assert f"the busiest got {busiest})" in text and "nothing is dropped" in text
    assert f"at most {capacity} rows" not in text
    at = open_page({"num_experts": "4", "dropless_cf": "0.5"})  # now copies overflow: the busiest fills C
    busiest, capacity, text = _busiest_claim(at)
    assert busiest == capacity and f"the busiest computes {busiest} rows" in text
    dropped = metrics(at)["Capacity 0.5: copies dropped"].split(" of ")[0]
    assert f"{dropped} copies are dropped" in text and dropped != "0"


def test_section_layer_lines_name_only_the_knobs_that_act():
    """Before: section 2 listed the seed and section 4 the sidebar's capacity factor, neither of which moves
    anything there (section 2's run is one fixed draw; section 4's limited run has its own factor)."""
    at = open_page()
    lines = section_lines(at)
    ep = next(line for line in lines if "d_model 256" in line)
    assert ep.endswith("Sidebar knobs that act here: N, k, router and capacity factor.")
    dropless = next(line for line in lines if "Section 1's layer and 32 tokens" in line)
    assert dropless.endswith("Sidebar knobs that act here: N, k, router and seed.")
    reseeded = section_lines(open_page({"seed": "7"}))
    assert next(line for line in reseeded if "d_model 256" in line) == ep  # the seed really does not act there


def _main_text(at) -> list[str]:
    """What the page's main column says: headings, text, captions, notices, metric and widget labels, and
    every figure's title, axis titles and legend names."""
    main = at.main
    out = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning")
           for e in getattr(main, kind)]
    out += [m.label for m in main.metric] + [w.label for w in (*main.radio, *main.select_slider)]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        layout = spec["layout"]
        out.append(layout.get("title", {}).get("text", ""))
        out += [layout[a]["title"].get("text", "") for a in layout if a.startswith(("xaxis", "yaxis"))
                and isinstance(layout[a].get("title"), dict)]
        out += [str(t.get("name", "")) for t in spec["data"]] + [str(y) for t in spec["data"] for y in t.get("y", [])
                                                                   if isinstance(y, str)]
    return out


def assert_one_word_for_the_gpu(at) -> None:
    """GPU, never "device", and "worker" only as the worker processes that play the GPUs here; no backend name
    outside the tooltip. Also called after a worker run (tests/app/test_parallel_page.py), whose charts and
    captions appear only then."""
    text = "\n".join(_main_text(at))
    assert "gloo" not in text and "gloo" in at.radio(key="workers").help
    assert "real worker process" in text and "torch.distributed" in text  # the stand-in, in plain words
    words = text.replace("device-limited routing", "")  # DeepSeek-V2's own name for the idea (linked or not)
    assert not re.findall(r"\bdevices?\b", words, flags=re.I)
    loose = [m.group(0) for m in re.finditer(r"\bworker\w*(?: \w+)?", words, flags=re.I)
             if not m.group(0).lower().startswith("worker process")]
    assert not loose
    assert "GPUs (W)" in [r.label for r in at.main.radio]


def test_one_word_for_the_gpu_and_no_backend_name_in_the_text():
    """Before: "worker" in section 2, "device" in sections 3 and 6, for the same thing; and "gloo" in the main
    text. Now: GPU everywhere, one sentence saying a worker process plays each GPU here, the backend in a tooltip."""
    assert_one_word_for_the_gpu(open_page({"capacity_factor": "1"}))


def test_the_capacity_sentence_names_the_busiest_gpu_the_bars_show():
    """Before, at N = 4 (one expert per GPU): the bars showed GPU 3 as busy as GPU 0 (1,951 and 1,944 copies) and
    the title named GPU 3, while the sentence under them said "GPU 0's work is capped"."""
    from moeviz.app.parallel_page import capacity_sentence
    from moeviz.parallel.reading import worker_summary

    def gpus(received):
        return [{"rank": r, "rows_received": n, "rows_from_others": n // 2, "compute_ms": 1.0, "wait_ms": 0.0,
                 "step_ms": 1.0} for r, n in enumerate(received)]
    runs = {"skewed": {"step_ms": 120.0}, "skewed_capacity": {"step_ms": 70.0, "capacity_factor": 0.75,
                                                              "dropped_fraction": 0.58}}
    skewed, capped = worker_summary(gpus([1944, 130, 110, 1951])), worker_summary(gpus([700, 120, 100, 705]))
    said = capacity_sentence(runs, skewed, capped, top_k=2, skew=0.9)
    assert "GPU 3 received 1,951 copies with no drops" in said and "and 705 under the limit" in said
    assert "GPU 0 received 1,944" in said and "GPU 0's work" not in said
    said = capacity_sentence(runs, worker_summary(gpus([3000, 100, 90, 80])), worker_summary(gpus([900, 100, 90, 80])),
                             top_k=2, skew=0.9)
    assert "GPU 0 received 3,000 copies with no drops and 900 under the limit" in said and "first choice" not in said
