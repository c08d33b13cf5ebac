"""Ports for child servers: never the same one twice in a process, and never one the OS may hand an outgoing
connection meanwhile (a test once gave one bank its metrics port and its gRPC port both: the OS returned a
just-released port again)."""

from __future__ import annotations

import socket

from sdk.processes import _ephemeral_low, free_port


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= p < _ephemeral_low() for p in ports)
    for port in ports[:50]:  # free: a server can bind each
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_another_server_listens_on_is_never_handed_out() -> None:
    listening = []
    try:
        for port in range(20000, _ephemeral_low()):  # servers this process did not get from free_port
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            listening.append(sock)
            if len(listening) == 500:  # a twenty-fifth of the range: without the check, about 40 draws would hit
                break
        taken = {s.getsockname()[1] for s in listening}
        assert not taken & {free_port() for _ in range(1000)}
    finally:
        for sock in listening:
            sock.close()
