"""What every fake upstream shares: a threaded HTTP/1.1 server on 127.0.0.1 and its lifecycle.

A fake subclasses :class:`FakeServer` (``start()`` on port 0 returns self, ``.port``/``.url`` after, ``stop()``,
``with fake:``) and names its request handler, a :class:`FakeHandler` that reaches the fake as
``self.server.fake``. The fake itself only speaks its protocol.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, TypeVar

FakeT = TypeVar("FakeT", bound="FakeServer")
SelfT = TypeVar("SelfT", bound="FakeServer")

# An AccessKey a fake accepts, as a test gives it: secret, (secret, security_token), or
# (secret, security_token, expires_at_epoch) for STS keys.
AccessKeyEntry = str | tuple[str, str] | tuple[str, str, float]


def access_key(entry: AccessKeyEntry) -> tuple[str, str | None, float | None]:
    """``(secret, security_token or None, expires_at or None)`` from any :data:`AccessKeyEntry`."""
    if isinstance(entry, str):
        return entry, None, None
    if len(entry) == 2:
        return entry[0], entry[1], None
    return entry[0], entry[1], float(entry[2])


class FakeHTTPServer(ThreadingHTTPServer, Generic[FakeT]):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeT) -> None:
        self.fake = fake
        # A real endpoint accepts a burst of new connections; socketserver's default backlog of 5 drops SYNs
        # under a few parallel clients, and a dropped SYN is a 1 s retransmit: a "connection" failure no
        # upstream has. Read by server_activate(), inside the base __init__.
        self.request_queue_size = fake.request_queue_size
        super().__init__((fake.host, fake.port), fake.handler)


class FakeHandler(BaseHTTPRequestHandler, Generic[FakeT]):
    """Keep-alive HTTP/1.1 (the SDKs' pooled connections expect it; every answer carries Content-Length)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY a kept-alive client waits out
    # Nagle's algorithm against its delayed ACK (~40 ms) on every call.
    disable_nagle_algorithm = True
    timeout = 10  # an idle keep-alive connection's thread ends after this
    server: FakeHTTPServer[FakeT]
    connection_id: int  # 1 for the fake's first connection, 2 for the next, ...

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.fake._connected(self.connection)

    def finish(self) -> None:
        self.server.fake._disconnected(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the client is gone already

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output clean

    def drop_connection(self) -> None:
        """Close without a byte of answer: the client sees a reset / RemoteDisconnected."""
        self.close_connection = True
        _shut(self.connection)


class FakeServer:
    """A fake upstream's server lifecycle: ``start()`` / ``stop()`` / ``with``, ``.port``, ``.url``."""

    handler: ClassVar[type[FakeHandler[Any]]]  # each fake names its own
    request_queue_size: ClassVar[int] = 128
    thread_name = "fake-server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: FakeHTTPServer[Any] | None = None
        self._thread: threading.Thread | None = None
        self._connection_lock = threading.Lock()
        self._open_connections: set[socket.socket] = set()
        self._connections_accepted = 0

    def start(self: SelfT) -> SelfT:
        """Listen (on a free port when ``port`` is 0, recorded in ``.port``) and serve in a daemon thread;
        returns self. A no-op when already started."""
        if self._server is not None:
            return self
        server = FakeHTTPServer(self)
        self._server = server
        self.port = server.server_address[1]
        # A short poll so stop() (and so each test's teardown) returns in milliseconds, not half a second.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open keep-alive connection: a stopped upstream answers nothing.
        The fake's state stays, so ``start()`` serves it again."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._connection_lock:
            connections = list(self._open_connections)
        for connection in connections:
            _shut(connection)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: SelfT) -> SelfT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://<host>:<port>``: the endpoint to give a client."""
        return f"http://{self.host}:{self.port}"

    @property
    def connection_count(self) -> int:
        """How many TCP connections the fake has accepted; keep-alive reuse keeps this at 1."""
        with self._connection_lock:
            return self._connections_accepted

    def _connected(self, connection: socket.socket) -> int:
        """Called by the handler on each new connection; returns its number."""
        with self._connection_lock:
            self._connections_accepted += 1
            self._open_connections.add(connection)
            return self._connections_accepted

    def _disconnected(self, connection: socket.socket) -> None:
        with self._connection_lock:
            self._open_connections.discard(connection)


def _shut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already
