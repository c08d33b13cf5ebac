"""Generated protobuf and gRPC code (``python -m sdk.protos.generate``); not edited by hand."""
