import pytest

from tests.routes import fixtures as fx


@pytest.fixture(scope="module")
def ids():
    """(T, L, K) seeded routing of E experts, shared by the reader and view tests."""
    return fx.routing(fx.T, fx.L, fx.K, fx.E)
