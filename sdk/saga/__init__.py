"""Sagas: the YAML definition language (model, loader with ``file:line:col`` errors, expressions, graph)."""

from sdk.saga.errors import SagaDefinitionError, SagaIssue
from sdk.saga.expressions import EvaluationError, render
from sdk.saga.graph import mermaid
from sdk.saga.input_schema import validate_input
from sdk.saga.loader import load_saga, parse_saga
from sdk.saga.model import ActionRef, RecoveryMode, RetryPolicy, SagaDefinition, Step

__all__ = [
    "ActionRef",
    "EvaluationError",
    "RecoveryMode",
    "RetryPolicy",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaIssue",
    "Step",
    "load_saga",
    "mermaid",
    "parse_saga",
    "render",
    "validate_input",
]
