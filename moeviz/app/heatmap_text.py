"""/heatmap's text box and its example texts, shared by the moeviz language model's view and the checkpoints'."""
from __future__ import annotations

from moeviz.app.textbox import text_box as shared_text_box

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
