"""Every public name of ``sdk`` has a docstring, and so has every public method of its public classes (issue 23):
what a user imports is explained where an editor shows it."""

from __future__ import annotations

import importlib
import inspect
import re

import sdk


def _undocumented() -> list[str]:
    missing = []
    for name in sdk.__all__:
        value = getattr(sdk, name)
        if not (inspect.isclass(value) or inspect.isfunction(value) or isinstance(value, sdk.TccAction | sdk.SagaStep)):
            # a type alias: documented by a `#:` comment on the line above its assignment
            source = inspect.getsource(importlib.import_module(sdk._HOME[name]))  # type: ignore[attr-defined]
            if not re.search(rf"^#:.*\n{name} = ", source, re.MULTILINE):
                missing.append(name)
            continue
        own = (value.__doc__ or "").strip() if not inspect.isclass(value) or "__doc__" in vars(value) else ""
        if not own or own.startswith(f"{value.__name__}("):  # a dataclass's generated signature is no docstring
            missing.append(name)
        if not inspect.isclass(value):
            continue
        for attr, member in vars(value).items():
            if attr.startswith("_") or not (callable(member) or isinstance(member, property | classmethod)):
                continue
            if not (inspect.getdoc(getattr(value, attr)) or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


def test_every_public_name_of_sdk_and_its_public_methods_have_a_docstring() -> None:
    assert _undocumented() == []
