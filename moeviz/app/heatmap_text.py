"""/heatmap's words shared by the moeviz language model's view and the checkpoints': the text box with its example
texts, and the note on layers whose load reaches the glossary's "failing" line."""
from __future__ import annotations

from moeviz.app.textbox import text_box as shared_text_box
from moeviz.glossary import FAILING_MAX_MEAN_LOAD
from moeviz.load_health import chance_max_mean, crowded_layers

DEFAULT_TEXT = 'The "for" statement repeats its suite for each item:\n   for i in range(3): print(i)'
EXAMPLE_TEXTS = {  # the example picker's texts (not moeviz.presets' classroom presets)
    "Prose and a line of code": DEFAULT_TEXT,
    "Plain English": "The weather was calm, so we walked along the river and talked about old friends.",
    "Python code": "   def area(width, height):\n       return width * height\n\n   print(area(3, 4))",
    "Docs sentence": "An iterator is created for the result of the expression, and the suite is executed once "
                     "for each item provided by the iterator.",
    "HTML markup": '<p>Press <kbd>Ctrl</kbd>+<kbd>S</kbd> to <a href="#save">save the file</a>.</p>',
    "Other scripts and emoji": "Routing 🙂 works on bytes: مرحبا بالعالم, 你好, Ünïcödé.",
}


def text_box(help: str) -> str:
    """/heatmap's "Text to route" area and its example picker (moeviz.app.textbox)."""
    return shared_text_box("Text to route", DEFAULT_TEXT, help=help, multiline=True, presets=EXAMPLE_TEXTS)


def crowded_note(layers, traces) -> str | None:
    """Markdown naming the layers whose max/mean load is at or past the glossary's "failing" line, with what chance
    alone reaches on as few tokens (few token copies per expert); None when no layer reaches the line."""
    crowded = crowded_layers(layers, traces)
    if not crowded:
        return None
    T, k, N = traces[0].num_tokens, traces[0].top_k, traces[0].num_experts
    chance = chance_max_mean(T, k, N)
    above = [f"layer {layer}" for layer, value in crowded if value > chance]
    verdict = (f"{', '.join(above)} {'is' if len(above) == 1 else 'are'} above that: "
               f"{'its router favours' if len(above) == 1 else 'their routers favour'} some experts on this text"
               if above else "chance alone gets there at this length, so this says nothing "
               "about the router yet")
    named = ", ".join(f"layer {layer} ({value:.2f})" for layer, value in crowded)
    return (f"**At or past the glossary's “failing” line** (max/mean load of {FAILING_MAX_MEAN_LOAD:g} or more): "
            f"{named}. On a short text that is weak evidence: {T} tokens with k = {k} of N = {N} experts give the "
            f"average expert {T * k / N:.1f} token copies, so a few more on one expert move the ratio a lot, and a "
            f"router picking experts at random reaches {chance:.2f} on average at this length; {verdict}. The line "
            "is meant for statistics over many tokens (a training batch, a day of serving): a longer text shows "
            "whether the skew stays. A tiny or briefly trained model may also not have evened out its load yet.")
