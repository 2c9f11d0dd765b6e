"""The live class view across worker processes: a teacher's socket on one uvicorn worker, a student's on
another, the Redis channel layer between them. Prints how long each answer took from the student's
send to the teacher's page update.

    python -m tests.deploy.live_drill [--answers 5] [--json OUT]

Like the load driver it makes a scratch PostgreSQL database and starts its own workers (production
settings, TUTOR_LLM=scripted), and removes both at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.load import driver

ANSWERS = ["1/6", "2/6", "5/8", "3/4"]  # wrong, a known mistake, wrong, right


def seed() -> dict[str, Any]:
    """A course, a teacher with a class, and one enrolled student with a session; their cookies."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from content import packs
    from tutor import engine, roles
    from tutor.services import role_groups_ensure
    from tutor.teaching import services as teaching
    from tutor.teaching.models import Enrolment

    course = packs.import_pack(json.loads(driver.DEMO_PACK.read_text(encoding="utf-8")))
    item = course.items.filter(steps__isnull=False).order_by("position", "id").first()
    assert item is not None
    groups = role_groups_ensure()
    users = {}
    for name, role in (("drill-teacher", roles.TEACHER), ("drill-student", roles.STUDENT)):
        user = get_user_model()(username=name)
        user.set_unusable_password()
        user.save()
        user.groups.add(groups[role])
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        users[name] = (user, str(store.session_key))
    classroom = teaching.classroom_create(teacher=users["drill-teacher"][0], course=course, name="drill")
    Enrolment.objects.create(classroom=classroom, student=users["drill-student"][0])
    session = engine.session_start(student=users["drill-student"][0], item=item)
    return {"classroom": classroom.pk, "session": session.pk, "teacher_cookie": users["drill-teacher"][1],
            "student_cookie": users["drill-student"][1], "student_id": users["drill-student"][0].pk}


async def drive(world: dict[str, Any], teacher_port: int, student_port: int, answers: int) -> list[float]:
    """Send ``answers`` answers on the student's socket; for each, the seconds until the teacher's socket
    has the feed line for it. The first answer warms both workers and is not counted."""
    import websockets

    def headers(port: int, cookie: str) -> dict[str, str]:
        return {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}

    teacher_url = f"ws://127.0.0.1:{teacher_port}/ws/teach/classes/{world['classroom']}/live/"
    student_url = f"ws://127.0.0.1:{student_port}/ws/sessions/{world['session']}/"
    seconds: list[float] = []
    async with (websockets.connect(teacher_url, additional_headers=headers(teacher_port, world["teacher_cookie"]),
                                   open_timeout=30) as teacher,
                websockets.connect(student_url, additional_headers=headers(student_port, world["student_cookie"]),
                                   open_timeout=30) as student):
        for n in range(answers + 1):
            text = ANSWERS[n % len(ANSWERS)] if n < answers else "3/4"
            started = time.perf_counter()
            await student.send(json.dumps({"message": text, "client_id": f"drill-{n}"}))
            async with asyncio.timeout(10):
                while True:
                    frame = str(await teacher.recv())
                    if "#live-answers" in frame and f'data-student="{world["student_id"]}"' in frame:
                        break
            took = time.perf_counter() - started
            if n:
                seconds.append(took)
            # The student's reply and the row update: read them so the next answer starts clean.
            async with asyncio.timeout(10):
                while not driver.FINAL.search(str(await student.recv())):
                    pass
            async with asyncio.timeout(5):
                row = str(await teacher.recv())
            assert re.search(r'data-figure="attempts">\d+<', row), row[:200]
            await asyncio.sleep(1.2)  # under the chat's 8-messages-per-10-s limit
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.live_drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=5)
    parser.add_argument("--database-url", default=driver.DEFAULT_PG)
    parser.add_argument("--redis-url", default=driver.DEFAULT_REDIS)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    if not 1 <= args.answers <= 50:
        parser.error("--answers must be 1 to 50")
    why = driver.services_available(args.database_url, args.redis_url)
    if why:
        print(f"PostgreSQL and Redis are needed: {why}", file=sys.stderr)
        return 2
    opts = driver.Options(workers=2, database_url=args.database_url, redis_url=args.redis_url)
    stack = driver.Stack(opts)
    # Groups of this run only, whatever else uses the same Redis.
    stack.env["CHANNEL_LAYER_PREFIX"] = f"drill-{uuid.uuid4().hex[:8]}"
    try:
        stack.create_db()
        driver.django_setup(stack.env)
        world = seed()
        from django.db import connections

        connections.close_all()
        stack.start()
        teacher_port, student_port = stack.ports
        seconds = asyncio.run(drive(world, teacher_port, student_port, args.answers))
    except BaseException:
        print(stack.log_tail(), file=sys.stderr)
        raise
    finally:
        stack.close()
    report = {"teacher_worker_port": teacher_port, "student_worker_port": student_port, "answers": len(seconds),
              "seconds": [round(s, 3) for s in seconds], "max_s": round(max(seconds), 3),
              "passed": max(seconds) <= 1.0}
    text = json.dumps(report, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
