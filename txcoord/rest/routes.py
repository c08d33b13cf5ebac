"""The REST API's routes: each one is a gRPC method of the coordinator's services, called with the same
request message, so both fronts share every handler, validation and authorization rule (the rule of a route
is the rule of its method in ``sdk.rpc.authorization.RULES``)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from sdk._proto import coordinator_pb2, registry_pb2, saga_pb2

COORDINATOR = "txcoord.coordinator.v1.Coordinator"
SAGAS = "txcoord.saga.v1.Sagas"
REGISTRY = "txcoord.registry.v1.Registry"


@dataclass(frozen=True)
class RestRoute:
    http_method: str  # GET / POST / DELETE
    path: str  # Starlette path; {name} parameters are request fields of the same name
    service: str  # the gRPC service's full name
    method: str  # the gRPC method
    request: type[Message]
    reply: type[Message]
    summary: str
    streams: bool = False  # a stream-in/stream-out method, called with one request for one reply

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def path_fields(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


ROUTES: list[RestRoute] = [
    RestRoute(
        "POST",
        "/v1/transactions",
        COORDINATOR,
        "Begin",
        coordinator_pb2.BeginRequest,
        coordinator_pb2.TransactionReply,
        "Begin a global transaction (gid chosen by the caller)",
    ),
    RestRoute(
        "POST",
        "/v1/transactions/{gid}/branches",
        COORDINATOR,
        "RegisterBranch",
        coordinator_pb2.RegisterBranchRequest,
        coordinator_pb2.TransactionReply,
        "Register a branch before its try; the reply's branch_mac goes to the participant's try",
    ),
    RestRoute(
        "POST",
        "/v1/transactions/{gid}/commit",
        COORDINATOR,
        "Commit",
        coordinator_pb2.CommitRequest,
        coordinator_pb2.TransactionReply,
        "Commit with each try's receipt: the coordinator confirms every branch (with a branch key, a TCC branch "
        "without a valid receipt makes it a rollback; the reply says ROLLING_BACK and why)",
    ),
    RestRoute(
        "POST",
        "/v1/transactions/{gid}/rollback",
        COORDINATOR,
        "Rollback",
        coordinator_pb2.RollbackRequest,
        coordinator_pb2.TransactionReply,
        "Roll back: the coordinator cancels every branch",
    ),
    RestRoute(
        "POST",
        "/v1/transactions/{gid}/abort",
        COORDINATOR,
        "Abort",
        coordinator_pb2.QueryRequest,
        coordinator_pb2.TransactionReply,
        "Operators: abort a transaction that has not decided",
    ),
    RestRoute(
        "GET",
        "/v1/transactions/{gid}",
        COORDINATOR,
        "Query",
        coordinator_pb2.QueryRequest,
        coordinator_pb2.TransactionDetail,
        "Show a transaction, its branches and timeline",
    ),
    RestRoute(
        "POST",
        "/v1/sagas/{name}/instances",
        SAGAS,
        "StartSaga",
        saga_pb2.StartSagaRequest,
        saga_pb2.SagaDetail,
        "Start a saga by name (input, idempotency_key; wait for its end with wait)",
    ),
    RestRoute(
        "GET",
        "/v1/saga-instances/{gid}",
        SAGAS,
        "QuerySaga",
        saga_pb2.QuerySagaRequest,
        saga_pb2.SagaDetail,
        "Show a saga instance and its steps",
    ),
    RestRoute(
        "POST",
        "/v1/registry/endpoints",
        REGISTRY,
        "Register",
        registry_pb2.RegisterRequest,
        registry_pb2.RegisterResponse,
        "Register an endpoint (metadata.protocol http: the address is the participant's base URL)",
    ),
    RestRoute(
        "POST",
        "/v1/registry/leases/{lease_id}/keepalive",
        REGISTRY,
        "KeepAlive",
        registry_pb2.KeepAliveRequest,
        registry_pb2.KeepAliveResponse,
        "Keep a lease alive (found false: it expired; register again)",
        streams=True,
    ),
    RestRoute(
        "DELETE",
        "/v1/registry/leases/{lease_id}",
        REGISTRY,
        "Deregister",
        registry_pb2.DeregisterRequest,
        registry_pb2.DeregisterResponse,
        "Deregister an endpoint",
    ),
]
