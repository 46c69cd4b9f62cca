"""The data tables of /variants, /compute and /parallel in Chromium at 1920, 1024 and 390 px: every column is at
least as wide as its header text and the text of its drawn cells, so nothing is cut off inside its column (a
table wider than the page scrolls sideways inside its own box; that is not a cut).

Streamlit's st.dataframe draws on a canvas (glide-data-grid), so the DOM holds no header box to compare. The
check reads each column's title and width from the grid's own props (the React component that draws it) and
measures the header and cell text with the grid's fonts (canvas measureText, plus the grid's horizontal cell
padding on both sides), the same way the grid sizes a column to its content. The cells are those of the grid's
accessibility table, which holds the rows and columns currently drawn.
"""
import pytest
from _harness import SCREENSHOTS, assert_no_console_errors, assert_no_exception, open_app, safe_name

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
