"""Which lesson files the server may open: the shipped ones, then those in MOEVIZ_LESSON_DIRS, by name only.

    lessons = available_lessons()          # {name: path}: shipped first, then each listed folder's *.json
    lesson = open_lesson(name, lessons)    # a *name* from a widget -> the checked Lesson; anything else refused

The same rule as checkpoint folders (moeviz.hf.folders): the operator lists folders (os.pathsep-separated); a
lesson is known by its file name without ".json"; a browser only ever sends such a name, and resolving accepts
an exact listed name and nothing else (no path, no separator, no "..", no hidden name).
"""
from __future__ import annotations

import os
from pathlib import Path

from moeviz.hf.folders import _valid_name as valid_name, model_dirs
from moeviz.lessons.schema import MAX_LESSON_BYTES, Lesson, LessonError, load_lesson

ENV_VAR = "MOEVIZ_LESSON_DIRS"
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SUFFIX = ".json"


def lesson_dirs(value: str | None = None) -> list[Path]:
    """The folders listed in MOEVIZ_LESSON_DIRS (or `value`), in order; blank and missing entries skipped."""
    return model_dirs(os.environ.get(ENV_VAR, "") if value is None else value)


def available_lessons(dirs: list[Path] | None = None, shipped: Path | None = SHIPPED_DIR) -> dict[str, Path]:
    """{name: file}: the shipped lessons first, then each listed folder's *.json (sorted); the first name wins."""
    lessons: dict[str, Path] = {}
    roots = ([shipped] if shipped is not None and shipped.is_dir() else []) + \
        (lesson_dirs() if dirs is None else list(dirs))
    for root in roots:
        try:
            files = sorted(Path(root).glob(f"*{SUFFIX}"), key=lambda p: p.name)
        except OSError:  # unreadable: offer nothing from it
            continue
        for path in files:
            name = path.name[: -len(SUFFIX)]
            if valid_name(name) and path.is_file():
                lessons.setdefault(name, path)
    return lessons


def open_lesson(name, lessons: dict[str, Path]) -> Lesson:
    """The lesson called `name` (a listed name); LessonError for a path, "..", an unknown name or a bad file."""
    if not isinstance(name, str) or not valid_name(name):
        raise LessonError(f"{str(name)[:60]!r} is not a lesson name: pick one of the listed lessons.")
    if name not in lessons:
        raise LessonError(f"no lesson called {name[:60]!r} here; available: {', '.join(lessons) or 'none'}.")
    path = lessons[name]
    if path.stat().st_size > MAX_LESSON_BYTES:
        raise LessonError(f"{name}: the file is larger than {MAX_LESSON_BYTES // 1024} KiB.")
    try:
        return load_lesson(path.read_bytes())
    except LessonError as problem:
        raise LessonError(f"{name}: {problem}") from None


__all__ = ["ENV_VAR", "SHIPPED_DIR", "lesson_dirs", "available_lessons", "open_lesson"]
