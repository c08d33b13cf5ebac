"""Who is calling: identities with roles, read from a credentials file the servers share.

Each caller, participant, proxy and operator has its own credential: one or more bearer tokens (several, so a
token is rotated without downtime: add the new one, move the client, drop the old one) and/or the names its
mutual-TLS certificate carries. What an identity may do is its roles plus two lists of services::

    # credentials.toml (TXC_CREDENTIALS, or --credentials)
    [identity.shop]                 # a caller: begins transactions that enlist these services
    roles = ["caller"]
    tokens = ["shop-token-1"]
    enlists = ["bank-a", "bank-b"]

    [identity.bank-a]               # a participant: registers itself as these services
    roles = ["participant"]
    tokens = ["bank-a-token"]
    registers = ["bank-a"]
    certificates = ["bank-a.internal"]   # or by its certificate's name, under --tls-client-auth

    [identity.ops]
    roles = ["admin"]
    tokens = ["ops-token"]

Roles: ``caller`` (begin, register branches of the services in ``enlists``, commit, roll back its own
transactions, start sagas), ``participant`` (register in the registry as the services in ``registers``),
``proxy`` (a participant that also begins its own XA transactions and reports them finished), ``admin``
(everything). ``"*"`` in a list means every service.

The file is re-read when it changes (checked at most once a second, on the calls that need it), so adding,
rotating or revoking a credential needs no restart. The single shared ``TXC_TOKEN`` of earlier versions keeps
working: it is the identity ``admin``."""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdk.errors import ConfigError

CREDENTIALS_ENV = "TXC_CREDENTIALS"
LEGACY_ADMIN = "admin"  # the name of the identity the single shared token stands for
_RECHECK_SECONDS = 1.0

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    CALLER = "caller"
    PARTICIPANT = "participant"
    PROXY = "proxy"
    ADMIN = "admin"


ANY_SERVICE = "*"


@dataclass(frozen=True)
class Identity:
    name: str
    roles: frozenset[Role]
    enlists: frozenset[str] = field(default_factory=frozenset)
    registers: frozenset[str] = field(default_factory=frozenset)

    @property
    def admin(self) -> bool:
        return Role.ADMIN in self.roles

    def has_any(self, roles: frozenset[Role]) -> bool:
        return self.admin or not self.roles.isdisjoint(roles)

    def may_enlist(self, service: str) -> bool:
        return self.admin or ANY_SERVICE in self.enlists or service in self.enlists

    def may_register(self, service: str) -> bool:
        return self.admin or ANY_SERVICE in self.registers or service in self.registers


ADMIN_IDENTITY = Identity(LEGACY_ADMIN, frozenset({Role.ADMIN}))


def _digest(token: str) -> bytes:
    # looked up by digest: a dict lookup on the secret itself would compare it byte by byte
    return hashlib.sha256(token.encode()).digest()


def _strings(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return list(value)


@dataclass(frozen=True)
class _Parsed:
    by_token: Mapping[bytes, Identity]
    by_certificate: Mapping[str, Identity]


def parse_credentials(text: str, source: str = "credentials") -> _Parsed:
    """The identities a credentials file describes; ConfigError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    unknown = set(data) - {"identity"}
    if unknown:
        raise ConfigError(f"{source}: unknown section {sorted(unknown)[0]!r}; expected [identity.NAME] tables")
    by_token: dict[bytes, Identity] = {}
    by_certificate: dict[str, Identity] = {}
    for name, spec in (data.get("identity") or {}).items():
        where = f"{source}: identity {name!r}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a table")
        extra = set(spec) - {"roles", "tokens", "certificates", "enlists", "registers"}
        if extra:
            raise ConfigError(f"{where}: unknown key {sorted(extra)[0]!r}")
        try:
            roles = frozenset(Role(r) for r in _strings(f"{where} roles", spec.get("roles")))
        except ValueError as exc:
            raise ConfigError(f"{where}: roles must be among {', '.join(r.value for r in Role)} ({exc})") from exc
        if not roles:
            raise ConfigError(f"{where}: give it at least one role")
        identity = Identity(
            name,
            roles,
            frozenset(_strings(f"{where} enlists", spec.get("enlists"))),
            frozenset(_strings(f"{where} registers", spec.get("registers"))),
        )
        tokens = _strings(f"{where} tokens", spec.get("tokens"))
        certificates = _strings(f"{where} certificates", spec.get("certificates"))
        if not tokens and not certificates:
            raise ConfigError(f"{where}: give it tokens or certificates (it could never be used)")
        for token in tokens:
            if len(token) < 16:
                raise ConfigError(f"{where}: a token must be at least 16 characters")
            if _digest(token) in by_token:
                raise ConfigError(f"{where}: a token is given to two identities")
            by_token[_digest(token)] = identity
        for certificate in certificates:
            if certificate in by_certificate:
                raise ConfigError(f"{where}: certificate name {certificate!r} is given to two identities")
            by_certificate[certificate] = identity
    return _Parsed(by_token, by_certificate)


class Identities:
    """Finds the identity a call's credential stands for. ``path``: the credentials file (re-read when it
    changes); ``legacy_token``: the single shared token, an admin; ``any_certificate``: under mutual TLS without
    a credentials file, a certificate the CA signed is an admin (how earlier versions behaved)."""

    def __init__(
        self, path: str | Path | None = None, legacy_token: str | None = None, *, any_certificate: bool = False
    ) -> None:
        self.path = Path(path) if path else None
        self.any_certificate = any_certificate and self.path is None
        self._legacy = {_digest(legacy_token): ADMIN_IDENTITY} if legacy_token else {}
        self._parsed = _Parsed({}, {})
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        if self.path is not None:
            self._load(first=True)
        # whether any credential is configured: if not, nothing is checked (the loopback demo); read per call
        self.enabled = bool(self.path or self._legacy or self.any_certificate)

    def _load(self, *, first: bool = False) -> None:
        assert self.path is not None
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            parsed = parse_credentials(self.path.read_text(), str(self.path))
        except (OSError, ConfigError) as exc:
            if first:
                raise ConfigError(f"--credentials: {exc}") from exc
            log.error("credentials: %s; keeping the identities read before", exc)
            return
        self._parsed, self._stamp = parsed, stamp
        if not first:
            log.info("credentials: re-read %s (%d tokens)", self.path, len(parsed.by_token))

    def _fresh(self) -> _Parsed:
        if self.path is not None:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + _RECHECK_SECONDS
                self._load()
        return self._parsed

    def internal(self, name: str) -> str:
        """A token (new, random, never written anywhere) for ``name``, a client inside this server's own process
        (the coordinator's client of the registry it hosts): an identity with no role, enough for read-only
        methods and nothing else."""
        token = secrets.token_urlsafe(32)
        self._legacy[_digest(token)] = Identity(name, frozenset())
        return token

    def by_token(self, token: str) -> Identity | None:
        digest = _digest(token)
        return self._fresh().by_token.get(digest) or self._legacy.get(digest)

    def by_certificate(self, names: Iterable[str]) -> Identity | None:
        names = list(names)
        if self.any_certificate and names:
            return Identity(names[0], frozenset({Role.ADMIN}))
        known = self._fresh().by_certificate
        for name in names:
            identity = known.get(name)
            if identity is not None:
                return identity
        return None
