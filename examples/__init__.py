"""User code written only against the public ``sdk``: the README's participant and caller, saga definitions and
the trip participant that serves them. Installed as ``txcoord.examples`` (pyproject.toml) so ``txc demo`` and
``txc bench saga`` find the files they run wherever txcoord is installed; the scripts run by path."""
