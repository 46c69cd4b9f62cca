"""The glossary as data: short entries in plain words, each pointing at the page that shows the idea,
and the practical signals that routing is healthy or failing. Pure data, no streamlit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    term: str
    text: str  # Markdown, two or three sentences
    page: str | None  # the page (path relative to app.py) that shows it, or None
    shown_as: str | None = None  # the words that page uses for it, when not the term itself (tested)


# The code the cards' claims about real models were checked against, named as a reader can look it up.
TRANSFORMERS = "Hugging Face's transformers library, version 5.24"
PAPERS = "MoE papers and libraries"  # the card that says what GShard, Switch, V-MoE, MegaBlocks, ... are

# The balance loss's formula and symbols, and what its value means: said once here, quoted by the glossary entry and
# by the pages that show the loss (/balance's price table, the walkthrough's step 4).
BALANCE_LOSS_FORMULA = ("N · Σᵢ fᵢ · Pᵢ, where fᵢ is the share of the token copies (T tokens × k) routed to expert i "
                        "and Pᵢ is expert i's mean router probability over the tokens.")
BALANCE_LOSS_VALUE = ("With fᵢ counted over all T · k copies, perfectly even routing (fᵢ = Pᵢ = 1/N) gives exactly "
                      "1, and piling tokens and probability onto the same experts raises it (with k = 1, to N when "
                      "one expert gets every token and all the probability). 1 is not a floor: it dips a little below 1 "
                      "when the experts that get more than their share of copies (fᵢ > 1/N) get less than their share "
                      "of probability (Pᵢ < 1/N). (Hugging Face transformers' "
                      "Mixtral code counts fᵢ over T tokens instead, so its even value is k.)")

ENTRIES = (
    Entry("Router", "A small linear layer that looks at one token's vector and gives every expert a score "
          "(a logit). It is trained with the rest of the model, so it learns which expert suits which token.",
          "app.py"),
    Entry("Gate", "The function that turns router scores into the weights used to mix expert outputs: a softmax "
          "in Mixtral, a sigmoid in DeepSeek-V3. The weight one chosen expert's output gets is its combine "
          "weight (see that entry; some papers call it the gate value). Not the gate matrix inside a SwiGLU expert "
          "(see Feed-forward MLP): the same word for a different thing.",
          "pages/5_variants.py", "gating"),
    Entry("Top-k", "Keep the k highest-scoring experts for a token and ignore the rest. With k = 2 of 8 "
          "experts, a token touches a quarter of the expert weights.", "app.py"),
    Entry("Expert", "One of the N feed-forward networks (MLPs) inside an MoE layer, each with its own weights. "
          "It has the same input and output shape as the single MLP it replaces.", "app.py"),
    Entry("Capacity factor", "How many token copies (one token sent to one of its k experts) an expert may take "
          "in one batch, as a multiple of its even share: C = ceil(factor · tokens · k / N), where ceil rounds up. "
          "An expert **overflows** when more copies come to it than C; the extra ones are dropped. A fixed size "
          "lets hardware plan the buffers.",
          "pages/3_parallel.py"),
    Entry("Dropped slot", "A token copy (one token going to one of its k experts) that found all C slots of "
          "its expert already taken (C is the expert's capacity, set by the capacity factor; a slot is one place "
          "in its buffer), so that expert skips it: a dropped copy. Papers often "
          "call it a dropped slot or a dropped token; what is lost is that one copy's trip to that expert. With top-k the token still gets its other "
          "experts; only a token that lost every expert (all k copies) leaves the layer unchanged, carried by "
          "the residual path alone.", "pages/3_parallel.py", shown_as="dropped copies"),
    Entry("Load balancing loss", "An extra training loss, here in the form of the Switch Transformer, Google's "
          "MoE paper of 2021, Fedus et al. (GShard, 2020, had an earlier one of the same kind): " + BALANCE_LOSS_FORMULA + " " + BALANCE_LOSS_VALUE + " Its weight α trades balance against the task loss.",
          "pages/2_balance.py", "balance loss"),
    Entry("z-loss", "A penalty on the router's log-sum-exp: for each token log Σⱼ exp(zⱼ) over its logits, squared "
          "and averaged (from ST-MoE, Google's 2022 MoE design paper, Zoph et al.). The log-sum-exp sits between "
          "the largest logit and that plus log N, so keeping it near 0 keeps every logit from growing large and "
          "positive, where the softmax turns brittle and rounding bites: in bf16 a logit near 100 is stored only "
          "to the nearest 0.5, so close logits tie or swap their order. It does not make the logits small: very negative logits are allowed, so a router can meet it by "
          "shifting every logit down.",
          "pages/2_balance.py"),
    Entry("Expert collapse", "The router learns to send almost every token to the same few experts; the others "
          "stop getting gradient and stay useless. A balance loss prevents it, or DeepSeek-V3's selection bias: a "
          "number per expert, added to its score only when the top k are picked, raised while the expert gets too "
          "few tokens and lowered while it gets too many.",
          "pages/2_balance.py", "collapse"),
    Entry("Expert parallelism", "Placing different experts on different devices, so a model with many experts "
          "fits and each device only computes its own experts' tokens.", "pages/3_parallel.py"),
    Entry("All-to-all", "The communication step of expert parallelism: every device sends each token to the "
          "device that holds its expert, and the results come back the same way. At scale it can cost more "
          "than the expert maths.", "pages/3_parallel.py", "all_to_all"),
    Entry("Shared expert", "An expert that every token always uses, next to the routed ones (DeepSeekMoE, "
          "DeepSeek-V3, Qwen2-MoE). It learns what all tokens need, leaving the routed experts free to "
          "specialise. DeepSeek adds its output as it is; Qwen2-MoE scales it per token by a gate of its own, "
          "sigmoid(w · x) with one learned vector w (`shared_expert_gate` in transformers' Qwen2-MoE code, as "
          "of " + TRANSFORMERS + "), so a token can turn it down.", "pages/4_compute.py"),
    Entry("Active vs total parameters", "Total parameters are all the weights the model stores; active ones are "
          "those a single token actually uses: in an MoE layer the router, its k experts and any shared expert; in a "
          "whole model also attention and embeddings. Compute follows the active count, memory "
          "the total.", "pages/4_compute.py", "active"),
    Entry("Dropless MoE", "Every chosen expert runs on every token copy sent to it, however many: nothing is "
          "dropped (Hugging Face transformers' Mixtral, OLMoE, DeepSeek-V3, MegaBlocks). Uneven routing then costs uneven work instead "
          "of dropped copies; the Capacity & parallelism page routes one batch both ways.", "pages/3_parallel.py",
          "Dropless or capacity: the same batch both ways"),
    Entry("Fine-grained experts", "Many narrow experts instead of a few wide ones, with proportionally more "
          "chosen per token (DeepSeekMoE): the same compute, far more possible expert combinations.",
          "pages/4_compute.py", "Fine-grained and shared experts"),
    Entry("Node-limited routing", "Each token may choose experts on at most M devices or nodes, M a "
          "small number the model fixes (a node is one machine holding several GPUs; its GPUs talk over faster "
          "links than machines do). DeepSeek-V2 limits devices; DeepSeek-V3 keeps 4 of 8 expert groups, so its copies cross fewer links in the all-to-all. "
          "The groups a token keeps are its best-scored: DeepSeek-V3 scores a group by the sum of its two best "
          "experts' scores, DeepSeek-V2 by its single best (as of " + TRANSFORMERS + ").",
          "pages/3_parallel.py", "each token on at most M GPUs"),
    Entry("Routing at inference", "With a capacity limit or expert choice, whether a token gets its experts "
          "depends on the other tokens in its batch: decoding one token alone and a whole prompt at once can "
          "give it different outputs. Dropless top-k routes each token on its own.", "pages/3_parallel.py",
          "Routing at inference: a token's output can depend on its batch"),
    Entry("Hidden state", "The vector a Transformer carries for each token from layer to layer: "
          "[d_model](glossary#d-model-and-d-hidden) numbers "
          "that hold what the model has worked out about that token so far. An MoE layer reads one per token and "
          "returns one of the same size.", "app.py"),
    Entry("Token and subword", "A token is one piece of text the model reads as a unit. Tokenizers cut rare words "
          "into subword pieces (olmoe-tiny, the walkthrough's model, a tiny model trained here, cuts “ router” into “␣r”, “ou”, “ter”, as the walkthrough's sentence shows); "
          "moeviz marks a piece that begins with a space, and so starts a new word, with ␣.", "app.py", "subword"),
    Entry("Logit", "A raw score before any softmax or sigmoid: any real number, larger means preferred. The "
          "router gives each token one logit per expert.", "app.py"),
    Entry("Softmax", "Turns a list of scores into probabilities: pᵢ = exp(zᵢ) / Σⱼ exp(zⱼ). Every pᵢ is "
          "positive, they sum to 1, and the order of the scores is kept.", "app.py"),
    Entry("Combine weight", "The weight a chosen expert's output gets in the token's output, y = Σ wᵢ · Eᵢ(x) "
          "over the experts that ran: the router probabilities of the k chosen, renormalised to sum to 1 "
          "(Mixtral) or kept as they are (OLMoE, Switch). Here Eᵢ(x) is the output of expert i (one of the "
          "chosen) for the token x, and wᵢ its combine weight.", "app.py", "6 · combine"),
    Entry("Residual path", "The shortcut around every block of a Transformer: the block's result is added to its "
          "input, x + MoE(x). A token that lost every expert gets MoE(x) = 0 and leaves the layer as it came in.",
          "app.py", "residual path"),
    Entry("FLOPs", "Floating-point operations, the usual count of compute. One multiply-add (a · b + c) is 2 "
          "FLOPs, so a (1 × m) · (m × n) product costs m · n multiply-adds = 2 · m · n FLOPs. Pages that count "
          "compute say which they count, FLOPs or multiply-adds (most count FLOPs).", "pages/4_compute.py"),
    Entry("d_model and d_hidden", "d_model is the size of the hidden state, the layer's input and output. d_hidden "
          "is the width inside one expert: its MLP maps d_model → d_hidden → d_model.", "pages/4_compute.py",
          "d_model"),
    Entry("Expert choice", "Routing turned round (Zhou et al. 2022): each expert picks the C tokens of the batch "
          "it scores highest (C, its capacity, is set by the capacity factor), instead of each token picking k experts. The load is even by construction; a token "
          "may get several experts or none. In a model that writes text one token at a time it cheats: an expert "
          "ranks the whole batch, so whether an early token gets it depends on tokens that come after it.",
          "pages/5_variants.py", "expert choice"),
    Entry("Noisy top-k", "The gate of Shazeer et al. (2017): before the top k are kept, Gaussian noise with a "
          "learned, per-expert scale is added to the router logits, so near-ties break differently and more "
          "experts get tokens while training.", "pages/5_variants.py", "noisy"),
    Entry("Router entropy", "How undecided the router is about a token: −Σᵢ pᵢ · ln pᵢ over its probabilities, "
          "in nats (the unit of the natural log). 0 = all probability on one expert; ln N (2.08 for N = 8) = the "
          "same for every expert.", "pages/1_heatmap.py", "router entropy"),
    Entry("Mutual information", "I(cluster; expert), in nats (information measured with the natural log, ln; "
          "see router entropy), where a cluster is one of the made-up groups of "
          "tokens the Load balancing page trains on (each group has its own target to learn): how much knowing the expert a token went to tells "
          "you about the token's cluster (and the reverse); 0 = nothing. It is never more than the entropy of "
          "either side, so for the top-1 expert it reaches ln N only if the top-1 choice is uniform over the N "
          "experts and the cluster fixes the expert. The Load balancing page shows it as specialization: the mutual "
          "information divided by the most it could be there, as a percentage.",
          "pages/2_balance.py", "specialization"),
    Entry("bf16 and fp32", "Number formats. fp32 (float32) keeps about 7 significant decimal digits; bf16 "
          "(bfloat16) keeps fp32's range but only 8 significant bits, about 2 to 3 digits, so two close router "
          "logits can round to the same value and their order can flip. Models are often trained and served in "
          "bf16.", "pages/2_balance.py", "bf16"),
    Entry("Prefill and decode", "The two phases of generating text: prefill runs the whole prompt through the "
          "model at once (many tokens in a batch); decode then makes one new token per step. Routing that depends "
          "on the batch (capacity, expert choice) can treat a token differently in the two.",
          "pages/3_parallel.py", "prefill"),
    # the parts of a Transformer block around the MoE layer (the walkthrough's step 1 draws them); checked against
    # transformers 5.24's modeling_olmoe.py and modeling_mixtral.py
    Entry("Attention", "The part of a Transformer block where tokens look at each other: each token's vector "
          "is updated with a weighted mix of the other tokens' vectors (in a decoder, a model that writes text one "
          "token at a time, only the earlier ones). It is "
          "the only place a token learns about its neighbours; the MoE layer then works on each token alone.",
          "app.py"),
    Entry("Feed-forward MLP", "The other half of a Transformer block (a block is attention, then this MLP, each "
          "with a residual path around it; a model stacks many blocks): a small network applied to each token on "
          "its own, d_model → d_hidden → d_model. In OLMoE and Mixtral (as of " + TRANSFORMERS + ") it is a SwiGLU "
          "MLP: down(silu(gate(x)) ⊙ up(x)), with three weight matrices gate, up and down. gate and up project x "
          "side by side from d_model up to d_hidden; silu(a) = a · sigmoid(a), a smooth ReLU, bends gate's "
          "numbers; ⊙ multiplies two vectors entry by entry, so silu(gate(x)) acts as a gate on up(x); down "
          "projects the result back to d_model. An MoE layer replaces it with N such MLPs, "
          "the experts, and a router.", "app.py"),
    Entry("RMSNorm", "Root-mean-square normalisation: a vector x becomes x / √(mean(x²) + ε), times a learned "
          "gain per entry, so its size stays steady from layer to layer; ε is a tiny constant (such as 10⁻⁵) that "
          "keeps the division safe when x is near 0. LayerNorm, the older normaliser, also subtracts the "
          "vector's mean before dividing by its spread and adds a learned bias; RMSNorm does neither. OLMoE and Mixtral put one before attention and one before the MoE layer "
          "(pre-norm, as of " + TRANSFORMERS + ").", "app.py"),
    # the papers and libraries the pages name, each with what the pages take from it (their arXiv papers and
    # NVIDIA's Megatron-LM repository); a reader met GShard, V-MoE or MegaBlocks with no word on what they are
    Entry(PAPERS, "The MoE work the pages name, oldest first. **Mesh TensorFlow** (Shazeer et al., Google, 2018): "
          "a library for splitting one model over many chips; Switch was written in it. **GShard** (Lepikhin et "
          "al., Google, 2020): top-2 routing with a capacity limit, the tokens split into groups with their own "
          "slots each, and a balance loss; it trained a 600-billion-parameter translation model. **Switch "
          "Transformer** (Fedus, Zoph and Shazeer, Google, 2021): top-1 routing under a capacity factor, and the "
          "balance loss N · Σᵢ fᵢ · Pᵢ this app uses; up to 1.6 trillion parameters. **V-MoE** (Riquelme et al., "
          "Google, 2021): MoE for images; its batch prioritized routing gives the slots first to the tokens with "
          "the largest routing weights. **ST-MoE** (Zoph et al., Google, 2022): a study of stable MoE training "
          "that introduced the router z-loss. **MegaBlocks** (Gale et al., 2022): dropless MoE training on GPUs, "
          "whose block-sparse matrix products let an expert take however many copies arrive. **Megatron-Core** "
          "(NVIDIA, part of Megatron-LM): an open-source library for training large Transformers on many GPUs, "
          "with MoE layers, expert parallelism, balance losses and drop policies.", None),
    Entry("Micro-batch and global batch", "A training step's global batch is every sequence behind one update "
          "of the weights. It is split into micro-batches: each micro-batch is the part one GPU runs forward and "
          "backward in one go, and the gradients of all of them are added before the update. Where a balance loss counts each expert's share f "
          "(per micro-batch, per sequence or over the global batch) changes how hard it pushes.",
          "pages/2_balance.py", shown_as="micro-batch"),
    Entry("Mixture of Experts (MoE)", "A layer that holds N feed-forward networks, the experts, and a router "
          "that sends each token to only k of them (top-k), so the layer has N experts' parameters but a token "
          "pays for k. In a Transformer it replaces the feed-forward MLP of some or all blocks; Mixtral, OLMoE, "
          "Qwen-MoE, DeepSeek-V3 and GPT-OSS are built this way. The walkthrough steps one token through one.",
          "app.py", shown_as="Mixture-of-Experts"),
)

TERMS = {entry.term: entry for entry in ENTRIES}

# The one on-screen name of the busiest expert's load ÷ the mean expert's (the code's `max_mean_load`): every page's
# label, header and sentence uses it, with MEASURES[LOAD_RATIO] as its definition.
LOAD_RATIO = "busiest ÷ mean load"

# The busiest ÷ mean load from which the table below calls routing failing; /heatmap names the layers at or past it
# (moeviz.load_health), so the number a learner sees there is called what the glossary calls it.
FAILING_MAX_MEAN_LOAD = 2.0

# (signal, healthy, failing): what to watch in a real system's routing statistics.
HEALTH_SIGNALS = (
    ("Tokens per expert", f"Near the even share T·k/N in every layer; {LOAD_RATIO} close to 1.",
     f"A few experts take most tokens ({LOAD_RATIO} of {FAILING_MAX_MEAN_LOAD:g} or more); some get none. "
     "Judge it over many tokens: on a short text a few tokens more on one expert already reach it."),
    ("Load balancing loss", "Soon after training starts it settles near 1, its value for perfectly even routing "
     "when fᵢ counts all T · k copies (Hugging Face's Mixtral code counts T tokens, so there it settles near k; "
     "see the load balancing loss entry above).",
     "Stays high or climbs: the router keeps favouring the same experts."),
    ("Router entropy", "Below ln N (the router decides) but not near 0 for every token.",
     "Near 0 everywhere with one expert winning (collapse), or stuck at ln N (the router learnt nothing)."),
    ("Dropped slots (dropped copies)", "A small share of token copies (about 1% or less) at the chosen capacity factor, and "
     "almost no token that lost every expert.",
     "Many drops: tokens lose experts, some lose all k and pass the layer unchanged, and quality falls; raise "
     "capacity, fix the imbalance, or go dropless."),
    ("Router logits and z-loss", "Logits stay in a modest range; z-loss is small and steady.",
     "Logits grow without bound, loss spikes follow: add or raise the z-loss."),
    ("Throughput under expert parallelism", "Devices finish their experts at about the same time.",
     "One device waits on the busiest expert; all-to-all time dominates the step."),
)

# Plain-word definitions of the measures the pages print, shown where each appears (one wording everywhere).
MEASURES = {
    LOAD_RATIO: "Busiest ÷ mean load: the tokens of the busiest expert divided by the mean over experts; 1 = "
                "every expert got the same number, 2 = the busiest got twice the average.",
    "load CV": "Load CV (coefficient of variation): how unevenly the tokens spread over the experts, the spread "
               "(standard deviation) of the tokens each expert got divided by their mean. 0 means every expert "
               "got the same number; 1 means the spread is as large as the average load itself.",
    "specialization": "Specialization (mutual information ÷ its maximum): how much knowing the expert a token "
                      "went to tells you about the token's cluster, as a share of the most it could tell. It is the mutual information "
                      "between cluster and expert divided by its ceiling: 0% = the experts get the same mix of "
                      "clusters, 100% = each expert's tokens come from clusters no other expert gets.",
    "lift": "Lift: how many times more often this expert gets the token than it gets token copies overall (the "
            "share of all copies it received), smoothed so that rare tokens do not score high by chance. 1 = no "
            "preference.",
    "blind router": "A router blind to the token: one whose choice does not depend on the token it sees (it "
                    "picks each expert as often as this router does overall, whatever the token). Under it a "
                    "token type goes to its usual first-choice expert only as often as the most-picked expert is "
                    "picked at all: the baseline the trained router's share is compared with.",
    "combine check": "The check adds the weighted expert outputs shown above and compares the sum, entry by entry, "
                     "with the output the layer itself returned. The box shows the largest difference: as a number "
                     "from 0.00001 up; below that in words, “exactly equal” (0) or “match to n decimal places” "
                     "(the difference is under 10⁻ⁿ), which is float rounding: the sum above is exactly what the "
                     "layer computed.",
}



def anchor(term: str) -> str:
    """The glossary page's anchor of an entry ("d_model and d_hidden" -> "d-model-and-d-hidden")."""
    return re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


# The words in a card's text that name another card, by that card's term (longest first wins where they overlap):
# a reader met "logit", "top-k" or "all-to-all" in a card with no way to the card that explains it.
CROSS_LINKS = {
    "Router": ("router",), "Top-k": ("top-k", "top k"), "Logit": ("logits", "logit"), "Softmax": ("softmax",),
    "All-to-all": ("all-to-all",), "Capacity factor": ("capacity factor",), "Residual path": ("residual path",),
    "Expert parallelism": ("expert parallelism",), "bf16 and fp32": ("bf16", "fp32"),
    "Combine weight": ("combine weights", "combine weight"), "Hidden state": ("hidden state",),
    "Shared expert": ("shared experts", "shared expert"), "Expert choice": ("expert choice",),
    "Load balancing loss": ("load balancing loss", "balance loss"), "Router entropy": ("router entropy",),
    "Attention": ("attention",), "Feed-forward MLP": ("MLPs", "MLP"), "Dropped slot": ("dropped copies",
    "dropped copy", "dropped slot"), "Dropless MoE": ("dropless",), "Expert collapse": ("collapse",),
    "z-loss": ("z-loss",), "FLOPs": ("FLOPs",), "d_model and d_hidden": ("d_model", "d_hidden"),
    "Mutual information": ("mutual information",), "Prefill and decode": ("prefill", "decode"),
    "Gate": ("gate value",), "Fine-grained experts": ("fine-grained",), "RMSNorm": ("RMSNorm",),
    PAPERS: ("Switch Transformer", "GShard", "V-MoE", "ST-MoE", "MegaBlocks", "Megatron-Core", "Mesh TensorFlow"),
    "Micro-batch and global batch": ("micro-batches", "micro-batch", "global batch"),
}
_PROTECTED = re.compile(r"\[[^\]]*\]\([^)]*\)|`[^`]*`|“[^”]*”")  # links, code, quoted text: never linked inside


def cross_linked(entry: Entry, href=lambda term: f"#{anchor(term)}") -> str:
    """`entry.text` with the first mention of each other card's term (CROSS_LINKS) linked to that card."""
    text = entry.text
    taken = [m.span() for m in _PROTECTED.finditer(text)]
    found = []  # (start, end, term)
    words = sorted(((w, t) for t, ws in CROSS_LINKS.items() if t != entry.term for w in ws),
                   key=lambda wt: -len(wt[0]))
    linked = set()
    for word, term in words:
        if term in linked:
            continue
        for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, flags=re.IGNORECASE):
            if not any(m.start() < end and start < m.end() for start, end in taken):
                found.append((m.start(), m.end(), term))
                taken.append(m.span())
                linked.add(term)
                break
    for start, end, term in sorted(found, reverse=True):
        text = f"{text[:start]}[{text[start:end]}]({href(term)}){text[end:]}"
    return text


def glossary_link(term: str, words: str | None = None) -> str:
    """Markdown linking `words` (default: the term, lower case) to `term`'s entry on the glossary page, for the
    place where a learner first meets the word. A relative link: it works under any base path."""
    if term not in TERMS:
        raise KeyError(f"no glossary entry {term!r}")
    return f"[{words or term.lower()}](glossary#{anchor(term)})"


__all__ = ["Entry", "ENTRIES", "TERMS", "HEALTH_SIGNALS", "FAILING_MAX_MEAN_LOAD", "LOAD_RATIO", "MEASURES", "BALANCE_LOSS_FORMULA", "BALANCE_LOSS_VALUE", "TRANSFORMERS", "PAPERS", "CROSS_LINKS", "anchor", "cross_linked",
           "glossary_link"]
