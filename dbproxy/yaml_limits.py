"""A bound on what YAML anchors and aliases may make a configuration cost before it is even validated.

An alias (``*a``) stands for the whole node its anchor (``&a``) names, so a few lines of nested aliases
describe billions of nodes ("billion laughs"): PyYAML builds them all, in time and memory. The events of the
text are read first, counting how many nodes each anchor stands for, and a text that would grow beyond a
budget is refused at the alias that crosses it, before anything is composed or constructed.
"""

from __future__ import annotations

import yaml

# nodes a configuration may expand to; real configurations have hundreds to a few thousand
MAX_EXPANDED_NODES = 100_000


def check_expansion(text: str, source: str, limit: int = MAX_EXPANDED_NODES) -> str | None:
    """A problem (``file:line: ...``) when ``text`` expands to more than ``limit`` nodes, else None; YAML
    syntax errors are left to the caller's parser."""
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for
    stack: list[list[object]] = []  # open collections: [anchor, nodes so far]
    total = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                stack.append([event.anchor, 1])
                continue
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                anchor, size = stack.pop()
                if isinstance(anchor, str):
                    sizes[anchor] = int(size)  # type: ignore[call-overload]
                add = int(size)  # type: ignore[call-overload]
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = 1
                add = 1
            elif isinstance(event, yaml.AliasEvent):
                add = sizes.get(event.anchor or "", 1)
            else:
                continue
            if stack:
                stack[-1][1] = int(stack[-1][1]) + add  # type: ignore[call-overload]
            else:
                total += add
            if total > limit or (stack and int(stack[-1][1]) > limit):  # type: ignore[call-overload]
                line = event.start_mark.line + 1 if event.start_mark is not None else 1
                return (
                    f"{source}:{line}: YAML anchors and aliases expand this file beyond {limit} nodes; "
                    "write the values out (a configuration needs few or no aliases)"
                )
    except yaml.YAMLError:
        return None
    return None
