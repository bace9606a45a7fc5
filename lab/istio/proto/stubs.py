"""Python stubs for the .proto subsets here, generated with grpc_tools.protoc at build (or test) time.

Generated code is not committed, as in lab.workloads.productcatalog: it must match the protobuf and grpcio that
run it. ``generate`` writes the modules a VM bundle ships next to ``mesh_client.py``; ``importable`` makes them
importable in this process (the lab's istiod, tests).
"""

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import threading

from lab.protoc import compile_protos

PROTOS = os.path.dirname(os.path.abspath(__file__))
# Dependencies first: status and Node are imported by the discovery file.
PROTO_FILES = ('google/rpc/status.proto', 'envoy_core.proto', 'envoy_discovery.proto', 'istio_ca.proto')

_lock = threading.Lock()
_generated = {}


def generate(out_dir):
    """Write ``<name>_pb2.py`` (and ``_pb2_grpc.py``) for every .proto into ``out_dir``; returns their paths."""
    return compile_protos(PROTOS, PROTO_FILES, out_dir)


def importable():
    """Generate the stubs once per process into a private directory and append it to ``sys.path``; return it.

    Appended, not prepended: where googleapis-common-protos is installed its ``google.rpc.status_pb2`` (the same
    .proto file name, a superset of the fields) wins, so the two are never both loaded.
    """
    with _lock:
        if 'dir' not in _generated:
            out_dir = tempfile.mkdtemp(prefix='meshbridge-istio-stubs-')
            atexit.register(shutil.rmtree, out_dir, True)
            generate(out_dir)
            sys.path.append(out_dir)
            _generated['dir'] = out_dir
        return _generated['dir']


MODULES = ('istio_ca_pb2', 'istio_ca_pb2_grpc', 'envoy_core_pb2', 'envoy_discovery_pb2', 'envoy_discovery_pb2_grpc')


def load():
    """The generated modules by name (see MODULES), plus ``mesh_client`` which needs them; generated if need be."""
    importable()
    loaded = {name: importlib.import_module(name) for name in MODULES}
    loaded['mesh_client'] = importlib.import_module('lab.istio.mesh_client')
    return loaded
