"""A tiny MoE language model trained on the standard library's docs, so routers can be seen on real words.

    from moeviz.lm.shipped import load_shipped
    lm = load_shipped(num_experts=8, top_k=2)             # nearest shipped checkpoint, eval mode (not cached)
    routing = lm.route("for i in range(3): print(i)")       # moeviz.lm.analysis.TextRouting
    labels, x, layer = lm.moe_layer_inputs("for i in range(3): print(i)", layer_index=0)  # real hidden states

Modules: corpus (text, split, prose/code label) · tokenizer (byte-level BPE) · model (the transformer) ·
data (batches, validation and unigram losses) · checkpoint (safetensors I/O) · train (CLI) ·
analysis (routing of a text, corpus specialization) · shipped (the files in checkpoints/).
"""
