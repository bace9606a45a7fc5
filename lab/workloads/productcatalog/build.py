"""Package productcatalogservice as a tarball a Debian 12 VM with nothing but python3 can run.

    python -m lab.workloads.productcatalog.build --output DIR [--catalog FILE] [--version V] [--wheelhouse DIR]

The VM has no grpcio or protobuf, and grpcio is not pure Python, so the artifact vendors binary wheels built for
the VM's interpreter (``lab.vm_wheels``).

Layout (extract into the install directory, e.g. /opt/productcatalogservice):
    bin/productcatalogservice   entry point (``launcher.py`` with a shebang)
    app/                        server.py, generated stubs, products.json
    vendor/                     grpcio, protobuf, typing-extensions for cp311 manylinux x86_64
    ARTIFACT.json               name, version and the vendored versions, for whoever inspects an install

The tarball is reproducible (fixed timestamps and owners, sorted members): rebuilding from the same inputs gives
the same bytes, so redeploying an unchanged build changes nothing on the VM. The systemd unit is not part of the
artifact: the vm_workload role writes it, because port, environment and user belong to the deployment.
"""

import argparse
import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile

from lab import vm_wheels
from lab.workloads.productcatalog import stubs

NAME = 'productcatalogservice'
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CATALOG = os.path.join(HERE, 'products.json')
# What server.py imports at run time, with grpcio's own requirement.
VENDORED = ('grpcio', 'protobuf', 'typing-extensions')

# Every member gets this timestamp (2023-11-14) so the tarball does not change between identical builds.
MTIME = 1700000000


def _stage(staging, catalog, version, wheelhouse):
    app = os.path.join(staging, 'app')
    stubs.generate(app)
    shutil.copyfile(os.path.join(HERE, 'server.py'), os.path.join(app, 'server.py'))
    shutil.copyfile(catalog, os.path.join(app, 'products.json'))
    os.makedirs(os.path.join(staging, 'bin'))
    with open(os.path.join(HERE, 'launcher.py'), encoding='utf-8') as source:
        launcher = '#!/usr/bin/python3 -I\n' + source.read()
    with open(os.path.join(staging, 'bin', NAME), 'w', encoding='utf-8') as entry:
        entry.write(launcher)
    pins = vm_wheels.vendor(os.path.join(staging, 'vendor'), VENDORED, wheelhouse)
    manifest = {'name': NAME, 'version': version, 'python': vm_wheels.TARGET_TAG, 'vendored': pins}
    with open(os.path.join(staging, 'ARTIFACT.json'), 'w', encoding='utf-8') as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write('\n')


def _normalised(info):
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    # pip leaves its own modes; only directories, the entry point and native extensions need the x bit.
    executable = info.isdir() or info.name.startswith('bin/') or info.name.endswith('.so')
    info.mode = 0o755 if executable else 0o644
    return info


def _write_tarball(staging, path):
    members = []
    for directory, subdirs, files in os.walk(staging):
        subdirs[:] = sorted(name for name in subdirs if name != '__pycache__')
        members += [os.path.join(directory, name) for name in subdirs + sorted(files)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.GNU_FORMAT) as tar:
        for member in sorted(members):
            tar.add(member, arcname=os.path.relpath(member, staging), recursive=False, filter=_normalised)
    with open(path, 'wb') as raw, gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as compressed:
        compressed.write(buffer.getvalue())


def build(output_dir, catalog=DEFAULT_CATALOG, version='0.1.0', wheelhouse=vm_wheels.DEFAULT_WHEELHOUSE):
    """Build ``<output_dir>/productcatalogservice-<version>.tar.gz``; returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    os.makedirs(wheelhouse, exist_ok=True)
    path = os.path.join(output_dir, '%s-%s.tar.gz' % (NAME, version))
    with tempfile.TemporaryDirectory(prefix='productcatalog-build-') as staging:
        _stage(staging, catalog, version, wheelhouse)
        _write_tarball(staging, path)
    return path


def main():
    """Command line: build the artifact and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--output', required=True, help='directory for the tarball')
    parser.add_argument('--catalog', default=DEFAULT_CATALOG, help='products JSON to ship (default: the lab catalog)')
    parser.add_argument('--version', default='0.1.0')
    parser.add_argument('--wheelhouse', default=vm_wheels.DEFAULT_WHEELHOUSE, help='cache of the wheels vendored for the VM')
    args = parser.parse_args()
    print(build(args.output, args.catalog, args.version, args.wheelhouse))


if __name__ == '__main__':
    main()
