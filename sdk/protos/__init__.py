"""The .proto sources of txcoord's gRPC services (generated code lives in ``sdk._proto``)."""
