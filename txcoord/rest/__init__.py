"""The coordinator's REST API (HTTP/JSON, OpenAPI 3): a second front on the gRPC servicers."""

from txcoord.rest.app import RestApi
from txcoord.rest.openapi import openapi_document
from txcoord.rest.server import RestServer

__all__ = ["RestApi", "RestServer", "openapi_document"]
