"""Websocket load driver: N students chat with the real ASGI server at once, M turns each.

    python -m tests.load [--students 200] [--turns 20] [--workers 2] [--server uvicorn] [--json OUT]
                         [--llm scripted|embedded|openai:URL]

It creates a scratch PostgreSQL database (``--database-url``, default the local server), migrates it,
loads the demo course, creates the students and their sessions, starts ``--workers`` ASGI server
processes (``--server``: uvicorn with uvloop and httptools, the production set-up, or daphne;
production settings: ``DEBUG=0``, persistent database connections, the Redis channel layer) on
loopback ports and spreads the students over them as a proxy would. ``--llm`` picks the language model:
``scripted`` (the default: it echoes the authored text, so the figures are the app's own), ``embedded``
(the real model: the driver starts the model server, as ``.ci/start`` does, and stops it at the end) or
``openai:URL`` (a model server already running). With a real model the report adds ``model_share`` (the
share of replies whose sent text came from the model and passed the guard), ``first_token_ms`` (send →
first streamed token, over the replies that streamed one), ``first_text_ms`` (send → the first text of
the reply, a token or the authored fallback) and the fallbacks by reason, read from the stored turns.
Each student opens one websocket and sends ``--turns`` messages, waiting for the tutor's final reply
to each (and a think time between, which also keeps under the chat's 8-messages-per-10-s limit).
Latency (``final_reply_ms``) is send → final tutor message. Afterwards the database is checked: every message sent is
stored exactly once and has a finished tutor reply. Everything is bounded: per-turn timeout, a
global deadline, and the servers are stopped and the scratch database dropped at the end.

``--url https://127.0.0.1:8443`` drives a stack that is already running (``bash deploy/run up``)
through its proxy instead: no servers are started and no scratch database is made. The students,
and a copy of the demo course under a slug of this run's own, are created in the stack's database
(``--database-url``), with sessions signed by the stack's secret key (``--secret-key-file``);
``--cafile`` is the proxy's certificate. ``--reconnect`` makes a student whose socket drops open a
new one through the proxy and send the unanswered message again (same client id), as the page
does. ``--kill-after S --kill-cmd CMD`` runs CMD S seconds into the run (for example
``bash deploy/run kill-worker 2``) and reports the latency of the minute after it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO_PACK = ROOT / "content" / "fixtures" / "demo_course.json"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
LOAD_SECRET = "load-test-secret-key-" + "x" * 40
# What students say, in turn: hint requests, wrong answers, questions, chatter and right answers.
MESSAGES = ["can I have a hint?", "2/6", "I don't know", "what does denominator mean?", "5/8", "hmm, not sure",
            "is it 1/3?", "another hint please", "0", "3/4"]
FINAL = re.compile(r'id="turn-(\d+)"[^>]*hx-swap-oob="outerHTML"')
OPENED = re.compile(r'class="turn turn-tutor pending" id="turn-(\d+)"')
TOKEN = re.compile(r'hx-swap-oob="beforeend:#turn-(\d+)-stream"')
LLM_CHOICES = "scripted, embedded or openai:URL"


@dataclass
class Options:
    students: int = 200
    turns: int = 20
    workers: int = 2
    server: str = "uvicorn"  # or "daphne"
    think: float = 1.5  # mean seconds between a reply and the next message (uniform ±50 %)
    ramp: float = 5.0  # seconds over which students connect
    turn_timeout: float = 60.0
    deadline: float = 900.0  # whole run
    database_url: str = DEFAULT_PG
    redis_url: str = DEFAULT_REDIS
    keep_db: bool = False
    seed: int = 1
    # Driving a running stack through its proxy (deploy/run) instead of servers of its own.
    url: str = ""
    cafile: str = ""
    secret_key_file: str = ""
    reconnect: bool = False
    reconnect_window: float = 30.0  # seconds a dropped student keeps trying to reconnect
    kill_after: float | None = None
    kill_cmd: str = ""
    llm: str = "scripted"  # or "embedded" (starts the model server) or "openai:URL"
    llm_parallel: int = 8  # slots of the model server the driver starts


def llm_spec(value: str) -> str:
    """A ``--llm`` value, checked: ``scripted``, ``embedded`` or ``openai:http(s)://...``."""
    value = value.strip()
    if value in ("scripted", "embedded"):
        return value
    if value.startswith("openai:") and value[7:].startswith(("http://", "https://")):
        return value
    raise ValueError(f"--llm must be {LLM_CHOICES}, not {value!r}")


@dataclass
class StudentResult:
    session_id: int
    sent: list[str] = field(default_factory=list)  # client ids
    answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_token_ms: list[float] = field(default_factory=list)  # replies that streamed a model token
    first_text_ms: list[float] = field(default_factory=list)  # every reply: a token or the final text
    errors: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # monotonic send time of each answered turn
    reconnects_s: list[float] = field(default_factory=list)  # drop noticed → new socket open


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin(url: str) -> dict[str, Any]:
    import dj_database_url

    db = dj_database_url.parse(url)
    return {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None,
            "password": db["PASSWORD"] or None, "dbname": "postgres", "connect_timeout": 5, "autocommit": True}


def _db_url(base: str, name: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


def services_available(database_url: str = DEFAULT_PG, redis_url: str = DEFAULT_REDIS) -> str | None:
    """None when PostgreSQL and Redis answer, else why not."""
    try:
        import psycopg
        import redis

        psycopg.connect(**_pg_admin(database_url)).close()
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def server_env(db_url: str, redis_url: str, var_dir: Path, llm: str = "scripted",
               llm_server_url: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": LOAD_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # TLS ends at the proxy in production; loopback here
        "DATABASE_URL": db_url,
        "DB_CONN_MAX_AGE": "60",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"load-{uuid.uuid4().hex[:8]}",
        "TUTOR_LLM": llm,
        "TUTOR_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    if llm_server_url:
        env["TUTOR_LLM_SERVER_URL"] = llm_server_url
    return env


def server_command(server: str, port: int) -> list[str]:
    """The command line of one ASGI server process on ``port``, as deployed (README, Deployment)."""
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                "--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--no-access-log",
                # The application reads X-Forwarded-For itself, only from TRUSTED_PROXIES (tutor.ratelimit).
                "--no-proxy-headers", "--log-level", "warning"]
    if server == "daphne":
        # A proxy in front would hold a connecting socket longer than daphne's 5 s default.
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "--websocket_connect_timeout", "30", "--access-log", os.devnull, "config.asgi:application"]
    raise ValueError(f"unknown server {server!r}")


class Stack:
    """A scratch database and ``workers`` server processes; ``close()`` removes both."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.db_name = f"tutor_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.db_url = _db_url(opts.database_url, self.db_name)
        self.workdir = tempfile.TemporaryDirectory(prefix="tutor-load-")
        self.model_server: Any = None  # tutor.llm.model_server.ModelServer when the driver starts one
        self.env = server_env(self.db_url, opts.redis_url, Path(self.workdir.name), opts.llm)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []

    def create_db(self) -> None:
        import psycopg

        with psycopg.connect(**_pg_admin(self.opts.database_url)) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True, timeout=300)

    def start_model(self) -> dict[str, Any]:
        """Start the model server (``--llm embedded``) or check the given one; returns what was started."""
        from tutor.llm import model_server

        if self.opts.llm == "embedded":
            config = model_server.ServerConfig(port=_free_port(), parallel=self.opts.llm_parallel)
            self.model_server = model_server.ModelServer(config, log=Path(self.workdir.name) / "model-server.log")
            started = time.perf_counter()
            self.model_server.start(timeout=300)
            self.env["TUTOR_LLM_SERVER_URL"] = config.base_url
            return {"engine": config.engine, "parallel": config.parallel, "threads": config.threads,
                    "url": config.base_url, "start_and_warm_s": round(time.perf_counter() - started, 1)}
        if self.opts.llm.startswith("openai:"):
            url = self.opts.llm.partition(":")[2]
            model_server.wait_ready(url, timeout=60, warm_up=False)
            return {"url": url}
        return {}

    def start(self, timeout: float = 60.0) -> None:
        for i in range(self.opts.workers):
            port = _free_port()
            log = Path(self.workdir.name) / f"{self.opts.server}-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(server_command(self.opts.server, port), cwd=ROOT, env=self.env, stdout=out,
                                        stderr=subprocess.STDOUT)
            self.processes.append(proc)
            self.ports.append(port)
            self.logs.append(log)
        deadline = time.monotonic() + timeout
        for port, proc in zip(self.ports, self.processes, strict=True):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{self.opts.server} on port {port} did not start:\n{self.log_tail()}") \
                            from None
                    time.sleep(0.1)

    def stop_servers(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in self.logs if p.exists())

    def model_timings(self) -> dict[str, Any]:
        """What llama.cpp's server logged of the requests it finished: prompt sizes and its own rates."""
        if self.model_server is None or self.model_server.log is None or not self.model_server.log.exists():
            return {}
        text = self.model_server.log.read_text(errors="replace")
        timing = r"eval time =\s*([\d.]+) ms /\s*(\d+) tokens"
        prompts = [(float(ms), int(n)) for ms, n in re.findall("prompt " + timing, text)]
        decodes = [(float(ms), int(n)) for ms, n in re.findall(r"\|\s+" + timing, text)]
        return {
            "finished": len(decodes), "cancelled": text.count("cancel task"),
            "prompt_tokens_p50": statistics.median([n for _, n in prompts]) if prompts else None,
            "prefill_tokens_per_s_p50": round(statistics.median([n / ms * 1000 for ms, n in prompts if ms]), 1)
            if prompts else None,
            "decode_tokens_per_s_p50": round(statistics.median([n / ms * 1000 for ms, n in decodes if ms and n]), 1)
            if decodes else None,
        }

    def close(self) -> None:
        self.stop_servers()
        if self.model_server is not None:
            self.model_server.stop()
        if not self.opts.keep_db:
            try:
                import psycopg
                from django.db import connections

                connections.close_all()
                with psycopg.connect(**_pg_admin(self.opts.database_url)) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            except Exception as exc:  # leave the scratch database behind rather than hide the results
                print(f"!! could not drop {self.db_name}: {exc}", file=sys.stderr)
        self.workdir.cleanup()


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process against the scratch database (to seed and to check)."""
    for key in ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT",
                "DATABASE_URL", "REDIS_URL", "TUTOR_LLM", "TUTOR_VAR_DIR", "CACHE_KEY_PREFIX"):
        # (the seeding and checking in this process never phrase a reply, so the model is not needed here)
        os.environ[key] = env[key]
    import django

    django.setup()


def seed(n_students: int, prefix: str = "load-student", slug: str | None = None) -> list[tuple[int, str]]:
    """The demo course (under ``slug``, if given), ``n`` students with one session each; returns
    (session id, session cookie)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from content import packs
    from tutor import engine, roles
    from tutor.services import role_groups_ensure

    course = packs.import_pack(json.loads(DEMO_PACK.read_text(encoding="utf-8")), slug=slug)
    item = course.items.filter(steps__isnull=False).order_by("position", "id").first()
    assert item is not None
    group = role_groups_ensure()[roles.STUDENT]
    user_model = get_user_model()
    out = []
    for i in range(n_students):
        user = user_model(username=f"{prefix}-{i:04d}")
        user.set_unusable_password()
        user.save()
        user.groups.add(group)
        session = engine.session_start(student=user, item=item)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        out.append((session.pk, str(store.session_key)))
    return out


def _socket_target(opts: Options, port: int, session_id: int) -> tuple[str, str, dict[str, Any]]:
    """The socket's URL, the page origin it claims, and the connection's TLS arguments."""
    if not opts.url:
        return f"ws://127.0.0.1:{port}/ws/sessions/{session_id}/", f"http://127.0.0.1:{port}", {}
    base = opts.url.rstrip("/")
    ws_base = "wss" + base[len("https"):] if base.startswith("https") else "ws" + base[len("http"):]
    extra: dict[str, Any] = {}
    if base.startswith("https"):
        import ssl

        extra["ssl"] = ssl.create_default_context(cafile=opts.cafile or None)
    return f"{ws_base}/ws/sessions/{session_id}/", base, extra


async def _open(url: str, headers: dict[str, str], extra: dict[str, Any], timeout: float) -> Any:
    import websockets

    return await websockets.connect(url, additional_headers=headers, open_timeout=timeout, max_size=2**22, **extra)


async def _reopen(url: str, headers: dict[str, str], extra: dict[str, Any], opts: Options) -> Any:
    """A new socket through the proxy, tried until ``reconnect_window`` has passed."""
    give_up = time.monotonic() + opts.reconnect_window
    while True:
        try:
            return await _open(url, headers, extra, timeout=10.0)
        except Exception:
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(0.2)


async def student(index: int, session_id: int, cookie: str, port: int, opts: Options, start_delay: float,
                  stop_at: float) -> StudentResult:
    from websockets.exceptions import ConnectionClosed

    result = StudentResult(session_id=session_id)
    rng = random.Random(opts.seed * 100_003 + index)
    await asyncio.sleep(start_delay)
    url, origin, extra = _socket_target(opts, port, session_id)
    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
    ws: Any = None
    try:
        # With --reconnect the first socket is retried too, as the page's websocket extension does.
        ws = await (_reopen(url, headers, extra, opts) if opts.reconnect
                    else _open(url, headers, extra, timeout=opts.turn_timeout))
        for turn in range(opts.turns):
            if time.monotonic() > stop_at:
                result.errors.append("global deadline reached")
                break
            client_id = f"{'warm' if index >= 10_000 else 'load'}-{index}-{turn}"
            text = MESSAGES[(index + turn) % len(MESSAGES)]
            started = time.perf_counter()
            sent_at = time.monotonic()
            result.sent.append(client_id)
            tutor_id: str | None = None
            first_token: float | None = None
            resent = False  # after a reconnect the stored reply may come back without an opening bubble
            send = True
            try:
                while True:
                    try:
                        if send:
                            await ws.send(json.dumps({"message": text, "client_id": client_id}))
                            send = False
                        async with asyncio.timeout(opts.turn_timeout):
                            while True:
                                frame = str(await ws.recv())
                                if tutor_id is None:
                                    opened = OPENED.search(frame)
                                    if opened:
                                        tutor_id = opened.group(1)
                                    elif "#notice" in frame and re.search(r'role="alert">\s*\S', frame):
                                        raise RuntimeError(f"notice: {re.sub(r'<[^>]+>', '', frame).strip()}")
                                if first_token is None and tutor_id is not None:
                                    token = TOKEN.search(frame)
                                    if token and token.group(1) == tutor_id:
                                        first_token = (time.perf_counter() - started) * 1000
                                final = FINAL.search(frame)
                                if final and (final.group(1) == tutor_id or (resent and tutor_id is None)):
                                    break
                        break
                    except (ConnectionClosed, OSError):
                        if not opts.reconnect:
                            raise
                        # The worker went away: a new socket through the proxy, the same message again
                        # (same client id: stored once, answered once).
                        dropped = time.monotonic()
                        await ws.close()
                        ws = await _reopen(url, headers, extra, opts)
                        result.reconnects_s.append(time.monotonic() - dropped)
                        tutor_id, resent, send = None, True, True
            except TimeoutError:
                result.errors.append(f"turn {turn}: no final reply within {opts.turn_timeout}s")
                break  # the socket's state is unknown now; the database check counts what was stored
            except RuntimeError as exc:
                result.errors.append(f"turn {turn}: {exc}")
                continue
            final_ms = (time.perf_counter() - started) * 1000
            result.latencies_ms.append(final_ms)
            if first_token is not None:
                result.first_token_ms.append(first_token)
            result.first_text_ms.append(first_token if first_token is not None else final_ms)
            result.sent_at.append(sent_at)
            result.answered += 1
            if turn < opts.turns - 1:
                await asyncio.sleep(opts.think * rng.uniform(0.5, 1.5))
    except Exception as exc:
        result.errors.append(f"connection: {type(exc).__name__}: {exc}")
    finally:
        if ws is not None:
            await ws.close()
    return result


def check_db(results: list[StudentResult]) -> dict[str, Any]:
    """Every message the clients sent is stored exactly once, with a finished tutor reply."""
    from django.db.models import Count

    from tutor.models import Turn

    sent = {cid for r in results for cid in r.sent}
    # This run's sessions only: a stack's database may hold earlier runs (--url).
    rows = Turn.objects.filter(role=Turn.Role.STUDENT, client_id__startswith="load-",
                               session_id__in=[r.session_id for r in results])
    stored = dict(rows.values_list("client_id").annotate(n=Count("id")).values_list("client_id", "n"))
    lost = sorted(sent - set(stored))
    duplicated = sorted(cid for cid, n in stored.items() if n > 1)
    unexpected = sorted(set(stored) - sent)
    unanswered = list(
        rows.filter(client_id__in=sent)
        .exclude(reply__state__in=[Turn.State.COMPLETE, Turn.State.FALLBACK], reply__text__gt="")
        .values_list("client_id", flat=True)
    )
    replies = Turn.objects.filter(role=Turn.Role.TUTOR, reply_to__in=rows.filter(client_id__in=sent))
    states = dict(replies.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    backends = dict(replies.values_list("backend").annotate(n=Count("id")).values_list("backend", "n"))
    fallbacks: dict[str, int] = {}
    for guard in replies.filter(state=Turn.State.FALLBACK).values_list("guard", flat=True):
        reason = str((guard or {}).get("fallback") or "unrecorded")
        fallbacks[reason] = fallbacks.get(reason, 0) + 1
    # Model-phrased: the sent text came from the model and passed the guard (not authored, not a fallback).
    phrased = replies.filter(state=Turn.State.COMPLETE).exclude(backend__in=["", "authored", "authored-fallback"])
    total = replies.count()
    return {"sent": len(sent), "stored": sum(stored.values()), "lost": len(lost), "duplicated": len(duplicated),
            "unexpected": len(unexpected), "unanswered": len(unanswered), "reply_states": states,
            "reply_backends": backends, "fallbacks_by_reason": dict(sorted(fallbacks.items(), key=lambda kv: -kv[1])),
            "model_phrased": phrased.count(), "replies": total,
            "model_share": round(phrased.count() / total, 3) if total else None,
            "examples": {"lost": lost[:5], "duplicated": duplicated[:5], "unanswered": unanswered[:5]}}


def _env_float(name: str) -> float | None:
    """The deadline the workers ran with (the environment's, else the settings' default)."""
    from django.conf import settings

    return float(getattr(settings, name)) if hasattr(settings, name) else None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[k], 1)


@dataclass
class Kill:
    """The ``--kill-cmd`` run: when (monotonic) and what it printed."""

    at: float | None = None
    returncode: int | None = None
    output: str = ""


async def _kill_later(opts: Options, kill: Kill) -> None:
    assert opts.kill_after is not None
    await asyncio.sleep(opts.kill_after)
    kill.at = time.monotonic()
    proc = await asyncio.create_subprocess_shell(opts.kill_cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    kill.returncode, kill.output = proc.returncode, out.decode(errors="replace")[-500:]


async def _drive(sessions: list[tuple[int, str]], ports: list[int], opts: Options,
                 kill: Kill | None = None) -> tuple[list[StudentResult], float]:
    stop_at = time.monotonic() + opts.deadline
    started = time.perf_counter()
    tasks = [
        student(i, sid, cookie, ports[i % len(ports)], opts, opts.ramp * i / max(1, len(sessions)), stop_at)
        for i, (sid, cookie) in enumerate(sessions)
    ]
    killer = asyncio.create_task(_kill_later(opts, kill)) if kill is not None and opts.kill_after else None
    results = await asyncio.gather(*tasks)
    if killer is not None:
        if not killer.done():
            killer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killer
    return list(results), time.perf_counter() - started


def _latency(values: list[float]) -> dict[str, float | None]:
    return {"p50": _pct(values, 50), "p95": _pct(values, 95), "p99": _pct(values, 99),
            "max": round(max(values), 1) if values else None,
            "mean": round(statistics.fmean(values), 1) if values else None}


def _window(results: list[StudentResult], start: float, end: float) -> dict[str, Any]:
    """Latency of the turns sent in [start, end) (monotonic)."""
    values = [ms for r in results for at, ms in zip(r.sent_at, r.latencies_ms, strict=True) if start <= at < end]
    return {"turns": len(values), **_latency(values)}


def report_make(opts: Options, results: list[StudentResult], wall: float, db: dict[str, Any], server: str,
                server_log: str = "", kill: Kill | None = None, model: dict[str, Any] | None = None) -> dict[str, Any]:
    latencies = [ms for r in results for ms in r.latencies_ms]
    first_tokens = [ms for r in results for ms in r.first_token_ms]
    first_texts = [ms for r in results for ms in r.first_text_ms]
    errors = [e for r in results for e in r.errors]
    reconnects = [sec for r in results for sec in r.reconnects_s]
    model = model or {}
    latency = _latency(latencies)
    llm = opts.llm if opts.llm != "embedded" else f"embedded ({model.get('engine')}, {model.get('parallel')} slots)"
    report: dict[str, Any] = {
        "students": opts.students, "turns_per_student": opts.turns, "workers": opts.workers, "server": server,
        "llm": llm, "model_server": model,
        "deadlines_s": {"first_token": _env_float("TUTOR_LLM_FIRST_TOKEN_S"), "total": _env_float("TUTOR_LLM_TOTAL_S")},
        "think_s": opts.think, "wall_s": round(wall, 1),
        "turns_sent": sum(len(r.sent) for r in results), "turns_answered": sum(r.answered for r in results),
        "turns_per_s": round(sum(r.answered for r in results) / wall, 1) if wall else None,
        "model_share": db.get("model_share"), "fallbacks_by_reason": db.get("fallbacks_by_reason"),
        "first_token_ms": {"p50": _pct(first_tokens, 50), "p95": _pct(first_tokens, 95), "n": len(first_tokens)},
        "first_text_ms": {"p50": _pct(first_texts, 50), "p95": _pct(first_texts, 95)},
        "final_reply_ms": {"p50": latency["p50"], "p95": latency["p95"]},
        "latency_ms": latency,
        "errors": len(errors), "error_examples": errors[:10], "db": db,
        "server_log_tail": server_log if errors or db["lost"] or db["unanswered"] else "",
    }
    if opts.url:
        report["target"] = opts.url
    if opts.reconnect:
        report["reconnects"] = {"count": len(reconnects),
                                "students": sum(1 for r in results if r.reconnects_s),
                                "max_s": round(max(reconnects), 2) if reconnects else None,
                                "p95_s": round(_pct(reconnects, 95) or 0, 2) if reconnects else None}
    if kill is not None and opts.kill_after:
        report["kill"] = {"after_s": opts.kill_after, "command": opts.kill_cmd, "returncode": kill.returncode,
                          "output": kill.output.strip()}
        if kill.at is not None:
            report["kill"]["minute_before"] = _window(results, kill.at - 60, kill.at)
            report["kill"]["minute_after"] = _window(results, kill.at, kill.at + 60)
    return report


def run(opts: Options) -> dict[str, Any]:
    """Set up, drive, check, tear down; returns the report."""
    if opts.url:
        return run_against(opts)
    stack = Stack(opts)
    kill = Kill()
    model: dict[str, Any] = {}
    try:
        stack.create_db()
        django_setup(stack.env)
        sessions = seed(opts.students + opts.workers)
        from django.db import connections

        connections.close_all()
        model = stack.start_model()
        stack.start()
        # One warm-up student per worker (first imports, first queries); not measured.
        warm = [(sid, cookie) for sid, cookie in sessions[opts.students:]]
        warm_opts = Options(**{**asdict(opts), "turns": 2, "think": 0.1, "ramp": 0.0})
        asyncio.run(_drive_warm(warm, stack.ports, warm_opts))
        results, wall = asyncio.run(_drive(sessions[: opts.students], stack.ports, opts, kill))
        stack.stop_servers()
        db = check_db(results)
        model["timings"] = stack.model_timings()
    except BaseException:
        print(stack.log_tail(), file=sys.stderr)
        raise
    finally:
        server_log = stack.log_tail(2000)
        stack.close()
    server = f"{opts.workers} x {opts.server} (DEBUG=0, PostgreSQL, Redis channel layer, TUTOR_LLM={opts.llm})"
    return report_make(opts, results, wall, db, server, server_log, kill, model)


WARM_STUDENTS = 4  # through a proxy the warm-up cannot aim at each worker; a few students reach them


def run_against(opts: Options) -> dict[str, Any]:
    """Drive a stack that is already running (``--url``): seed its database, drive it through the
    proxy, check what it stored. Nothing is started or dropped; this run's rows stay, under names
    of its own."""
    secret = Path(opts.secret_key_file).read_text(encoding="utf-8").strip()
    workdir = tempfile.TemporaryDirectory(prefix="tutor-load-")
    env = server_env(opts.database_url, opts.redis_url, Path(workdir.name))
    env["SECRET_KEY"] = secret  # session cookies are signed with the stack's key
    django_setup(env)
    run_id = f"{time.strftime('%m%d%H%M%S')}{uuid.uuid4().hex[:4]}"
    sessions = seed(opts.students + WARM_STUDENTS, prefix=f"load-{run_id}", slug=f"load-{run_id}")
    from django.db import connections

    connections.close_all()
    kill = Kill()
    warm_opts = Options(**{**asdict(opts), "turns": 2, "think": 0.1, "ramp": 0.0, "kill_after": None})
    asyncio.run(_drive_warm(sessions[opts.students:], [0], warm_opts))
    results, wall = asyncio.run(_drive(sessions[: opts.students], [0], opts, kill))
    db = check_db(results)
    connections.close_all()
    workdir.cleanup()
    server = (f"running stack at {opts.url} ({opts.workers} workers behind the proxy, as given by --workers; "
              f"run {run_id})")
    report = report_make(opts, results, wall, db, server, kill=kill)
    report["run_id"] = run_id  # its students are load-RUN-NNNN, its course copy load-RUN
    return report


async def _drive_warm(sessions: list[tuple[int, str]], ports: list[int], opts: Options) -> None:
    stop_at = time.monotonic() + 120
    await asyncio.gather(*(student(10_000 + i, sid, cookie, ports[i % len(ports)], opts, 0.0, stop_at)
                           for i, (sid, cookie) in enumerate(sessions)))


def passed(report: dict[str, Any]) -> bool:
    db = report["db"]
    if "kill" in report and report["kill"]["returncode"] != 0:
        return False  # the drill did not happen
    return (report["errors"] == 0 and db["lost"] == 0 and db["duplicated"] == 0 and db["unanswered"] == 0
            and report["turns_answered"] == report["students"] * report["turns_per_student"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split("\n\n")[0])
    d = Options()
    parser.add_argument("--students", type=int, default=d.students)
    parser.add_argument("--turns", type=int, default=d.turns)
    parser.add_argument("--workers", type=int, default=d.workers, help="server processes")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default=d.server, help="ASGI server")
    parser.add_argument("--think", type=float, default=d.think, help="mean seconds between turns")
    parser.add_argument("--ramp", type=float, default=d.ramp, help="seconds over which students connect")
    parser.add_argument("--turn-timeout", type=float, default=d.turn_timeout)
    parser.add_argument("--deadline", type=float, default=d.deadline, help="seconds for the whole run")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", d.database_url),
                        help="PostgreSQL server (a scratch database is created on it)")
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", d.redis_url))
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--llm", default=d.llm, help=f"the language model: {LLM_CHOICES} (default: scripted)")
    parser.add_argument("--llm-parallel", type=int, default=d.llm_parallel,
                        help="slots of the model server started for --llm embedded")
    parser.add_argument("--p95-ms", type=float, default=None,
                        help="fail when p95 latency is above this (default: 250 scripted, 4000 with a real model)")
    parser.add_argument("--json", dest="json_out", help="write the report here")
    running = parser.add_argument_group("a running stack (bash deploy/run up)")
    running.add_argument("--url", default="", help="drive the stack behind this proxy address (https://HOST:PORT) "
                         "instead of starting servers; --database-url is then the stack's own database")
    running.add_argument("--cafile", default="", help="the proxy's certificate (var/deploy/tls/cert.pem)")
    running.add_argument("--secret-key-file", default=os.environ.get("SECRET_KEY_FILE", ""),
                         help="the stack's secret key (var/deploy/secret_key), to sign the students' sessions")
    running.add_argument("--reconnect", action="store_true",
                         help="a dropped student opens a new socket and sends the unanswered message again")
    running.add_argument("--reconnect-window", type=float, default=d.reconnect_window,
                         help="seconds a dropped student keeps trying")
    running.add_argument("--kill-after", type=float, default=None, help="run --kill-cmd this many seconds in")
    running.add_argument("--kill-cmd", default="", help="for example: bash deploy/run kill-worker 2")
    args = parser.parse_args(argv)
    if args.url:
        if not args.url.startswith(("https://", "http://")) or args.url.count("/") > 3:
            parser.error(f"--url {args.url!r}: give the proxy's base address, e.g. https://127.0.0.1:8443")
        if not args.secret_key_file or not Path(args.secret_key_file).is_file():
            parser.error("--url needs --secret-key-file, the stack's secret key (var/deploy/secret_key)")
        if args.cafile and not Path(args.cafile).is_file():
            parser.error(f"--cafile {args.cafile}: no such file")
    if (args.kill_after is None) != (not args.kill_cmd):
        parser.error("--kill-after and --kill-cmd go together")
    if args.kill_after is not None and not 0 < args.kill_after < args.deadline:
        parser.error("--kill-after must be within the run (0 < S < --deadline)")
    if args.students < 1 or args.turns < 1:
        parser.error("--students and --turns must be at least 1")
    try:
        llm = llm_spec(args.llm)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.llm_parallel <= 64:
        parser.error("--llm-parallel must be between 1 and 64")
    if args.p95_ms is None:
        args.p95_ms = 250.0 if llm == "scripted" else 4000.0
    opts = Options(students=args.students, turns=args.turns, workers=args.workers, server=args.server, think=args.think,
                   ramp=args.ramp, turn_timeout=args.turn_timeout, deadline=args.deadline,
                   database_url=args.database_url, redis_url=args.redis_url, keep_db=args.keep_db,
                   url=args.url.rstrip("/"), cafile=args.cafile, secret_key_file=args.secret_key_file,
                   reconnect=args.reconnect, reconnect_window=args.reconnect_window, kill_after=args.kill_after,
                   kill_cmd=args.kill_cmd, llm=llm, llm_parallel=args.llm_parallel)
    why = services_available(opts.database_url, opts.redis_url)
    if why:
        print(f"PostgreSQL and Redis are needed: {why}", file=sys.stderr)
        return 2
    report = run(opts)
    report["p95_target_ms"] = args.p95_ms
    ok = passed(report) and (report["latency_ms"]["p95"] or 0) <= args.p95_ms
    report["passed"] = ok
    if llm != "scripted":  # the classroom targets of the model server (reported, not part of `passed`)
        share, first, final = report["model_share"], report["first_token_ms"]["p95"], report["final_reply_ms"]["p95"]
        report["targets"] = {"model_share >= 0.9": share is not None and share >= 0.9,
                             "first_token_ms p95 <= 1500": first is not None and first <= 1500,
                             "final_reply_ms p95 <= 4000": final is not None and final <= 4000}
    text = json.dumps(report, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if ok else 1
