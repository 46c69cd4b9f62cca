"""Opening a page the way a visitor does (from app.py, with a link's parameters) under AppTest."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str, params: dict | None = None, timeout: float = 90) -> AppTest:
    """Run `page` ("app.py" or "pages/N_name.py") reached from app.py, with `params` in the link."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if page != "app.py":
        at.switch_page(page)
    if params:
        at.query_params.update(params)
    return at.run()


def metrics(at: AppTest) -> dict:
    """The page's st.metric values by label."""
    return {m.label: m.value for m in at.metric}
