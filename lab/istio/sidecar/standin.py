"""The stand-in ``istio-sidecar.deb``: Istio's paths, with the lab's Python ``pilot-agent`` (``agent/``) and the lab's
own copies of the packaging files (``package/``). Goes away, with ``agent/`` and ``package/``, once the real
package (``real``) is the default.

``pilot-agent`` is the lab's agent for the VM's python3: its code, the generated istiod stubs and the vendored
grpcio/protobuf/PyYAML live in ``/usr/local/lib/pilot-agent`` (the real agent is one Go binary). ``envoy`` is the
real Envoy (``debpkg.envoy_binary``).
"""

import os

from lab import vm_wheels
from lab.istio.proto import stubs
from lab.istio.sidecar import debpkg
from lab.istio.sidecar.debpkg import put

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_DIR = os.path.join(HERE, 'agent')
PACKAGE_DIR = os.path.join(HERE, 'package')
AGENT_LIB = 'usr/local/lib/pilot-agent'
# What the agent imports besides the stdlib, with grpcio's own requirement.
VENDORED = ('grpcio', 'protobuf', 'PyYAML', 'typing-extensions')
_CONTROL = '''Package: istio-sidecar
Version: {version}
Architecture: amd64
Maintainer: meshbridge lab <lab@meshbridge.invalid>
Depends: python3 (>= 3.11~), python3 (<< 3.12), openssl, iptables
Section: net
Priority: optional
Installed-Size: {size_kib}
Homepage: https://istio.io/
Description: Istio sidecar for VMs (meshbridge lab stand-in)
 Envoy, the lab's pilot-agent and istio-start.sh with the istio.service unit: on start, inbound traffic capture,
 a workload certificate from istiod, the xDS session and readiness on :15021/healthz/ready.
'''


def _agent_modules():
    """(path under the agent's lib directory, source path) of the agent's code and the mesh client it calls."""
    modules = [('lab/istio/mesh_client.py', os.path.join(os.path.dirname(HERE), 'mesh_client.py'))]
    modules += [('lab/istio/sidecar/agent/' + name, os.path.join(AGENT_DIR, name))
                for name in sorted(os.listdir(AGENT_DIR)) if name.endswith('.py')]
    return modules


def _protos():
    found = []
    for directory, _subdirs, files in os.walk(stubs.PROTOS):
        found += [os.path.join(directory, name) for name in files if name.endswith('.proto')]
    return sorted(found)


def cache_key(version, envoy):
    """A digest of everything that goes into the package: sources, protos, package files, wheels, Envoy."""
    inputs = [path for _name, path in _agent_modules()] + _protos()
    inputs += [os.path.join(PACKAGE_DIR, name) for name in sorted(os.listdir(PACKAGE_DIR))]
    inputs += [os.path.abspath(__file__), debpkg.__file__, stubs.__file__, envoy]
    return debpkg.digest(['stand-in', version] + vm_wheels.pins(VENDORED),
                         [(os.path.relpath(path, HERE), path) for path in inputs])


def _stage(root, version, envoy, wheelhouse):
    put(root, 'usr/local/bin/envoy', source=envoy, mode=0o755)
    with open(os.path.join(PACKAGE_DIR, 'pilot-agent.py'), encoding='utf-8') as launcher:
        put(root, 'usr/local/bin/pilot-agent', text='#!/usr/bin/python3 -IB\n' + launcher.read(), mode=0o755)
    put(root, 'usr/local/bin/istio-start.sh', source=os.path.join(PACKAGE_DIR, 'istio-start.sh'), mode=0o755)
    put(root, 'lib/systemd/system/istio.service', source=os.path.join(PACKAGE_DIR, 'istio.service'))
    for name in ('sidecar.env', 'envoy_bootstrap_tmpl.json'):
        put(root, 'var/lib/istio/envoy/' + name, source=os.path.join(PACKAGE_DIR, name))

    lib = os.path.join(root, AGENT_LIB)
    for name, path in _agent_modules():
        put(lib, name, source=path)
    for package in ('lab', 'lab/istio', 'lab/istio/sidecar'):
        put(lib, package + '/__init__.py', text='')
    stubs.generate(os.path.join(lib, 'stubs'))
    vm_wheels.vendor(os.path.join(lib, 'vendor'), VENDORED, wheelhouse)

    debian = os.path.join(root, 'DEBIAN')
    size_kib = debpkg.installed_size_kib(root)
    put(debian, 'control', text=_CONTROL.format(version=version, size_kib=size_kib))
    put(debian, 'postinst', source=os.path.join(PACKAGE_DIR, 'postinst'), mode=0o755)


def build(output_dir, version, wheelhouse=vm_wheels.DEFAULT_WHEELHOUSE, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    envoy = debpkg.envoy_binary()
    return debpkg.build_cached(output_dir, version, cache_key(version, envoy),
                               lambda root: _stage(root, version, envoy, wheelhouse), cache_dir)
