from __future__ import annotations

import dbproxy


def test_public_api_is_pinned() -> None:
    assert dbproxy.__all__ == [
        "AccessDenied",
        "BackendError",
        "BackendUnavailable",
        "Committer",
        "ConfigError",
        "NotSupported",
        "PartialCommit",
        "ProxyConfig",
        "ProxyError",
        "ProxyServer",
        "SequentialCommitter",
        "load_config",
        "parse_config",
    ]


def test_dbproxy_never_imports_the_coordinator() -> None:
    import sys

    import dbproxy.main  # noqa: F401

    assert not any(name == "txcoord" or name.startswith("txcoord.") for name in sys.modules)
