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


def keyed_blocks(at: AppTest, prefix: str) -> list:
    """The containers of the page whose key starts with `prefix` (st.container(key=...); Streamlit ends the
    block's id with the key)."""
    found = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            proto = getattr(child, "proto", None)
            if proto is not None and proto.DESCRIPTOR.name == "Block" and proto.id.split("-")[-1].startswith(prefix):
                found.append(child)
            walk(child)
    walk(at.main)
    return found
