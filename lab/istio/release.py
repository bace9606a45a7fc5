"""The lab's Istio release: ``istio-<version>-linux-amd64.tar.gz`` and its ``.sha256``, laid out as Istio lays
out a release, from the real programs and files:

- ``istio-<version>/bin/istioctl``: the istioctl the lab built from ``istio.io/istio`` (lab/tools/go.mod), with
  the release's version in its version ldflags (hack/build-lab-tools.sh);
- ``manifests/`` (charts and profiles) and ``samples/multicluster/`` (``gen-eastwest-gateway.sh``,
  ``expose-istiod.yaml``, ...), ``LICENSE`` and ``README.md``, from the same module's source;
- ``manifest.yaml`` naming the version, as the release's does.

Only the release the lab built exists (``RELEASE``, lab/tools/istio-release). The archive is cached under
``~/.cache/meshbridge-lab/istio-release/`` by a key over its inputs, since compressing a 100 MB istioctl takes
seconds; the bytes are the same for the same inputs (fixed timestamps and owners).
"""

import gzip
import hashlib
import io
import os
import shutil
import tarfile

import yaml

from lab.kubernetes import binaries
from lab.vms.base_root import default_cache_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, 'lab', 'tools', 'istio-release'), encoding='utf-8') as _handle:
    RELEASE = _handle.read().strip()
MODULE = 'istio.io/istio'
# What a release carries from the module's source, besides bin/istioctl.
_FROM_SOURCE = ('manifests', 'samples/multicluster', 'LICENSE', 'README.md')
_MTIME = 1700000000


def archive_name(version):
    return 'istio-%s-linux-amd64.tar.gz' % version


def _source_files(source):
    """(path in the release, path on disk) of every file taken from the module source, sorted."""
    found = []
    for entry in _FROM_SOURCE:
        path = os.path.join(source, entry)
        if os.path.isfile(path):
            found.append((entry, path))
            continue
        for directory, _dirs, files in os.walk(path):
            for name in files:
                if not name.endswith('.go'):     # the module's embedding code, not part of a release
                    full = os.path.join(directory, name)
                    found.append((os.path.relpath(full, source), full))
    return sorted(found)


def _add(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _MTIME
    tar.addfile(info, io.BytesIO(data))


def _archive(version, istioctl, files):
    top = 'istio-%s' % version
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as tar:
        with open(istioctl, 'rb') as handle:
            _add(tar, top + '/bin/istioctl', handle.read(), 0o755)
        _add(tar, top + '/manifest.yaml', yaml.safe_dump({'version': version}).encode(), 0o644)
        for name, path in files:
            with open(path, 'rb') as handle:
                _add(tar, '%s/%s' % (top, name), handle.read(), 0o755 if name.endswith('.sh') else 0o644)
    return gzip.compress(buffer.getvalue(), compresslevel=1, mtime=_MTIME)


def build(directory, version=RELEASE):
    """Write the archive and ``<archive>.sha256`` (sha256sum format) into ``directory``; return the archive path."""
    if version != RELEASE:
        raise ValueError('the lab has Istio %s only (lab/tools/istio-release), not %s' % (RELEASE, version))
    istioctl = binaries.path('istioctl')
    files = _source_files(binaries.module_source(MODULE))
    key = hashlib.sha256(version.encode())
    with open(istioctl, 'rb') as handle:
        key.update(hashlib.sha256(handle.read()).digest())
    for name, path in files:
        with open(path, 'rb') as handle:
            key.update(name.encode() + b'\0' + hashlib.sha256(handle.read()).digest())
    cached = os.path.join(default_cache_dir(), 'istio-release', key.hexdigest()[:16], archive_name(version))
    if not os.path.exists(cached):
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with open(cached + '.partial', 'wb') as handle:
            handle.write(_archive(version, istioctl, files))
        os.replace(cached + '.partial', cached)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, archive_name(version))
    shutil.copyfile(cached, path)
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    with open(path + '.sha256', 'w', encoding='utf-8') as handle:
        handle.write('%s  %s\n' % (digest.hexdigest(), archive_name(version)))
    return path


def build_tree(root, versions=(RELEASE,)):
    """Lay out releases under ``root`` as the download site does: ``root/<version>/<archive>``."""
    return [build(os.path.join(root, version), version) for version in versions]
