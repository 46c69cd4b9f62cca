"""/parallel's words as a newcomer read them (issue 18): units that agree, sentences that finish."""
import re

from moeviz.app.parallel_page import span_axis_sentence
from moeviz.parallel.model import HARDWARE


def test_every_bandwidth_is_named_in_bytes_per_second():
    """Before: "≈450 GB/s" beside "400 Gb/s InfiniBand" (bytes beside bits)."""
    for hw in HARDWARE.values():
        for bits in re.findall(r"([\d.]+) Gb/s", hw.name):
            assert f"{float(bits) / 8:g} GB/s" in hw.name, hw.name
    # the figures named are the model's own numbers, before its efficiency factors
    assert "50 GB/s" in HARDWARE["h100-nvlink-ib"].name and "1.25 GB/s" in HARDWARE["cpu-ethernet"].name


def test_the_limit_sentence_finishes():
    """Before: "…so the chart stops at 4; the limit M = 2 is below that, so it moves tokens to fewer."""
    said = span_axis_sentence(top_k=4, num_devices=8, max_devices=2)
    assert said.endswith("so each token's experts are picked from at most 2 GPUs.")
    assert span_axis_sentence(top_k=4, num_devices=8, max_devices=1).endswith("from at most 1 GPU.")
    assert "limit" not in span_axis_sentence(top_k=2, num_devices=8, max_devices=4)
