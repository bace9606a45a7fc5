"""Python stubs from .proto files with grpc_tools.protoc, for the lab's gRPC stand-ins and their VM artifacts.

Generated code is never committed: it must match the protobuf and grpcio that run it.
"""

import os

from grpc_tools import protoc


def compile_protos(proto_dir, proto_files, out_dir):
    """Write ``<name>_pb2.py`` and ``<name>_pb2_grpc.py`` for each of ``proto_files`` (relative to ``proto_dir``,
    dependencies first) into ``out_dir``; returns the paths of every .py file under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    # protoc needs its bundled well-known types (struct, any) on the include path, as the grpc_tools command adds.
    well_known = os.path.join(os.path.dirname(protoc.__file__), '_proto')
    for name in proto_files:
        status = protoc.main(['grpc_tools.protoc', '-I' + proto_dir, '-I' + well_known,
                              '--python_out=' + out_dir, '--grpc_python_out=' + out_dir, os.path.join(proto_dir, name)])
        if status != 0:
            raise RuntimeError('protoc failed (exit %d) on %s' % (status, name))
    found = []
    for directory, _subdirs, files in os.walk(out_dir):
        found += [os.path.join(directory, name) for name in files if name.endswith('.py')]
    return sorted(found)
