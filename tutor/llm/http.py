"""Every outgoing HTTP call of the LLM layer goes through here, so tests have one seam to patch.

Plain ``http.client``: streaming responses need nothing more, and it keeps the dependency list short.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit


class HTTPError(OSError):
    """A non-2xx answer. ``status`` tells callers whether a retry may help."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class _Canceller:
    """Shuts a socket down as soon as ``cancel`` is set, so a read blocked on a silent server wakes.

    Watching starts before the request is sent: a server that queues the request answers nothing,
    not even its headers, until the reply's first token, and a caller that gives up then must not
    leave the request (and the server's work on it) behind.
    """

    def __init__(self, cancel: threading.Event) -> None:
        self._cancel = cancel
        self._done = threading.Event()
        self._sock: socket.socket | None = None

    def watch(self, sock: socket.socket | None) -> None:
        self._sock = sock
        threading.Thread(target=self._run, daemon=True, name="llm-http-cancel").start()

    def _run(self) -> None:
        while not self._done.is_set():
            if self._cancel.wait(0.05):
                self.shutdown()
                return

    def shutdown(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def done(self) -> None:
        self._done.set()


class StreamingResponse:
    """An open response read line by line. Closing it (or setting ``cancel``) releases the socket."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        canceller: _Canceller | None,
        sock: socket.socket | None,
    ) -> None:
        self._connection = connection
        # Kept here because http.client hands the socket over to the response (connection.sock
        # becomes None) when the server says it will close the connection.
        self._sock = sock
        self._response = response
        self._canceller = canceller
        self.status = response.status

    def iter_lines(self) -> Iterator[str]:
        while True:
            line = self._response.readline()
            if not line:
                return
            yield line.decode("utf-8", errors="replace").rstrip("\r\n")

    def close(self) -> None:
        if self._canceller is not None:
            self._canceller.done()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._response.close()
        self._connection.close()


def _connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return connection, path


def open_stream(
    url: str,
    *,
    payload: object,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    cancel: threading.Event | None = None,
) -> StreamingResponse:
    """POST ``payload`` as JSON and return the open response; raises ``HTTPError`` on non-2xx.

    ``timeout`` bounds the connect and every single read, so a server that goes silent fails.
    """
    connection, path = _connect(url, timeout)
    body = json.dumps(payload).encode("utf-8")
    request_headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **(headers or {})}
    canceller = _Canceller(cancel) if cancel is not None else None
    try:
        connection.connect()
        sock = connection.sock
        if canceller is not None:
            canceller.watch(sock)
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
    except BaseException:
        if canceller is not None:
            canceller.done()
        connection.close()
        raise
    if not 200 <= response.status < 300:
        try:
            text = response.read().decode("utf-8", errors="replace")
        finally:
            if canceller is not None:
                canceller.done()
            connection.close()
        raise HTTPError(response.status, text)
    return StreamingResponse(connection, response, canceller, sock)


def get_json(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> object:
    """GET a JSON document; raises ``HTTPError`` on non-2xx."""
    connection, path = _connect(url, timeout)
    try:
        connection.request("GET", path, headers={"Accept": "application/json", **(headers or {})})
        response = connection.getresponse()
        text = response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise HTTPError(response.status, text)
    return json.loads(text)
