"""moeviz: a small, real Mixture-of-Experts layer that records every routing step, for teaching.

    from moeviz import MoEConfig, MoELayer, RoutingTrace
    y, trace = MoELayer(MoEConfig(num_experts=8, top_k=2))(x)

This package never imports streamlit; the Streamlit helpers live in moeviz.app.
"""
from moeviz.config import ROUTERS, MoEConfig
from moeviz.layer import MoELayer
from moeviz.trace import RoutingTrace

__all__ = ["MoEConfig", "MoELayer", "RoutingTrace", "ROUTERS"]
