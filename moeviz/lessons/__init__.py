"""Lessons: an ordered list of views (a page, its share link's parameters, a title, talking points and an
optional predict-then-reveal question), saved as versioned JSON, played by the app, and handed out as one
offline HTML file or a Jupyter notebook. Pure Python: no streamlit (moeviz.app plays them).

    from moeviz.lessons import load_lesson, dump_lesson, Lesson, View, Question
    lesson = load_lesson(open("lesson.json", "rb").read())   # LessonError says what is wrong, and where
    text = dump_lesson(lesson)                               # what load_lesson reads back
    from moeviz.lessons.folders import available_lessons, open_lesson   # the server's lessons, by name only
    from moeviz.lessons.recipes import RECIPES               # a view's numbers, from moeviz's library calls
    from moeviz.lessons.handout import lesson_html, lesson_notebook

The file format is documented in moeviz/lessons/schema.py and docs/classroom.md.
"""
from moeviz.lessons.schema import (MAX_VIEWS, SCHEMA_VERSION, Lesson, LessonError, Question, View, dump_lesson,
                                   lesson_from_dict, lesson_to_dict, load_lesson)

__all__ = ["SCHEMA_VERSION", "MAX_VIEWS", "Lesson", "View", "Question", "LessonError", "load_lesson", "dump_lesson",
           "lesson_from_dict", "lesson_to_dict"]
