"""An OpenAI-compatible model server that misbehaves on purpose, run as its own process by the fault tests.

    python tests/faults/misbehaving_model_server.py --mode MODE

Prints ``PORT <n>`` once it listens on 127.0.0.1, then serves until killed. Modes (chat completions; the
model list at /v1/models always answers):

- ``ok``: streams the authored text from the request's grounding markers, word by word (the control);
- ``slow``: the first token comes only after ``--delay`` seconds (later than the first-token deadline);
- ``silent``: accepts the request and never answers;
- ``garbage``: a 200 event stream whose events are not JSON;
- ``wrong-shape``: JSON events that are not chat-completion chunks;
- ``html``: a 200 HTML error page instead of an event stream;
- ``http-500``: an internal server error;
- ``close-mid-stream``: two tokens, then the connection is cut without ``[DONE]``.

Standard library only, so it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "slow", "silent", "garbage", "wrong-shape", "html", "http-500", "close-mid-stream")
GROUNDING = re.compile(r"<authored>(.*?)</authored>", re.S)


def chunk(text: str) -> bytes:
    event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    return f"data: {json.dumps(event)}\n\n".encode()


def authored(payload: dict[str, Any]) -> str:
    for message in reversed(payload.get("messages", [])):
        found = GROUNDING.findall(str(message.get("content", "")))
        if found:
            return str(found[-1])
    return "Let us look at the problem together."


def make_handler(mode: str, delay: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                body = json.dumps({"object": "list", "data": [{"id": "misbehaving", "object": "model"}]})
                self._send(200, body.encode(), "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if mode == "http-500":
                self._send(500, b'{"error": {"message": "internal error"}}', "application/json")
                return
            if mode == "html":
                self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
                return
            if mode == "silent":
                time.sleep(3600)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if mode == "slow":
                time.sleep(delay)
            if mode == "garbage":
                self.wfile.write(b"data: <html>this is not json</html>\n\n" * 3)
                self.wfile.flush()
                return
            if mode == "wrong-shape":
                self.wfile.write(b'data: {"choices": "nothing here", "tokens": [1, 2, 3]}\n\n')
                self.wfile.flush()
                return
            words = re.findall(r"\S+\s*", authored(payload))
            for index, word in enumerate(words[: int(payload.get("max_tokens", 80))]):
                if mode == "close-mid-stream" and index == 2:
                    # Cut the connection the hard way (RST), as a crashed server would.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                self.wfile.write(chunk(word))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--delay", type=float, default=10.0, help="seconds before the first token (slow)")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.mode, args.delay))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
