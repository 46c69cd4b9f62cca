"""Class rooms (follow the teacher, class polls) behind one store interface: moeviz.rooms.store.

    from moeviz.rooms import open_store, RoomError
    store = open_store()   # Redis when MOEVIZ_REDIS_URL is set (moeviz.rooms.redis_store), else in-process memory

Nothing outside this package knows which backend runs. Pure Python: no streamlit.
"""
from moeviz.rooms.store import (CODE_ALPHABET, CODE_COUNT, CODE_LENGTH, IDLE_SECONDS, MAX_ANSWER_CHARS, MAX_ANSWERS,
                                RoomError, RoomState, RoomStore, new_student_id, normalize_code, open_store,
                                question_of, shown_code)

__all__ = ["RoomStore", "RoomState", "RoomError", "open_store", "normalize_code", "shown_code", "new_student_id",
           "question_of", "CODE_ALPHABET", "CODE_LENGTH", "CODE_COUNT", "IDLE_SECONDS", "MAX_ANSWERS",
           "MAX_ANSWER_CHARS"]
