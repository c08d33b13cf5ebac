"""A server's TLS files, read again when they change: a renewed certificate (or client CA bundle) is served
from the next connection on, with no restart. gRPC asks before every handshake (``cert_config_fetcher`` of
``grpc.dynamic_ssl_server_credentials``); a change is noticed by the files' modification time and size, and a
certificate and key that do not belong together (one renewed, the other not yet) are not taken: the server keeps
the last good pair and says so once per change."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import threading
from pathlib import Path

import grpc

from sdk.errors import ConfigError

log = logging.getLogger(__name__)

Stamp = tuple[tuple[int, int] | None, ...]


class ServerCertificateFiles:
    """``cert``, ``key`` and, under mutual TLS, the ``ca`` that signs client certificates."""

    def __init__(self, cert: str, key: str, ca: str | None) -> None:
        self.paths = {"--tls-cert": cert, "--tls-key": key, "--tls-ca": ca}
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self.configuration = self._load()  # bad files at start fail the start (ConfigError)

    def _stamp(self) -> Stamp:
        stamps: list[tuple[int, int] | None] = []
        for path in self.paths.values():
            try:
                info = os.stat(path) if path else None
            except OSError:
                info = None
            stamps.append((info.st_mtime_ns, info.st_size) if info is not None else None)
        return tuple(stamps)

    def _load(self) -> grpc.ServerCertificateConfiguration:
        cert, key, ca = (read_pem(self.paths[field], field) for field in ("--tls-cert", "--tls-key", "--tls-ca"))
        assert cert is not None and key is not None
        _check_pair(cert, key)
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def changed(self) -> grpc.ServerCertificateConfiguration | None:
        """The new configuration if the files changed since the last look and make a usable pair, else None
        (gRPC goes on with what it has)."""
        stamp = self._stamp()
        if stamp == self._seen:
            return None
        with self._lock:  # handshakes may ask from several threads at once
            if stamp == self._seen:
                return None
            self._seen = stamp
            try:
                self.configuration = self._load()
            except ConfigError as exc:
                log.warning("TLS files changed but cannot be served (%s); still serving the previous ones", exc)
                return None
            log.info("TLS files changed: serving %s from the next connection on", self.paths["--tls-cert"])
            return self.configuration


def read_pem(path: str | Path | None, field: str) -> bytes | None:
    """The file named by option ``field`` (None when not given); ConfigError naming the option if unreadable."""
    if path is None or str(path) == "":
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {str(path)!r} ({exc.strerror or exc})") from exc


def _check_pair(cert: bytes, key: bytes) -> None:
    """Raise ConfigError unless ``cert`` and ``key`` are PEM and belong together (checked by OpenSSL, from the
    bytes read: the files may change again meanwhile)."""
    with tempfile.TemporaryDirectory(prefix="txc-tls-") as directory:
        cert_path, key_path = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_path.write_bytes(cert)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"--tls-cert/--tls-key: not a certificate and its key ({exc})") from exc
