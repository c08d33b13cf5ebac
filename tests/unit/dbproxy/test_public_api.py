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
    import subprocess
    import sys

    # a fresh interpreter: other tests in this process may have imported txcoord themselves
    code = "import sys, dbproxy.main; print(sorted(m for m in sys.modules if m.split('.')[0] == 'txcoord'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
