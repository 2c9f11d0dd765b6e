# The tutoring fixtures (a small course, a student and their session, the scripted backend).
from tests.tutor.conftest import backend, course, session, student  # noqa: F401
