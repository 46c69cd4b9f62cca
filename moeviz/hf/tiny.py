"""Tiny random-weight checkpoints of every supported family, written offline (for tests and benchmarks).

    folder = save_tiny_checkpoint("deepseek_v3", tmp_path / "ds3")   # config.json, model.safetensors, tokenizer

Each is the family's own transformers config class with small dimensions (hidden 16, 2-3 layers, 4-8 experts,
top-2) and a byte-level BPE tokenizer trained here on a few sentences, so nothing is downloaded. Where a family
has a router parameter that starts at zero (DeepSeek-V3's e_score_correction_bias, GPT-OSS's router bias) it is
drawn at random too, so the rule is tested with it in play.
"""
from __future__ import annotations

from pathlib import Path

import torch

HIDDEN, HEADS = 16, 2
COMMON = dict(hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=1, max_position_embeddings=128,
              initializer_range=0.2, tie_word_embeddings=False)
MLA = dict(q_lora_rank=None, kv_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8)
TINY = {  # model_type -> (config class name in transformers, overrides)
    "mixtral": ("MixtralConfig", dict(num_hidden_layers=2, intermediate_size=24, num_local_experts=4,
                                      num_experts_per_tok=2)),
    "olmoe": ("OlmoeConfig", dict(num_hidden_layers=2, intermediate_size=24, num_experts=4,
                                  num_experts_per_tok=2, norm_topk_prob=False)),
    "qwen2_moe": ("Qwen2MoeConfig", dict(num_hidden_layers=3, intermediate_size=24, moe_intermediate_size=24,
                                         shared_expert_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
                                         mlp_only_layers=[1], norm_topk_prob=False)),
    "qwen3_moe": ("Qwen3MoeConfig", dict(num_hidden_layers=2, intermediate_size=24, moe_intermediate_size=24,
                                         num_experts=4, num_experts_per_tok=2, head_dim=8, norm_topk_prob=True)),
    "deepseek_v3": ("DeepseekV3Config", dict(num_hidden_layers=3, intermediate_size=24, moe_intermediate_size=24,
                                             n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
                                             first_k_dense_replace=1, n_shared_experts=1,
                                             routed_scaling_factor=2.5, **MLA)),
    "deepseek_v2": ("DeepseekV2Config", dict(num_hidden_layers=3, intermediate_size=24, moe_intermediate_size=24,
                                             n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
                                             topk_method="group_limited_greedy", first_k_dense_replace=1,
                                             n_shared_experts=2, routed_scaling_factor=1.5, **MLA)),
    "gpt_oss": ("GptOssConfig", dict(num_hidden_layers=2, intermediate_size=24, num_local_experts=4,
                                     num_experts_per_tok=2, head_dim=8,
                                     # plain RoPE: the default YaRN settings assume a 4096-token original context
                                     rope_parameters={"rope_type": "default", "rope_theta": 150000.0})),
    "granitemoe": ("GraniteMoeConfig", dict(num_hidden_layers=2, intermediate_size=24, num_local_experts=4,
                                            num_experts_per_tok=2)),
}
SENTENCES = (
    "The router sends each token to two of the experts.",
    "def route(x):\n    return softmax(x @ w).topk(2)\n",
    "Les experts ne voient que les jetons choisis. 1 2 3 4 5 6 7 8 9 10",
)


def tiny_tokenizer(vocab_size: int = 300):
    """A byte-level BPE tokenizer (any text encodes) wrapped as transformers' PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(SENTENCES), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def tiny_config(model_type: str, vocab_size: int, **overrides):
    import transformers
    class_name, values = TINY[model_type]
    return getattr(transformers, class_name)(vocab_size=vocab_size, **{**COMMON, **values, **overrides})


def save_tiny_checkpoint(model_type: str, folder: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32,
                         **overrides) -> Path:
    """Build, randomise and save one tiny checkpoint of `model_type` into `folder`; returns the folder."""
    from transformers import AutoModelForCausalLM

    from moeviz.hf.model import quiet
    folder = Path(folder)
    tokenizer = tiny_tokenizer()
    config = tiny_config(model_type, len(tokenizer), eos_token_id=tokenizer.eos_token_id, **overrides)
    torch.manual_seed(seed)
    with quiet():
        model = AutoModelForCausalLM.from_config(config)
        generator = torch.Generator().manual_seed(seed)
        for name, buffer in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith(("e_score_correction_bias", "router.bias")):
                buffer.data.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
        model.to(dtype).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder
