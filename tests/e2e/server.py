"""Start the real ASGI app under daphne on a scratch database, for browser tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PACK = ROOT / "content" / "fixtures" / "demo_course.json"
STUDENT = ("demo-student", "learn-fractions-1")
COURSE_TITLE = "From fractions to linear equations"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def restart(self, timeout: float = 30.0) -> None:
        """A new server process on the same port and database (after the old one was killed)."""
        self.process = _daphne(self.env, int(self.url.rsplit(":", 1)[1]), self.log_path)
        _wait_ready(self, timeout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.workdir.cleanup()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(var_dir: Path, llm: str = "scripted") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "TUTOR_LLM": llm,
            "TUTOR_VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'e2e.sqlite3'}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def server_start(timeout: float = 30.0, llm: str = "scripted", *, env_extra: dict[str, str] | None = None,
                 commands: tuple[list[str], ...] = ()) -> Server:
    """Migrate a scratch SQLite database, load the demo course (and run ``commands``, manage.py argument
    lists) and serve it with daphne."""
    workdir = tempfile.TemporaryDirectory(prefix="tutor-e2e-")
    var_dir = Path(workdir.name)
    env = {**server_env(var_dir, llm), **(env_extra or {})}
    # A model converted once is reused (a fresh conversion takes ~25 s).
    env["TUTOR_MODEL_CACHE"] = os.environ.get("TUTOR_MODEL_CACHE", str(ROOT / "var" / "model-cache"))
    for args in (["migrate", "--noinput", "-v", "0"], ["setup_demo"], *commands):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    log_path = var_dir / "daphne.log"
    server = Server(f"http://127.0.0.1:{port}", _daphne(env, port, log_path), workdir, log_path, env)
    _wait_ready(server, timeout)
    return server


def _daphne(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.e2e.asgi_static:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(server.url + "/accounts/login/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            out = server.log()
            server.stop()
            raise RuntimeError(f"daphne did not start:\n{out}")
        time.sleep(0.1)


def first_item() -> dict[str, str]:
    """The demo course's first item: its title, first step's answer, and a wrong answer."""
    data = json.loads(DEMO_PACK.read_text(encoding="utf-8"))
    item = data["items"][0]
    step = item["steps"][0]
    wrong = next((m["pattern"] for m in step.get("misconceptions", []) if m.get("pattern_kind") == "answer"), "0")
    kc_slug = item["kcs"][0]
    kc_name = next(k["name"] for k in data["kcs"] if k["slug"] == kc_slug)
    return {"title": item["title"], "answer": step["answer"]["value"], "wrong": wrong, "kc_name": kc_name}


# Records, in the page, when the next tutor reply shows its first text: the form's submit event
# stamps t0, a MutationObserver on the transcript stamps t1 at the first new tutor text; ``streamed``
# says it was a token in the still-pending bubble rather than the final reply.
TIMING_JS = """
() => {
  const form = document.getElementById('chat-form');
  const transcript = document.getElementById('transcript');
  window.__timing = {t0: null, t1: null, streamed: null};
  let known = new Set();
  form.addEventListener('submit', () => {
    known = new Set([...document.querySelectorAll('.turn-tutor')].map(e => e.id));
    window.__timing = {t0: performance.now(), t1: null, streamed: null};
  }, true);
  new MutationObserver(() => {
    const t = window.__timing;
    if (t.t0 === null || t.t1 !== null) return;
    for (const el of document.querySelectorAll('.turn-tutor')) {
      if (!known.has(el.id)) {
        const text = el.querySelector('.text');
        if (text && text.textContent.trim()) {
          t.t1 = performance.now(); t.streamed = el.classList.contains('pending'); return;
        }
      }
    }
  }).observe(transcript, {childList: true, subtree: true, characterData: true});
}
"""


def sign_up(page: Any, username: str, password: str = "a-long-student-pass-42") -> None:
    """Sign up as a new student in the browser and land on the front door."""
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")
