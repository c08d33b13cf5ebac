"""The configuration's YAML may repeat blocks with aliases (the alias budget itself: test_config.py); the new
per-user backend account and buffer settings validate like the rest."""

from __future__ import annotations

import pytest

from dbproxy.config import parse_config
from dbproxy.errors import ConfigError

BASE = """\
users:
  app:
    password: x
    databases: {app: read_only}
    backend_account: ACCOUNT
backends: {ds0: "mysql://root:@127.0.0.1:3306/a0"}
databases: {app: {default_backend: ds0}}
"""


def test_a_few_aliases_are_fine() -> None:
    text = BASE.replace("ACCOUNT", "{user: dbp_app, password: pw}").replace(
        "databases: {app: {default_backend: ds0}}", "x-common: &db {default_backend: ds0}\ndatabases: {app: *db}"
    )
    with pytest.raises(ConfigError, match="x-common"):  # unknown keys are still errors, aliases are not
        parse_config(text)
    config = parse_config(BASE.replace("ACCOUNT", "{user: dbp_app, password: pw}"))
    spec = config.user("app")
    assert spec is not None and spec.backend_account is not None
    assert (spec.backend_account.user, spec.backend_account.host) == ("dbp_app", "%")


@pytest.mark.parametrize("account", ['{user: "dbp app", password: pw}', '{user: dbp, password: pw, host: "a\'b"}'])
def test_a_backend_account_name_that_would_need_quoting_is_refused(account: str) -> None:
    with pytest.raises(ConfigError, match="backend_account"):
        parse_config(BASE.replace("ACCOUNT", account))
