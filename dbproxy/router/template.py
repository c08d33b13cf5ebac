"""SQL templates: statement text split at parameter slots, rendered per execution without re-parsing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.protocol.params import ParamValue, sql_literal

PARAM_PREFIX = "__dbp_p"
LIMIT_SLOT = "__dbp_limit__"
_SLOT_RE = re.compile(r"`?(__dbp_p(\d+)__|__dbp_limit__)`?")


@dataclass(frozen=True, slots=True)
class Template:
    """``parts[0] slot[0] parts[1] slot[1] ... parts[-1]``; a slot is a parameter index or a named value."""

    parts: tuple[str, ...]
    slots: tuple[int | str, ...]

    @classmethod
    def literal(cls, sql: str) -> Template:
        return cls((sql,), ())

    @classmethod
    def from_marked(cls, sql: str) -> Template:
        """Split SQL generated from an AST whose parameters are columns named ``__dbp_pN__``."""
        parts: list[str] = []
        slots: list[int | str] = []
        pos = 0
        for m in _SLOT_RE.finditer(sql):
            parts.append(sql[pos : m.start()])
            slots.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
            pos = m.end()
        parts.append(sql[pos:])
        return cls(tuple(parts), tuple(slots))

    def render(self, params: Sequence[ParamValue] = (), named: dict[str, str] | None = None) -> str:
        if not self.slots:
            return self.parts[0]
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            if isinstance(slot, int):
                out.append(sql_literal(params[slot]))
            else:
                out.append((named or {})[slot])
            out.append(part)
        return "".join(out)

    def with_placeholders(self) -> str:
        """The text to prepare on a backend: every parameter slot becomes ``?``."""
        out = [self.parts[0]]
        for part in self.parts[1:]:
            out.append("?")
            out.append(part)
        return "".join(out)
