"""Generated protobuf and gRPC code (``python sdk/protos/generate.py``); not edited by hand."""
