"""Files mypy reads in tests/unit/sdk/test_typed_calls.py (never run: they only need to type-check or not)."""
