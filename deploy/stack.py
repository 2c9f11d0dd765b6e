"""Bring the production stack up on this machine, or down again (run through ``bash deploy/run``).

``up``: checks PostgreSQL and Redis, creates the database if it is missing, applies migrations,
collects static files, makes a self-signed TLS certificate and a secret key on first run, renders
the nginx and supervisor configurations from the templates beside this file, starts supervisor
(web workers, job workers, the model server where present) and nginx, and waits until every
worker and the proxy answer ``/readyz``. ``down`` stops nginx and supervisor and waits for their
processes to end. Everything it writes lives in the state folder (``TUTOR_DEPLOY_DIR``, default
``var/deploy``). Settings come from the environment; ``settings_from_env`` lists them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


class StackError(Exception):
    """A problem the operator can fix; printed without a traceback."""


@dataclass(frozen=True)
class Settings:
    state: Path
    workers: int
    https_port: int
    bind: str
    web_port: int  # the first worker's; worker N listens on web_port + N - 1
    job_concurrency: int
    jobs: bool
    database_url: str
    redis_url: str
    tutor_llm: str
    ready_timeout: float

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def tls(self) -> Path:
        return self.state / "tls"

    @property
    def static(self) -> Path:
        return self.state / "static"

    @property
    def base_url(self) -> str:
        return f"https://{self.bind}:{self.https_port}"

    def worker_ports(self) -> list[int]:
        return [self.web_port + i for i in range(self.workers)]


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise StackError(f"{name}={value} is out of range ({low} to {high})")
    return value


def settings_of_running(s: Settings) -> Settings:
    """The settings the stack in ``s.state`` was brought up with (for status, kill-worker, down)."""
    try:
        saved = json.loads((s.state / "stack.json").read_text())
    except (OSError, ValueError):
        return s
    return replace(s, workers=int(saved["workers"]), https_port=int(saved["https_port"]),
                   web_port=int(saved["web_port"]), bind=str(saved["bind"]))


def settings_from_env() -> Settings:
    """Every setting of the runner, with its default."""
    workers = _int("TUTOR_DEPLOY_WORKERS", 4, 1, 64)
    https_port = _int("TUTOR_DEPLOY_HTTPS_PORT", 8443, 1, 65535)
    web_port = _int("TUTOR_DEPLOY_WEB_PORT", 8101, 1024, 65535 - workers)
    if https_port in range(web_port, web_port + workers):
        raise StackError(f"TUTOR_DEPLOY_HTTPS_PORT={https_port} collides with the workers' ports "
                         f"{web_port} to {web_port + workers - 1}")
    jobs = os.environ.get("TUTOR_DEPLOY_JOBS", "1").strip().lower()
    if jobs not in {"0", "1"}:
        raise StackError(f"TUTOR_DEPLOY_JOBS={jobs!r}: use 1 (start the job workers) or 0")
    return Settings(
        state=Path(os.environ.get("TUTOR_DEPLOY_DIR", ROOT / "var" / "deploy")).resolve(),
        workers=workers,
        https_port=https_port,
        bind=os.environ.get("TUTOR_DEPLOY_BIND", "127.0.0.1"),
        web_port=web_port,
        job_concurrency=_int("TUTOR_DEPLOY_JOB_CONCURRENCY", 1, 1, 64),
        jobs=jobs == "1",
        database_url=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tutor_deploy"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        tutor_llm=os.environ.get("TUTOR_LLM", "embedded"),
        ready_timeout=float(_int("TUTOR_DEPLOY_READY_TIMEOUT", 180, 5, 3600)),
    )


# ---------------------------------------------------------------------------------------------
# The app's environment


def secret_key_file(s: Settings) -> Path:
    """The secret key, made once (0600) unless SECRET_KEY_FILE names one."""
    given = os.environ.get("SECRET_KEY_FILE")
    if given:
        if not Path(given).is_file():
            raise StackError(f"SECRET_KEY_FILE={given} does not exist")
        return Path(given)
    path = s.state / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50) + "\n")
    return path


def app_env(s: Settings) -> dict[str, str]:
    """The environment of every process of the stack: production settings (README, Deployment)."""
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    hosts = ["127.0.0.1", "localhost"] + ([s.bind] if s.bind not in {"127.0.0.1", "0.0.0.0"} else [])
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY_FILE": str(secret_key_file(s)),
        "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS", ",".join(hosts)),
        "CSRF_TRUSTED_ORIGINS": os.environ.get(
            "CSRF_TRUSTED_ORIGINS", ",".join(f"https://{h}:{s.https_port}" for h in hosts)),
        "DATABASE_URL": s.database_url,
        "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "60"),
        # The proxy's address: X-Forwarded-For is believed from it alone (tutor/ratelimit.py).
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", "127.0.0.1"),
        "REDIS_URL": s.redis_url,
        "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", f"tutor-deploy-{s.https_port}"),
        "CHANNEL_LAYER_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", f"tutor-deploy-{s.https_port}"),
        "CELERY_QUEUE": os.environ.get("CELERY_QUEUE", f"tutor-deploy-{s.https_port}"),
        "STATIC_ROOT": str(s.static),
        "TUTOR_LLM": s.tutor_llm,
        "TUTOR_LLM_SERVER_URL": model_server_url(),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def check_services(s: Settings) -> None:
    """PostgreSQL and Redis answer, and the tools are installed; else a clear error."""
    if not Path(NGINX).is_file():
        raise StackError(f"nginx not found at {NGINX} (apt-get install nginx, or set NGINX)")
    if not shutil.which("openssl"):
        raise StackError("openssl not found (apt-get install openssl)")
    if not s.database_url.startswith(("postgres://", "postgresql://")):
        raise StackError(f"DATABASE_URL must name a PostgreSQL database, not {s.database_url.split(':')[0]}")
    import psycopg
    import redis

    try:
        psycopg.connect(**pg_admin(s.database_url)).close()
    except Exception as exc:
        raise StackError(f"PostgreSQL does not answer ({s.database_url.rsplit('@', 1)[-1]}): {exc}") from None
    try:
        redis.Redis.from_url(s.redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise StackError(f"Redis does not answer ({s.redis_url}): {exc}") from None


def pg_admin(url: str) -> dict[str, Any]:
    import dj_database_url

    db = dj_database_url.parse(url)
    return {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None,
            "password": db["PASSWORD"] or None, "dbname": "postgres", "connect_timeout": 5, "autocommit": True}


def database_ensure(s: Settings) -> bool:
    """Create the database if it is missing; True when it was created."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    name = dj_database_url.parse(s.database_url)["NAME"]
    with psycopg.connect(**pg_admin(s.database_url)) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
    return True


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> None:
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def certificate_ensure(s: Settings) -> bool:
    """A self-signed certificate for the proxy's address, made on first run; True when made."""
    cert, key = s.tls / "cert.pem", s.tls / "key.pem"
    if cert.exists() and key.exists():
        return False
    s.tls.mkdir(parents=True, exist_ok=True)
    names = ["DNS:localhost", "IP:127.0.0.1"] + ([f"IP:{s.bind}"] if s.bind not in {"127.0.0.1", "0.0.0.0"} else [])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=tutor (self-signed)",
                    "-addext", "subjectAltName=" + ",".join(names)],
                   check=True, capture_output=True, timeout=60)
    key.chmod(0o600)
    return True


# ---------------------------------------------------------------------------------------------
# Configuration files


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _render(template: str, **values: Any) -> str:
    """Fill a template's ``{{name}}`` placeholders (nginx's own ``$variables`` are left alone); a
    placeholder without a value is an error, not an empty string."""
    text = (DEPLOY / template).read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise StackError(f"{template}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def nginx_conf(s: Settings) -> str:
    # A worker is set aside for 2 s after 3 failures, not 1: under a burst a slow handshake is not a dead
    # worker, and with every worker set aside nginx answers 502 at once (seen at 300 students).
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=2s;" for port in s.worker_ports())
    # As root, nginx's own workers drop to an unprivileged user (Debian's package creates www-data).
    user_line = "user www-data;" if os.geteuid() == 0 else ""
    return _render("nginx.conf.template", user_line=user_line, run=s.run, logs=s.logs, tmp=s.state / "nginx-tmp",
                   tls=s.tls, static=s.static, bind=s.bind, https_port=s.https_port, upstream_servers=servers)


def web_command(s: Settings, port: int) -> str:
    """One web worker, as deployed (README, Deployment). uvicorn leaves the client address alone
    (--no-proxy-headers): the app believes X-Forwarded-For from TRUSTED_PROXIES, the proxy, only."""
    return (f"{sys.executable} -m uvicorn config.asgi:application --host 127.0.0.1 --port {port} "
            "--loop uvloop --http httptools --ws websockets --no-access-log --no-proxy-headers "
            f"--log-config {DEPLOY / 'uvicorn-logging.json'} --timeout-graceful-shutdown 10")


def model_server_url() -> str:
    return os.environ.get("TUTOR_LLM_SERVER_URL", "http://127.0.0.1:8090/v1")


def model_server_port() -> int:
    from urllib.parse import urlsplit

    url = urlsplit(model_server_url())
    if url.hostname not in {"127.0.0.1", "localhost"} or not url.port:
        raise StackError(f"TUTOR_LLM_SERVER_URL={model_server_url()!r}: the stack's model server listens on "
                         "http://127.0.0.1:PORT/v1 (a server elsewhere: set TUTOR_LLM=openai:URL)")
    return url.port


def model_server_section(s: Settings) -> str:
    """The one model server (``python -m tutor.llm.model_server serve``, llama.cpp's server with the
    packaged model) that ``TUTOR_LLM=embedded`` talks to. It starts with the stack only when the web
    workers use it; defined, not started, otherwise. Absent from a tree without that module."""
    if importlib.util.find_spec("tutor.llm.model_server") is None:
        return "; [program:model-server]: added when tutor/llm/model_server exists (docs/deploy.md)."
    port = model_server_port()
    return "\n".join([
        "[program:model-server]",
        f"command={sys.executable} -m tutor.llm.model_server serve --host 127.0.0.1 --port {port}",
        f"directory={ROOT}", f"autostart={'true' if s.tutor_llm == 'embedded' else 'false'}", "autorestart=true",
        "startsecs=5", "stopwaitsecs=30", "stopasgroup=true", "killasgroup=true", "redirect_stderr=true",
        f"stdout_logfile={s.logs}/model-server.log", "stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=3",
    ])


def model_server_wait(s: Settings, env: dict[str, str]) -> None:
    """With the embedded model, ready means the model server answers too (and has been warmed)."""
    if s.tutor_llm != "embedded" or importlib.util.find_spec("tutor.llm.model_server") is None:
        return
    print(f"==> waiting for the model server at {model_server_url()}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "tutor.llm.model_server", "wait", model_server_url(),
                           "--timeout", str(int(s.ready_timeout))], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=s.ready_timeout + 60)
    if proc.returncode:
        raise StackError(f"the model server did not answer:\n{(proc.stdout + proc.stderr)[-1500:]}\n{log_tails(s)}")


def supervisord_conf(s: Settings) -> str:
    names = [f"web-{i + 1}" for i in range(s.workers)]
    head = _render("supervisord.conf.template", run=s.run, logs=s.logs, python=sys.executable, root=ROOT,
                   web_programs=",".join(names), job_concurrency=s.job_concurrency,
                   jobs_autostart="true" if s.jobs else "false", model_server_section=model_server_section(s))
    sections = []
    for name, port in zip(names, s.worker_ports(), strict=True):
        sections.append("\n".join([
            f"[program:{name}]",
            f"command={web_command(s, port)}",
            f"directory={ROOT}",
            "autorestart=true",
            "startsecs=2",
            "startretries=20",
            "stopsignal=TERM",
            "stopwaitsecs=15",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={s.logs}/{name}.log",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=3",
        ]))
    return head + "\n" + "\n\n".join(sections) + "\n"


# ---------------------------------------------------------------------------------------------
# Processes


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def supervisorctl(s: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(s.state / "supervisord.conf"),
                           *args], capture_output=True, text=True, timeout=120, env=env)


def _get(url: str, timeout: float = 3.0, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError) as exc:
        return 0, {"error": f"{type(exc).__name__}: {exc}"}


def tls_context(s: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(s.tls / "cert.pem"))


def readiness(s: Settings) -> dict[str, Any]:
    """/readyz of every worker (directly) and of the proxy."""
    out: dict[str, Any] = {}
    for i, port in enumerate(s.worker_ports(), start=1):
        out[f"web-{i}"] = _get(f"http://127.0.0.1:{port}/readyz")
    out["proxy"] = _get(f"{s.base_url}/readyz", context=tls_context(s))
    return out


def wait_ready(s: Settings) -> dict[str, Any]:
    deadline = time.monotonic() + s.ready_timeout
    while True:
        state = readiness(s)
        if all(code == 200 for code, _ in state.values()):
            return state
        if time.monotonic() > deadline:
            waiting = {k: v for k, v in state.items() if v[0] != 200}
            raise StackError(f"not ready after {s.ready_timeout:g} s: {json.dumps(waiting)}\n{log_tails(s)}")
        time.sleep(1.0)


def log_tails(s: Settings, chars: int = 1500) -> str:
    parts = []
    for path in sorted(s.logs.glob("*.log")):
        text = path.read_text(errors="replace")[-chars:]
        if text.strip():
            parts.append(f"--- {path.name}\n{text}")
    return "\n".join(parts)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def up(s: Settings) -> dict[str, Any]:
    if _pid(s.run / "supervisord.pid") or _pid(s.run / "nginx.pid"):
        raise StackError(f"the stack in {s.state} is already up (bash deploy/run down first)")
    check_services(s)
    ports = [s.https_port, *s.worker_ports()]
    if s.tutor_llm == "embedded" and importlib.util.find_spec("tutor.llm.model_server") is not None:
        ports.append(model_server_port())
    busy = [p for p in ports if not _port_free("127.0.0.1", p)]
    if busy:
        raise StackError(f"ports in use: {busy} (set TUTOR_DEPLOY_HTTPS_PORT / TUTOR_DEPLOY_WEB_PORT)")
    for path in (s.run, s.logs, s.static, s.state / "nginx-tmp"):
        path.mkdir(parents=True, exist_ok=True)
    env = app_env(s)
    created = database_ensure(s)
    print(f"==> database {'created' if created else 'exists'}; migrating", flush=True)
    manage(env, "migrate", "--noinput", "-v", "0")
    print(f"==> collecting static files into {s.static}", flush=True)
    manage(env, "collectstatic", "--noinput", "-v", "0")
    if certificate_ensure(s):
        print(f"==> made a self-signed certificate: {s.tls / 'cert.pem'}", flush=True)
    (s.state / "stack.json").write_text(json.dumps({"workers": s.workers, "https_port": s.https_port,
                                                     "web_port": s.web_port, "bind": s.bind}) + "\n")
    (s.state / "nginx.conf").write_text(nginx_conf(s))
    (s.state / "supervisord.conf").write_text(supervisord_conf(s))
    test = subprocess.run([NGINX, "-t", "-q", "-p", str(s.state), "-c", str(s.state / "nginx.conf")],
                          capture_output=True, text=True, timeout=30)
    if test.returncode:
        raise StackError(f"nginx rejects its configuration:\n{test.stderr}")
    print(f"==> starting {s.workers} web workers{' and the job workers' if s.jobs else ''} (supervisor)", flush=True)
    subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(s.state / "supervisord.conf")],
                   env=env, check=True, cwd=ROOT, timeout=60)
    try:
        print(f"==> starting nginx on {s.base_url}", flush=True)
        subprocess.run([NGINX, "-p", str(s.state), "-c", str(s.state / "nginx.conf")], check=True,
                       capture_output=True, timeout=30)
        state = wait_ready(s)
        model_server_wait(s, env)
    except BaseException:
        down(s)
        raise
    print(f"==> ready: {s.base_url} (certificate {s.tls / 'cert.pem'})", flush=True)
    return state


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.2)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child of ours that has exited but not been reaped is gone for this purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def down(s: Settings) -> bool:
    """Stop nginx, then supervisor and everything it runs; False when nothing was running."""
    stopped = False
    nginx = _pid(s.run / "nginx.pid")
    if nginx:
        subprocess.run([NGINX, "-p", str(s.state), "-c", str(s.state / "nginx.conf"), "-s", "quit"],
                       capture_output=True, timeout=30)
        if _wait_gone([nginx], 15):
            os.kill(nginx, signal.SIGTERM)
            _wait_gone([nginx], 5)
        stopped = True
    sup = _pid(s.run / "supervisord.pid")
    if sup:
        children = _children(sup)
        os.kill(sup, signal.SIGTERM)  # supervisor stops its programs (each stopwaitsecs) and exits
        left = _wait_gone([sup, *children], 90)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        stopped = True
    return stopped


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def worker_pid(s: Settings, n: int) -> int:
    if not 1 <= n <= s.workers:
        raise StackError(f"there is no web worker {n} (1 to {s.workers})")
    res = supervisorctl(s, "pid", f"web:web-{n}")
    try:
        pid = int(res.stdout.strip())
    except ValueError:
        raise StackError(f"web-{n} is not running: {res.stdout.strip() or res.stderr.strip()}") from None
    if pid <= 0:
        raise StackError(f"web-{n} is not running")
    return pid


def main(argv: list[str]) -> int:
    usage = "usage: bash deploy/run up | down | status | kill-worker N"
    if not argv or argv[0] not in {"up", "down", "status", "kill-worker"}:
        print(usage, file=sys.stderr)
        return 2
    try:
        s = settings_from_env()
        if argv[0] == "up":
            up(s)
            return 0
        s = settings_of_running(s)
        if argv[0] == "down":
            print("==> stopped" if down(s) else "==> nothing was running", flush=True)
        elif argv[0] == "status":
            if not _pid(s.run / "supervisord.pid"):
                print("down")
                return 3
            print(supervisorctl(s, "status").stdout, end="")
            state = readiness(s)
            print(json.dumps({k: v[0] for k, v in state.items()}))
            waiting = {k: v[1].get("reasons") or v[1] for k, v in state.items() if v[0] != 200}
            if waiting:  # what each one not ready says is wrong (database, migrations, channel layer)
                print("not ready: " + json.dumps(waiting))
            return 0 if not waiting else 1
        else:
            if len(argv) != 2 or not argv[1].isdigit():
                print(usage, file=sys.stderr)
                return 2
            pid = worker_pid(s, int(argv[1]))
            os.kill(pid, signal.SIGKILL)
            print(json.dumps({"killed": f"web-{argv[1]}", "pid": pid, "at": time.time()}), flush=True)
    except StackError as exc:
        print(f"deploy/run {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
