"""The data tables of /variants, /compute and /parallel in Chromium at 1920, 1024 and 390 px: every column is at
least as wide as its header text and the text of its drawn cells, so nothing is cut off inside its column (a
table wider than the page scrolls sideways inside its own box; that is not a cut).

Streamlit's st.dataframe draws on a canvas (glide-data-grid), so the DOM holds no header box to compare. The
check reads each column's title and width from the grid's own props (the React component that draws it) and
measures the header and cell text with the grid's fonts (canvas measureText, plus the grid's horizontal cell
padding on both sides), the same way the grid sizes a column to its content. The cells are those of the grid's
accessibility table, which holds the rows and columns currently drawn.

The second test checks the swipe hint above a table wider than its box (moeviz.app.tables): at 390, 1024 and
1920 px, shown exactly where the table is wider than its box.
"""
import pytest
from _harness import SCREENSHOTS, assert_no_console_errors, assert_no_exception, open_app, safe_name, wait_for_app

WIDTHS = (1920, 1024, 390)
PAGES = ("/variants", "/compute", "/parallel")
SLACK_PX = 1  # sub-pixel differences between our measure and the grid's (seen: 0.2 px)

COLUMNS_JS = """(el) => {
  const canvas = el.querySelector("canvas[data-testid='data-grid-canvas']");
  const grid = el.querySelector(".stDataFrameGlideDataEditor");
  if (!canvas || !grid) return null;
  const style = getComputedStyle(grid);
  const family = style.getPropertyValue("--gdg-font-family");
  const pad = parseFloat(style.getPropertyValue("--gdg-cell-horizontal-padding"));
  const ctx = document.createElement("canvas").getContext("2d");
  const need = (font, text) => { ctx.font = style.getPropertyValue(font) + " " + family;
                                 return ctx.measureText(text).width + 2 * pad; };
  const cells = {};
  for (const td of canvas.querySelectorAll("tbody td")) {
    const i = Number(td.getAttribute("aria-colindex")) - 1;
    (cells[i] = cells[i] || []).push(td.textContent);
  }
  const key = Object.keys(canvas).find(k => k.startsWith("__reactFiber"));
  for (let f = canvas[key], depth = 0; f && depth < 50; f = f.return, depth++) {
    const columns = f.memoizedProps && f.memoizedProps.columns;
    if (Array.isArray(columns) && columns.length && columns[0].width !== undefined)
      return columns.map((c, i) => ({
        title: c.title, width: c.width,
        header: need("--gdg-header-font-style", c.title) + (c.icon ? 28 : 0),
        cells: (cells[i] || []).map(t => [t, need("--gdg-base-font-style", t)])}));
  }
  return null;
}"""


def cut_text(frame) -> list[str]:
    """What does not fit its column in one data table: 'header X' or 'cell X', with the widths."""
    frame.scroll_into_view_if_needed()
    frame.locator("canvas[data-testid='data-grid-canvas']").wait_for(state="attached")
    columns = frame.evaluate(COLUMNS_JS)
    assert columns, "the grid's columns were not found (has Streamlit's data grid changed?)"
    cut = [f"header {c['title']!r}: {c['header']:.0f} px in {c['width']} px" for c in columns
           if c["header"] > c["width"] + SLACK_PX]
    cut += [f"cell {text!r} of {c['title']!r}: {need:.0f} px in {c['width']} px" for c in columns
            for text, need in c["cells"] if need > c["width"] + SLACK_PX]
    return cut


@pytest.mark.parametrize("path", PAGES)
def test_table_headers_and_cells_fit_their_columns(page, streamlit_server, path):
    page.set_viewport_size({"width": WIDTHS[0], "height": 1000})
    open_app(page, streamlit_server, path)
    assert_no_exception(page)
    frames = page.get_by_test_id("stMain").get_by_test_id("stDataFrame")
    assert frames.count() >= 1
    cut = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(500)  # the grids re-measure their box
        for i in range(frames.count()):
            found = cut_text(frames.nth(i))
            if found:
                cut[f"{width} px, table {i}"] = found
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            frames.nth(i).screenshot(path=str(SCREENSHOTS / f"{safe_name(f'table{path}-{width}-{i}')}.png"))
    assert not cut, cut
    assert_no_console_errors(page)


# The swipe hint (moeviz.app.tables): the grid's scrollbar is thin on a desktop and absent on a phone, so a table wider
# than its box says so above it. The pages hold tables that fit a phone and tables that do not; /heatmap's Numbers
# expanders add tables in an expander (less room), and the walkthrough's step 3 a table sized to its content.
HINT_PAGES = ("/balance", "/heatmap", "/compute", "/parallel", "/variants", "/replicas", "/?step=3")
PHONE, DESKTOPS = 390, (1024, 1920)

# One table: the columns' drawn widths and natural ones (the grid stretches the columns of a table narrower than its
# box; growOffset is what it added), its box, its wrapper's width (the room the page gives it), and its hint: shown
# or not, with the screen width in the hint's key.
TABLE_HINT_JS = """(el) => {
  const canvas = el.querySelector("canvas[data-testid='data-grid-canvas']");
  const key = Object.keys(canvas).find(k => k.startsWith("__reactFiber"));
  let columns = null;
  for (let f = canvas[key], depth = 0; f && depth < 50 && !columns; f = f.return, depth++) {
    const c = f.memoizedProps && f.memoizedProps.columns;
    if (Array.isArray(c) && c.length && c[0].width !== undefined) columns = c;
  }
  if (!columns) return null;
  const wrapper = el.closest('[class*="st-key-table_"]');
  const hint = wrapper && wrapper.querySelector('[class*="st-key-swipe_"]');
  const step = hint && [...hint.classList].join(" ").match(/st-key-swipe_(\\d+)_/);
  const shown = hint ? hint.getBoundingClientRect() : null;
  return {drawn: columns.reduce((a, c) => a + c.width, 0),
          natural: columns.reduce((a, c) => a + c.width - (c.growOffset || 0), 0),
          box: el.clientWidth, room: wrapper && wrapper.clientWidth,
          gap: wrapper && el.getBoundingClientRect().top - wrapper.getBoundingClientRect().top,
          step: step ? Number(step[1]) : null,
          hint: !!shown && shown.height > 0 && shown.bottom <= el.getBoundingClientRect().top
                && getComputedStyle(hint).visibility === "visible",
          hint_text: hint ? hint.innerText : null};
}"""


def open_number_tables(page) -> None:
    """Open every Numbers expander of the main area (each one reruns the page)."""
    expanders = page.get_by_test_id("stMain").get_by_test_id("stExpander").filter(
        has=page.locator("summary", has_text="Numbers:"))
    for i in range(expanders.count()):
        expanders.nth(i).locator("summary").click()
        wait_for_app(page)


def table_hints(frame) -> dict:
    frame.scroll_into_view_if_needed()
    frame.locator("canvas[data-testid='data-grid-canvas']").wait_for(state="attached")
    found = frame.evaluate(TABLE_HINT_JS)
    assert found and found["room"], "a table without its wrapper, or the grid's columns not found"
    return found


@pytest.mark.timeout(420)
@pytest.mark.parametrize("path", HINT_PAGES)
def test_tables_wider_than_their_box_say_so_at_every_width(page, streamlit_server, path):
    """Before: at 390 px the grid showed no scrollbar and nothing told a learner that columns lay to the right; at
    1024 px the hint never showed, so /parallel's and /variants' tables were cut at their box's edge with no sign.
    Now at 390, 1024 and 1920 px every table wider than its box has the hint just above it, and a table that fits
    has none and keeps no room for it (the rounding of the hint's rule allows a hint in a box up to HINT_STEP_PX - 1
    px wider than the table). The width in a hint's key (our estimate) agrees with the grid's own within one step."""
    from moeviz.app.tables import HINT, HINT_STEP_PX, hint_step
    page.set_viewport_size({"width": PHONE, "height": 844})
    open_app(page, streamlit_server, path)
    assert_no_exception(page)
    if path == "/heatmap":
        open_number_tables(page)
    frames = page.get_by_test_id("stMain").get_by_test_id("stDataFrame")
    problems, wide = [], 0
    for width in (PHONE, *DESKTOPS):
        page.set_viewport_size({"width": width, "height": 844})
        page.wait_for_timeout(500)  # the grids re-measure their box
        for i in range(frames.count()):
            t = table_hints(frames.nth(i))
            need = t["natural"] + 2  # the box that holds the table and the grid's border
            name = f"{width} px, table {i} ({t['natural']} px in a {t['room']} px box)"
            overflows = need > t["room"] + 0.5
            wide += width == PHONE and overflows
            if overflows and not t["hint"]:
                problems.append(f"{name}: cut with no hint")
            if not overflows and (t["hint"] or t["gap"] > 1) and t["room"] - need >= HINT_STEP_PX:
                problems.append(f"{name}: hint shown or its room kept ({t['gap']:.0f} px above the table)")
            if t["step"] and abs(t["step"] - hint_step(need)) > HINT_STEP_PX:
                problems.append(f"{name}: key says it needs {t['step']} px, the grid {need} px")
            if t["hint"] and t["hint_text"] != HINT:
                problems.append(f"{name}: hint reads {t['hint_text']!r}")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            frames.nth(i).locator("xpath=ancestor::*[contains(@class, 'st-key-table_')][1]").screenshot(
                path=str(SCREENSHOTS / f"{safe_name(f'table-hint{path}-{width}-{i}')}.png"))
    assert wide or path == "/?step=3", "no table of this page is wider than a phone"
    assert not problems, problems
    assert_no_console_errors(page)


def test_static_table_text_uses_its_whole_cell_at_1920(page, streamlit_server):
    """Before: Streamlit capped a static table's cell text at 400 px, so at 1920 px the glossary's signals table
    wrapped every sentence in half its column. Now each cell's text is as wide as its cell (less the padding)."""
    page.set_viewport_size({"width": 1920, "height": 1000})
    open_app(page, streamlit_server, "/glossary")
    assert_no_exception(page)
    cells = page.get_by_test_id("stTable").last.locator("td")
    # per cell: its room (width less padding), its text's width, and whether the text wrapped onto several lines
    found = cells.evaluate_all("""tds => tds.map(td => {
        const text = td.querySelector('[data-testid="stMarkdownContainer"]');
        const style = getComputedStyle(td), box = text.getBoundingClientRect();
        const lines = box.height / parseFloat(getComputedStyle(text.querySelector('p') || text).lineHeight);
        return [td.getBoundingClientRect().width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
                box.width, lines]; })""")
    wrapped = [(room, width) for room, width, lines in found if lines > 1.5]
    assert wrapped and max(room for room, _ in wrapped) > 450  # the case: wrapped cells wider than the old cap
    # a wrapped text fills its cell, up to the width of the word that went to the next line
    assert all(width >= room - 90 for room, width in wrapped), wrapped
