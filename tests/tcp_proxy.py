"""A small TCP proxy on 127.0.0.1 that a test can kill (connections reset, new ones refused) or stall."""
from __future__ import annotations

import socket
import threading

from tests.servers import free_port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`kill`, :meth:`stall` and :meth:`restore` it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.flowing = threading.Event()
        self.flowing.set()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.listen()

    def listen(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.settimeout(0.2)
        self.listener = listener
        threading.Thread(target=self.accept, args=(listener,), daemon=True).start()

    def accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self.connect, args=(client,), daemon=True).start()

    def connect(self, client: socket.socket) -> None:
        self.flowing.wait()  # a stalled proxy accepts and then says nothing
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self.lock:
            self.open += [client, server]
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def kill(self) -> None:
        """Reset every connection and refuse new ones, as a database that went away."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            sockets, self.open = self.open, []
        for end in sockets:
            try:  # shutdown first: it wakes the pump blocked on the socket, which close alone would not
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def stall(self) -> None:
        """Keep every connection open and accept new ones, but forward nothing: a dead link."""
        self.flowing.clear()

    def restore(self) -> None:
        self.flowing.set()
        if self.listener is None:
            self.listen()

    def close(self) -> None:
        self.restore()
        self.kill()
