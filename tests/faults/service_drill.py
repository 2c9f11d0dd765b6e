"""Service faults against the real server: PostgreSQL connections dropped, the database refusing
connections for a while, the server's Redis connections killed, and a websocket left idle.

    python -m tests.faults.service_drill [--students 4] [--turns 6] [--json OUT]

One daphne worker (DEBUG=0, PostgreSQL scratch database, Redis channel layer, TUTOR_LLM=scripted) is
started as in ``tests.load``. Students behave like the browser: each message has an id; when the
server says it could not save a message, or the socket drops, they reconnect and send the same
message again. Only the server's own connections are cut (``pg_terminate_backend`` on the scratch
database, ``CLIENT KILL ADDR`` on the worker's Redis sockets), never other users of the services.
Afterwards the database must hold every message exactly once, each with a finished reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.load import driver

NOTICE = re.compile(r'role="alert">\s*([^<]+)')


@dataclass
class Client:
    index: int
    session_id: int
    cookie: str
    port: int
    sent: list[str] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    resends: int = 0
    reconnects: int = 0
    notices: list[str] = field(default_factory=list)
    ws: Any = None
    last: list[str] = field(default_factory=list)  # what happened in the last say(), for the report

    async def connect(self) -> None:
        import websockets

        if self.ws is not None:
            await self.ws.close()
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/sessions/{self.session_id}/", open_timeout=10,
            additional_headers={"Cookie": f"sessionid={self.cookie}", "Origin": f"http://127.0.0.1:{self.port}"})

    async def say(self, text: str, client_id: str, tries: int = 6) -> bool:
        """Send until the final reply arrives (re-sending the same id after a notice or a drop)."""
        import websockets

        if client_id not in self.sent:
            self.sent.append(client_id)
        self.last = []
        for attempt in range(tries):
            if attempt:
                self.resends += 1
                await asyncio.sleep(0.5 * attempt)
            try:
                if self.ws is None:
                    await self.connect()
                    self.reconnects += 1
                await self.ws.send(json.dumps({"message": text, "client_id": client_id}))
                async with asyncio.timeout(15):
                    while True:
                        frame = str(await self.ws.recv())
                        self.last.append(frame[:200])
                        notice = NOTICE.search(frame)
                        if notice and "turn-" not in frame:
                            self.notices.append(notice.group(1).strip())
                            raise RuntimeError("notice")
                        if 'hx-swap-oob="outerHTML"' in frame:
                            self.answered.add(client_id)
                            return True
            except (websockets.ConnectionClosed, OSError, TimeoutError) as exc:
                self.last.append(f"{type(exc).__name__}: {exc}")
                self.ws = None
            except RuntimeError:
                continue
        return False


def _server_redis_ports(pid: int, redis_port: int) -> list[int]:
    import psutil

    proc = psutil.Process(pid)
    return [c.laddr.port for c in proc.net_connections(kind="tcp")
            if c.raddr and c.raddr.port == redis_port and c.status == psutil.CONN_ESTABLISHED]


def redis_kill_server_connections(stack: driver.Stack, redis_url: str) -> int:
    import redis

    r = redis.Redis.from_url(redis_url)
    port = r.connection_pool.connection_kwargs.get("port", 6379)
    killed = 0
    for proc in stack.processes:
        for local in _server_redis_ports(proc.pid, port):
            with contextlib.suppress(redis.ResponseError):  # already gone
                r.execute_command("CLIENT", "KILL", "ADDR", f"127.0.0.1:{local}")
                killed += 1
    return killed


def pg_terminate(stack: driver.Stack) -> int:
    import psycopg

    with psycopg.connect(**driver._pg_admin(stack.opts.database_url)) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                            "pg_backend_pid()", (stack.db_name,)).fetchall()
    return len(rows)


def pg_allow_connections(stack: driver.Stack, allow: bool) -> None:
    import psycopg

    with psycopg.connect(**driver._pg_admin(stack.opts.database_url)) as conn:
        conn.execute(f'ALTER DATABASE "{stack.db_name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')


async def scenario(stack: driver.Stack, sessions: list[tuple[int, str]], turns: int) -> dict[str, Any]:
    clients = [Client(i, sid, cookie, stack.ports[0]) for i, (sid, cookie) in enumerate(sessions)]
    out: dict[str, Any] = {}
    texts = driver.MESSAGES

    async def everyone(label: str, turn: int) -> bool:
        results = await asyncio.gather(*(c.say(texts[(c.index + turn) % len(texts)], f"{label}-{c.index}-{turn}")
                                         for c in clients))
        return all(results)

    for c in clients:
        await c.connect()
    out["baseline_answered"] = await everyone("base", 0)

    # 1. Idle for longer than the channel layer's 5 s blocking read: the sockets must survive.
    await asyncio.sleep(7)
    before = sum(c.reconnects for c in clients)
    out["idle_7s_answered"] = await everyone("idle", 1)
    out["idle_7s_reconnects"] = sum(c.reconnects for c in clients) - before

    # 2. Every database connection of the server is terminated between two turns.
    out["pg_terminated"] = pg_terminate(stack)
    before_n = sum(len(c.notices) for c in clients)
    out["pg_drop_answered"] = await everyone("pgdrop", 2)
    out["pg_drop_notices"] = sum(len(c.notices) for c in clients) - before_n

    # 3. Connections terminated again and again while students are mid-turn.
    async def chaos() -> int:
        n = 0
        for _ in range(6):
            await asyncio.sleep(0.3)
            n += await asyncio.to_thread(pg_terminate, stack)
        return n

    chaos_task = asyncio.create_task(chaos())
    ok = True
    for turn in range(3, 3 + max(1, turns - 3)):
        ok = await everyone("pgchaos", turn) and ok
    out["pg_chaos_terminated"] = await chaos_task
    out["pg_chaos_answered"] = ok

    # 4. The database refuses connections for 2 s: the student is told, then the re-sent message is stored once.
    first = clients[0]
    await asyncio.sleep(10.5)  # past the chat's 8-messages-per-10-s window, so its notice cannot interfere
    await first.say("hello", "pgdown-ready")  # connected (and authenticated) before the database goes
    await asyncio.to_thread(pg_allow_connections, stack, False)
    await asyncio.to_thread(pg_terminate, stack)
    before_n = len(first.notices)
    # One try while the database is down: the student must get a clear notice, not silence.
    got = await first.say("can I have a hint?", "pgdown-0", tries=1)
    out["pg_down_answered_while_down"] = got
    out["pg_down_notice"] = first.notices[-1] if len(first.notices) > before_n else None
    out["pg_down_frames"] = first.last
    await asyncio.sleep(2)
    await asyncio.to_thread(pg_allow_connections, stack, True)
    out["pg_down_answered_after"] = await first.say("can I have a hint?", "pgdown-0")

    # 5. The server's Redis connections are killed (as a Redis restart would).
    out["redis_killed"] = await asyncio.to_thread(redis_kill_server_connections, stack, stack.opts.redis_url)
    await asyncio.sleep(0.5)
    before = sum(c.reconnects for c in clients)
    out["redis_kill_answered"] = await everyone("redis", 20)
    out["redis_kill_reconnects"] = sum(c.reconnects for c in clients) - before

    for c in clients:
        if c.ws is not None:
            await c.ws.close()
    out["sent"] = sorted(cid for c in clients for cid in c.sent)
    out["unanswered_by_client"] = sorted(cid for c in clients for cid in c.sent if cid not in c.answered)
    out["resends"] = sum(c.resends for c in clients)
    out["reconnects"] = sum(c.reconnects for c in clients)
    out["notices"] = sorted({n for c in clients for n in c.notices})
    return out


def check_db(sent: list[str]) -> dict[str, Any]:
    from django.db.models import Count

    from tutor.models import Turn

    rows = Turn.objects.filter(role=Turn.Role.STUDENT).exclude(client_id="")
    stored = dict(rows.values_list("client_id").annotate(n=Count("id")).values_list("client_id", "n"))
    answered = set(rows.filter(reply__state__in=[Turn.State.COMPLETE, Turn.State.FALLBACK], reply__text__gt="")
                   .values_list("client_id", flat=True))
    return {"sent": len(sent), "lost": sorted(set(sent) - set(stored)),
            "duplicated": sorted(c for c, n in stored.items() if n > 1),
            "unanswered": sorted(set(sent) - answered),
            "pending_tutor_turns": Turn.objects.filter(role=Turn.Role.TUTOR, state=Turn.State.PENDING).count()}


def run(students: int, turns: int, database_url: str, redis_url: str) -> dict[str, Any]:
    opts = driver.Options(students=students, turns=turns, workers=1, database_url=database_url, redis_url=redis_url)
    stack = driver.Stack(opts)
    try:
        stack.create_db()
        driver.django_setup(stack.env)
        sessions = driver.seed(students)
        from django.db import connections

        connections.close_all()
        stack.start()
        report = asyncio.run(asyncio.wait_for(scenario(stack, sessions, turns), timeout=300))
        stack.stop_servers()
        # Replies left pending when the server stopped are finished on the next connect; count them.
        report["db"] = check_db(report["sent"])
        connections.close_all()
        report["server_log_tail"] = stack.log_tail(1500)
        return report
    finally:
        stack.close()


def passed(report: dict[str, Any]) -> bool:
    db = report["db"]
    return (not db["lost"] and not db["duplicated"] and not db["unanswered"] and not report["unanswered_by_client"]
            and "could not be saved" in (report["pg_down_notice"] or "") and not report["pg_down_answered_while_down"]
            and report["idle_7s_reconnects"] == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.service_drill")
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--database-url", default=driver.DEFAULT_PG)
    parser.add_argument("--redis-url", default=driver.DEFAULT_REDIS)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    why = driver.services_available(args.database_url, args.redis_url)
    if why:
        print(f"PostgreSQL and Redis are needed: {why}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = run(args.students, args.turns, args.database_url, args.redis_url)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["passed"] = passed(report)
    text = json.dumps(report, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
