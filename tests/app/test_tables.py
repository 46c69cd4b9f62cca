"""moeviz.app.tables: every data table is drawn by table(), which puts a swipe hint above one wider than a phone.

The width estimate is checked here against the grid's sizing rule restated on small cases, and in Chromium against
the grid itself (tests/browser/test_table_widths.py)."""
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app import tables
from moeviz.app.tables import (CELL_PADDING_PX, GRID_BORDER_PX, HINT, HINT_STEP_PX, MAX_AUTO_COLUMN_PX, MIN_COLUMN_PX,
                               NARROWEST_BOX_PX, WIDEST_STEP_PX, column_px, hint_css, hint_step, needed_box_px,
                               table_width_px, text_px)

ROOT = Path(__file__).resolve().parents[2]


def test_every_data_table_of_the_app_is_drawn_by_table():
    """One way to draw a table: no st.dataframe (or column.dataframe) outside moeviz.app.tables."""
    files = [ROOT / "app.py", *(p for folder in ("moeviz/app", "pages") for p in (ROOT / folder).glob("*.py")
                                if p.name != "tables.py")]
    callers = [f"{path.relative_to(ROOT)}:{n}" for path in files
               for n, line in enumerate(path.read_text().splitlines(), 1) if ".dataframe(" in line]
    assert not callers, callers


def test_text_width_adds_the_fonts_advances():
    assert text_px("") == 0
    assert text_px("ab") == pytest.approx(text_px("a") + text_px("b"))
    assert text_px("m") > text_px("n") > text_px("i")  # proportional, as the grid's font
    assert text_px("你") == pytest.approx(tables.FONT_PX)  # a wide character takes a full em


def test_a_column_is_as_wide_as_its_header_or_widest_sampled_cell_within_bounds():
    def rule(header, cells):  # the grid's rule, restated
        need = max([text_px(header), *map(text_px, cells)]) + 2 * CELL_PADDING_PX
        return max(MIN_COLUMN_PX, min(MAX_AUTO_COLUMN_PX, -(-need // 1)))
    assert column_px("k", ["1", "2"]) == MIN_COLUMN_PX
    assert column_px("a long header for a short cell", ["1"]) == rule("a long header for a short cell", ["1"])
    assert column_px("x", ["a longer cell than the header"]) == rule("x", ["a longer cell than the header"])
    assert column_px("x", ["word " * 200]) == MAX_AUTO_COLUMN_PX
    assert column_px("x", ["1"], {"label": "a label longer than x", "width": None}) == rule("a label longer than x", [])
    assert column_px("x", ["1"], {"width": "large"}) == 400 and column_px("x", ["1"], {"width": 123}) == 123
    # the grid samples the first 9 rows and the last: a longer 12th row of 20 is not measured, a longer last row is
    cell, longer = "abcdefghijkl", "abcdefghijklmnopqr"
    assert column_px("x", [cell] * 11 + [longer] + [cell] * 8) == rule("x", [cell])
    assert column_px("x", [cell] * 19 + [longer]) == rule("x", [longer])
    # beyond 5 samples, one at twice the mean or more is an outlier the grid leaves out; up to 5, none is
    assert column_px("x", [cell] * 9 + [cell * 6]) == rule("x", [cell])
    assert column_px("x", [cell] * 4 + [cell * 6]) == rule("x", [cell * 6])


def test_numbers_are_measured_as_the_grid_prints_them():
    assert column_px("p", [0.123456789], {"type_config": {"format": "%.2f"}}) == column_px("p", ["0.12"])
    assert column_px("p", [0.123456789]) == column_px("p", ["0.1235"])  # at most 4 decimals
    assert column_px("p", [["E1", "E12"]]) > column_px("p", ["E1 E12"])  # a list cell draws a bubble per item


def test_a_table_is_as_wide_as_its_shown_columns():
    rows = [{"alpha": "a" * 30, "beta": "b", "gamma": "g" * 60}]
    both = column_px("alpha", ["a" * 30]) + column_px("gamma", ["g" * 60])
    assert table_width_px(rows, column_order=["alpha", "gamma"], hide_index=True) == both
    assert table_width_px(rows, hide_index=True) == both + MIN_COLUMN_PX
    assert table_width_px(rows, hide_index=False) == both + 2 * MIN_COLUMN_PX  # the index column
    assert table_width_px(rows) == both + MIN_COLUMN_PX  # list data: Streamlit hides its index by default
    assert table_width_px(pd.DataFrame(rows)) == both + 2 * MIN_COLUMN_PX  # a DataFrame's it shows


def test_the_hint_shows_while_the_tables_box_is_narrower_than_the_table_on_any_screen():
    """Before: the hint's rules were media queries capped at 640 px, so at 1024 px a table cut by its box (the
    main column beside the sidebar, or a column of st.columns) had no sign. Now the table's wrapper is a size
    container and each rule compares that box with the width the table needs, at any screen width."""
    assert needed_box_px(600) == 600 + GRID_BORDER_PX
    assert hint_step(NARROWEST_BOX_PX) is None  # fits every box: no hint
    assert hint_step(391) == 400 and hint_step(400) == 400 and hint_step(1234) == 1240
    assert hint_step(10 ** 5) == WIDEST_STEP_PX
    css = hint_css()
    assert "@media" not in css and re.search(r'\[class\*="st-key-table_"\] \{[^}]*container-type: inline-size', css)
    widths = [float(w) for w in re.findall(r"@container \(max-width:([\d.]+)px\)", css)]
    assert max(widths) > 1460  # the main column at 1920 px
    for step in range(NARROWEST_BOX_PX + HINT_STEP_PX, WIDEST_STEP_PX + 1, HINT_STEP_PX):
        assert re.search(rf"max-width:{step - 1}\.98px\)\{{[^}}]*swipe_{step}_", css), step


def _two_tables():
    from moeviz.app.tables import table
    table([{f"column {i}": f"value {i}" for i in range(12)}], key="wide", hide_index=True)
    table([{"k": 1, "N": 8}], key="narrow", hide_index=True)


def test_a_table_wider_than_a_phone_gets_the_hint_above_it_and_a_narrow_one_does_not():
    at = AppTest.from_function(_two_tables, default_timeout=30).run()
    assert not at.exception
    wide, narrow = at.main.children.values()
    assert (wide.key, narrow.key) == ("table_wide", "table_narrow")
    hint, frame = wide.children.values()
    assert hint.key.startswith("swipe_") and [c.value for c in hint.children.values()] == [HINT]
    assert frame.type == "dataframe" and frame.value.shape == (1, 12)
    assert [c.type for c in narrow.children.values()] == ["dataframe"]
