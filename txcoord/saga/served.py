"""Is every action of a saga served? What `txc saga register` checks against the registry before storing it.

A name nobody serves is not an error of the definition (the service may simply not be deployed yet), so it
is a warning; ``--strict`` turns warnings into a refusal. A participant publishes the action names it serves
in its registration (``sdk.registry.model.ACTIONS_KEY``); an endpoint that does not (a hand-built server)
is only checked for its service name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sdk.registry.model import ACTIONS_KEY, Endpoint
from sdk.saga import ActionRef, SagaDefinition


def _refs(saga: SagaDefinition) -> list[tuple[str, ActionRef]]:
    refs: list[tuple[str, ActionRef]] = []
    for step in saga.steps:
        refs.append((f"step '{step.id}' action", step.action))
        if step.compensate is not None:
            refs.append((f"step '{step.id}' compensate", step.compensate))
    return refs


def _guess(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unserved(saga: SagaDefinition, endpoints: Iterable[Endpoint]) -> list[str]:
    """One line per action of ``saga`` that no live endpoint serves, naming the step and a close name."""
    services: dict[str, set[str] | None] = {}  # None: some endpoint does not say what it serves
    for endpoint in endpoints:
        listed = endpoint.metadata.get(ACTIONS_KEY)
        known = services.setdefault(endpoint.service, set())
        if listed is None or known is None:
            services[endpoint.service] = None
        else:
            known.update(listed.split(","))
    problems = []
    for where, ref in _refs(saga):
        if ref.service not in services:
            problems.append(f"{where}: no live endpoint serves service {ref.service!r}{_guess(ref.service, services)}")
            continue
        actions = services[ref.service]
        if actions is not None and ref.action not in actions:
            problems.append(
                f"{where}: service {ref.service!r} has no action {ref.action!r}{_guess(ref.action, actions)}"
            )
    return problems
