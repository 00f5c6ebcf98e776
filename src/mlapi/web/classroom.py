"""The addresses a class opens, shown on the home page with a QR code each, drawn here (segno, offline).

``make run HOST=0.0.0.0`` serves every network of the machine and tells the app (``MLAPI_LISTEN``);
the home page then lists this machine's addresses on them. Bound to 127.0.0.1 (the default), it
says how to serve a class instead. ``PUBLIC_URL``, when set, is the one address shown.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from functools import cache

import segno
from flask import Flask, current_app

EVERY_INTERFACE = {"0.0.0.0", "::", "[::]"}
PROBE = ("10.255.255.255", 1)  # a UDP "connection" sends nothing: it only picks the outgoing address


@dataclass(frozen=True)
class Address:
    url: str
    qr: str  # an SVG data URI


@dataclass(frozen=True)
class Classroom:
    addresses: tuple[Address, ...]
    local_only: bool  # bound to loopback: nobody else can open it


@cache
def qr_of(url: str) -> str:
    return segno.make(url, error="m").svg_data_uri(scale=5, border=2)


def machine_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback: its name's, and the one it reaches a network by."""
    found = set()
    try:
        found |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(PROBE)
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(address for address in found if not address.startswith("127."))


def classroom() -> Classroom | None:
    """What the home page says about where to open mlapi; None when it was not started by ``make run``."""
    config = current_app.config
    if config["PUBLIC_URL"]:
        url = config["PUBLIC_URL"].rstrip("/") + "/"
        return Classroom((Address(url, qr_of(url)),), local_only=False)
    host, _, port = str(config["LISTEN"]).rpartition(":")
    if not host:
        return None
    if host not in EVERY_INTERFACE:
        return Classroom((), local_only=host.startswith("127.") or host == "localhost")
    urls = [f"http://{address}:{port}/" for address in machine_addresses()]
    return Classroom(tuple(Address(url, qr_of(url)) for url in urls), local_only=False)


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"classroom": classroom})
