"""Python stubs for the service's .proto files, generated with grpc_tools.protoc at build time.

Generated code is not committed: it would need its own lint exceptions, and must match the protobuf and grpcio
versions that run it, which are the ones the builder vendors from this same environment.
"""

import importlib
import os
import sys

from lab.protoc import compile_protos

PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'protos')
PROTO_FILES = ('productcatalog.proto', 'health.proto')


def generate(out_dir):
    """Write ``<name>_pb2.py`` and ``<name>_pb2_grpc.py`` for every .proto into ``out_dir``; returns their paths."""
    return compile_protos(PROTOS, PROTO_FILES, out_dir)


def load(out_dir):
    """Generate the stubs into ``out_dir`` and import them, for a client in this process (tests, probes).

    Returns a dict of module name to module. ``out_dir`` stays on ``sys.path``: the generated ``*_pb2_grpc``
    modules import their ``*_pb2`` siblings by top-level name.
    """
    generate(out_dir)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return {name: importlib.import_module(name) for name in
            ('productcatalog_pb2', 'productcatalog_pb2_grpc', 'health_pb2', 'health_pb2_grpc')}
