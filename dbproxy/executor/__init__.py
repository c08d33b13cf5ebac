"""Running plans for a client session: its state, the shared context, the ``Runner`` plans execute against, and
the plans themselves (``plans/``, one class per shape of statement)."""
