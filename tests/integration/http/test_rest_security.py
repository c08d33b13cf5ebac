"""TLS and tokens on the REST API exactly as on gRPC: the same identities file, the same rules (the method's row
in the one authorization table) and the same handler checks (a caller's own transaction, a participant's own
services); without a token nothing is registered or aborted."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.coordinator.cluster import TXC, Cluster, tx_state
from tests.integration.coordinator.trust import SecureDeployment
from tests.support import free_port
from tests.support.certs import make_pki


async def test_rest_api_takes_tls_and_tokens_as_grpc_does(cluster: Cluster, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    deployment = SecureDeployment(cluster, pki, tmp_path)
    rest = f"127.0.0.1:{free_port()}"
    deployment.coordinator("--http-listen", rest)
    tokens = deployment.tokens
    endpoint = {"service": "bank-b", "address": "http://127.0.0.1:1/bank-b", "ttl_seconds": 5}
    endpoint["metadata"] = {"protocol": "http"}

    def as_(name: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {tokens[name]}"} if name else {}

    with pytest.raises(httpx.HTTPError):  # TLS only: a plaintext client gets no answer
        async with httpx.AsyncClient(timeout=10) as plain:
            await plain.get(f"http://{rest}/openapi.json")

    verify = ssl.create_default_context(cafile=pki.ca)
    async with httpx.AsyncClient(base_url=f"https://{rest}", verify=verify, timeout=30) as http:

        async def status(method: str, path: str, who: str | None, body: object = None) -> tuple[int, str]:
            reply = await http.request(method, path, json=body if body is not None else {}, headers=as_(who))
            answer = reply.json()
            return reply.status_code, answer.get("code", "") if reply.status_code != 200 else ""

        # without a token: no registration, no abort, no transaction
        assert await status("POST", "/v1/registry/endpoints", None, endpoint) == (401, "UNAUTHENTICATED")
        assert await status("POST", "/v1/transactions/g-1/abort", None) == (401, "UNAUTHENTICATED")
        assert await status("POST", "/v1/transactions", None, {"gid": "g-1"}) == (401, "UNAUTHENTICATED")
        reply = await http.post("/v1/transactions", json={"gid": "g-1"}, headers={"authorization": "Bearer forged"})
        assert reply.status_code == 403 and "not valid" in reply.json()["error"]
        # the wrong role, or another's service: refused by the same rule / handler check as over gRPC
        assert await status("POST", "/v1/registry/endpoints", "shop", endpoint) == (403, "PERMISSION_DENIED")
        assert await status("POST", "/v1/registry/endpoints", "bank-a", endpoint) == (403, "PERMISSION_DENIED")
        assert await status("POST", "/v1/transactions/g-1/abort", "shop") == (403, "PERMISSION_DENIED")
        # the right identities
        registered = await http.post("/v1/registry/endpoints", json=endpoint, headers=as_("bank-b"))
        assert registered.status_code == 200, registered.text
        lease = registered.json()["endpoint"]["lease_id"]
        kept = await http.post(f"/v1/registry/leases/{lease}/keepalive", json={}, headers=as_("bank-b"))
        assert kept.status_code == 200 and kept.json()["found"] is True
        other = await http.post(f"/v1/registry/leases/{lease}/keepalive", json={}, headers=as_("bank-a"))
        assert other.status_code == 200 and other.json()["found"] is False  # another's lease is "not found"
        assert await status("POST", "/v1/transactions", "shop", {"gid": "g-1", "timeout_seconds": 60}) == (200, "")
        # mallory is a caller too, but g-1 is shop's
        assert (await status("POST", "/v1/transactions/g-1/commit", "mallory"))[0] == 403
        assert await status("POST", "/v1/transactions/g-1/abort", "ops") == (200, "")
        assert await status("GET", "/v1/transactions/g-1", None) == (200, "")  # read-only, on a loopback listener
    assert await tx_state(cluster.store, "g-1") in ("ROLLING_BACK", "ROLLED_BACK")


def test_a_non_loopback_http_listener_refuses_to_start_insecure(cluster: Cluster, tmp_path: Path) -> None:
    """As a non-loopback --listen: one line naming --http-listen, exit 2, before anything serves (the store
    here is a real one, so nothing else stops it)."""
    pki = make_pki(tmp_path / "pki")
    base = [TXC, "coordinator", "--listen", f"127.0.0.1:{free_port()}", "--store", cluster.store]
    wild = ["--http-listen", f"0.0.0.0:{free_port()}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    tls = ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca]
    for extra, wanted in [([], "--insecure"), (tls, "--token")]:  # TLS alone: writes would be open to anyone
        done = subprocess.run([*base, *wild, *extra], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip().count("\n") == 0, done.stderr[-2000:]
        assert "--http-listen" in done.stderr and "not a loopback address" in done.stderr, done.stderr
        assert wanted in done.stderr and "Traceback" not in done.stderr, done.stderr
