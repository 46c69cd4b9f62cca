"""Real MoE checkpoints (Mixtral, OLMoE, Qwen-MoE, DeepSeek, GPT-OSS, GraniteMoE) from local folders.

    model = load_checkpoint(path)        # local safetensors only, never remote code, refused if it won't fit
    routing = model.route(text)          # one moeviz RoutingTrace per MoE layer, from the model's router logits

No Streamlit here: moeviz.app wraps this for the pages. See docs/checkpoints.md.
"""
from moeviz.hf.families import FAMILIES, SUPPORTED_MODEL_TYPES
from moeviz.hf.files import CheckpointError
from moeviz.hf.model import CheckpointModel, CheckpointRouting, load_checkpoint

__all__ = ["CheckpointError", "CheckpointModel", "CheckpointRouting", "FAMILIES", "SUPPORTED_MODEL_TYPES",
           "load_checkpoint"]
