"""gunicorn's gthread worker with a read deadline per request, and its own errors as problem+json.

gthread serves each worker's connections from a pool of threads, so a client that sends its
body slowly holds one thread, not the whole worker. On top of that, each request must arrive
(request line, headers and body) within ``READ_TIMEOUT`` seconds (``MLAPI_READ_TIMEOUT``,
default 10) from when a thread starts reading it, once its first bytes are there; a connection
that has sent nothing yet waits in the worker's poller, not in a thread. A client that stalls
or trickles is dropped at its deadline: inside the app werkzeug reports the timeout as
``ClientDisconnected``, which mlapi answers 408 (:mod:`mlapi.errors`); while gunicorn still
reads the headers, the connection just closes.

The answers gunicorn writes itself (400 for a bad request line, 414, 431, 501...) are RFC 9457
problem details, like every other API error.
"""
from __future__ import annotations

import errno
import json
import os
import time
from http import HTTPStatus

from gunicorn.http.errors import NoMoreData
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers import gthread

READ_TIMEOUT = float(os.environ.get("MLAPI_READ_TIMEOUT", "10"))  # seconds
FIRST_BYTES_WAIT = 0.1  # seconds a thread waits for a new connection's first bytes before handing it to the poller


class ReadTimeout(NoMoreData, TimeoutError):
    """The request did not arrive by its deadline.

    To gunicorn a NoMoreData (the client is gone: close quietly); to werkzeug and to gunicorn's
    drain of an unread body, a timeout.
    """

    def __str__(self) -> str:
        return f"the request did not arrive within {READ_TIMEOUT:g} s"


class DeadlineReader(SocketUnreader):
    """Reads a connection's socket, no read waiting past the deadline of the request being read."""

    def __init__(self, conn: TimedConn, buffered) -> None:
        super().__init__(conn.sock)
        self.conn = conn
        self.buf = buffered  # bytes already read ahead, if any

    def chunk(self, size_hint=None) -> bytes:
        left = self.conn.deadline - time.monotonic()
        saved = self.sock.gettimeout()
        if left <= 0:
            self.conn.timed_out = True
            raise ReadTimeout()
        self.sock.settimeout(left if saved is None else min(left, saved))
        try:
            return super().chunk(size_hint)
        except TimeoutError:
            self.conn.timed_out = True
            raise ReadTimeout() from None
        finally:
            self.sock.settimeout(saved)


class TimedConn(gthread.TConn):
    """A connection whose every request must arrive within READ_TIMEOUT once a thread starts reading it."""

    deadline = float("inf")
    timed_out = False

    def wait_for_data(self, timeout: float) -> bool:
        """Hand a silent new connection to the poller at once, rather than keep a thread waiting on it."""
        return super().wait_for_data(min(timeout, FIRST_BYTES_WAIT))

    def init(self) -> None:
        """Called as each request starts, just after the socket was set blocking (which clears its timeout)."""
        super().init()
        if self.is_http2:
            return
        if type(self.parser.unreader) is SocketUnreader:
            self.parser.unreader = DeadlineReader(self, self.parser.unreader.buf)
        self.deadline = time.monotonic() + READ_TIMEOUT
        self.sock.settimeout(READ_TIMEOUT)  # bounds each write of the answer too

    def close(self, graceful: bool = False) -> None:
        """Close at once after a timeout: the graceful close drains what the client still sends for up
        to 2 s, on the worker's main thread, which a trickling client would hold meanwhile."""
        super().close(graceful and not self.timed_out)


class ThreadWorker(gthread.ThreadWorker):
    """gthread whose connections are :class:`TimedConn` and whose own error answers are problem+json."""

    def accept(self, listener) -> None:
        """gthread's accept, making a :class:`TimedConn`."""
        try:
            sock, client = listener.accept()
            self.nr_conns += 1
            sock.setblocking(True)
            self.enqueue_req(TimedConn(self.cfg, sock, client, listener.getsockname()))
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle_error(self, req, client, addr, exc) -> None:
        """gunicorn chooses the status, logs and counts the error; the answer is problem+json."""
        super().handle_error(req, ProblemSocket(client, exc), addr, exc)


class ProblemSocket:
    """The client's socket, but the HTML error page gunicorn writes to it goes out as problem details."""

    def __init__(self, sock, error: Exception) -> None:
        self.sock = sock
        self.error = error

    def __getattr__(self, name: str):
        return getattr(self.sock, name)

    def sendall(self, page: bytes) -> None:
        status = int(page.split(b" ", 2)[1])  # b"HTTP/1.1 414 URI Too Long\r\n..."
        detail = str(self.error) if status < 500 else "The server could not handle the request."
        self.sock.sendall(problem_answer(status, detail))


def problem_answer(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 answer whose body is problem details, as :func:`mlapi.errors.problem` writes them."""
    title = HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "code": HTTPStatus(status).name.lower(),
                       "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body
