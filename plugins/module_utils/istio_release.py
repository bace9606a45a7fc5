# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An Istio release's istioctl: downloaded from the release URL, checked against the published SHA-256, cached.

The archive is the one for the machine that runs istioctl: ``istio-<version>-linux-amd64.tar.gz``, ``-linux-arm64``,
``-osx`` (x86_64 macOS) or ``-osx-arm64``; other platforms are refused.

Layout of the cache (``~/.cache/meshbridge.istio_vm/istio`` by default)::

    <cache_dir>/<version>/istioctl           extracted from istio-<version>/bin/istioctl of the archive
    <cache_dir>/<version>/istioctl.sha256    digest of that file, checked on every later use

A cached istioctl whose digest no longer matches is fetched again, so a damaged cache cannot be used silently.
"""

import hashlib
import http.client
import os
import platform
import re
import shutil
import tarfile
import tempfile
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

DEFAULT_RELEASE_URL = 'https://github.com/istio/istio/releases/download'
DEFAULT_CACHE_DIR = '~/.cache/meshbridge.istio_vm/istio'

# Istio tags releases MAJOR.MINOR.PATCH, pre-releases with -alpha.N, -beta.N or -rc.N.
_VERSION = re.compile(r'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(alpha|beta|rc)\.(0|[1-9]\d*))?$')
_CHUNK = 1024 * 1024
# (platform.system(), platform.machine()) -> the archive Istio publishes for it: istio-<version>-<platform>.tar.gz.
# x86_64 macOS has the archive without an architecture (istio-<version>-osx.tar.gz).
_ARCHIVE_PLATFORMS = {
    ('Linux', 'x86_64'): 'linux-amd64', ('Linux', 'amd64'): 'linux-amd64',
    ('Linux', 'aarch64'): 'linux-arm64', ('Linux', 'arm64'): 'linux-arm64',
    ('Darwin', 'x86_64'): 'osx', ('Darwin', 'arm64'): 'osx-arm64',
}
PUBLISHED_PLATFORMS = ('linux-amd64', 'linux-arm64', 'osx', 'osx-arm64')


class ReleaseError(Exception):
    """The release cannot be used; the message names the cause and the fix."""


def validate_version(version):
    """Refuse anything that is not an Istio release version (``1.24.2``, ``1.25.0-rc.1``)."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ReleaseError('version %r is not an Istio release version: give MAJOR.MINOR.PATCH, for example 1.24.2 '
                           '(no leading "v")' % (version,))
    return version


def archive_platform(system=None, machine=None):
    """The platform part of the release archive for ``system``/``machine`` (``platform.system()`` and
    ``platform.machine()`` of the machine that runs istioctl, by default), as Istio's downloadIstio picks it."""
    system = system or platform.system()
    machine = machine or platform.machine()
    try:
        return _ARCHIVE_PLATFORMS[(system, machine)]
    except KeyError:
        raise ReleaseError('Istio publishes no istioctl for %s %s (the machine running istio_install): its release '
                           'archives are %s; set istioctl_path to an istioctl that runs here, or run the module on '
                           'one of those' % (system, machine, ', '.join(PUBLISHED_PLATFORMS))) from None


def archive_name(version, system=None, machine=None):
    return 'istio-%s-%s.tar.gz' % (version, archive_platform(system, machine))


def archive_url(release_url, version, system=None, machine=None):
    return '%s/%s/%s' % (release_url.rstrip('/'), version, archive_name(version, system, machine))


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def parse_checksum(text, name):
    """The digest from a published ``.sha256`` file (``<hex>  <name>``, or the bare hex digest)."""
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if re.fullmatch(r'[0-9a-fA-F]{64}', fields[0]) and (len(fields) == 1 or fields[-1].lstrip('*') == name):
            return fields[0].lower()
    raise ReleaseError('the published checksum file for %s holds no SHA-256 for it: %r' % (name, text[:200]))


class IstioRelease:
    """One version of istioctl, from ``release_url`` through ``cache_dir``."""

    def __init__(self, version, release_url=DEFAULT_RELEASE_URL, cache_dir=DEFAULT_CACHE_DIR, validate_certs=True,
                 timeout=60, system=None, machine=None):
        self.version = validate_version(version)
        self.archive = archive_name(version, system, machine)
        self.url = archive_url(release_url, version, system, machine)
        self.cache_dir = os.path.expanduser(cache_dir)
        self.directory = os.path.join(self.cache_dir, version)
        self.istioctl_path = os.path.join(self.directory, 'istioctl')
        self.validate_certs = validate_certs
        self.timeout = timeout

    def cached(self):
        """True when the cache holds this version's istioctl and it still has the digest recorded for it."""
        recorded = self.istioctl_path + '.sha256'
        if not (os.path.isfile(self.istioctl_path) and os.path.isfile(recorded)):
            return False
        with open(recorded, encoding='utf-8') as handle:
            return handle.read().strip() == file_sha256(self.istioctl_path)

    def istioctl(self):
        """The path of a verified istioctl, downloading the release once.

        Network failures are ReleaseErrors of their own, so an OSError left here is the cache directory's."""
        try:
            if not self.cached():
                self._fetch()
        except OSError as exc:
            raise ReleaseError('cache_dir %s: cannot keep istioctl %s there: %s; set cache_dir to a directory the user '
                               'running the module can write (or fix the permissions of this one)'
                               % (self.cache_dir, self.version, exc)) from None
        return self.istioctl_path

    def _open(self, url):
        try:
            return open_url(url, validate_certs=self.validate_certs, timeout=self.timeout, follow_redirects='all',
                            http_agent='meshbridge.istio_vm')
        except HTTPError as exc:
            if exc.code == 404:
                raise ReleaseError('Istio %s has no release at %s (HTTP 404 for %s): check version against the '
                                   'published releases, or release_url' % (self.version, self.url, url)) from None
            raise ReleaseError('downloading %s failed: HTTP %s %s' % (url, exc.code, exc.reason)) from None
        except (URLError, OSError) as exc:
            raise ReleaseError('cannot download %s: %s; check release_url and the network (proxy, CA bundle)'
                               % (url, getattr(exc, 'reason', exc))) from None

    def _fetch(self):
        published = parse_checksum(self._open(self.url + '.sha256').read().decode('utf-8', 'replace'),
                                   self.archive)
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        work = tempfile.mkdtemp(prefix='.download-', dir=self.directory)
        try:
            archive = os.path.join(work, self.archive)
            response = self._open(self.url)
            with open(archive, 'wb') as handle:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise ReleaseError('downloading %s broke off: %s; retry, or check the network (proxy)'
                                           % (self.url, exc)) from None
                    if not chunk:
                        break
                    handle.write(chunk)
            downloaded = file_sha256(archive)
            if downloaded != published:
                raise ReleaseError('checksum mismatch for %s: the published SHA-256 is %s, the download has %s; '
                                   'refusing to use it (retry, or check release_url)'
                                   % (self.url, published, downloaded))
            extracted = self._extract_istioctl(archive, work)
            os.chmod(extracted, 0o755)
            os.replace(extracted, self.istioctl_path)
            with open(self.istioctl_path + '.sha256', 'w', encoding='utf-8') as handle:
                handle.write(file_sha256(self.istioctl_path) + '\n')
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _extract_istioctl(self, archive, work):
        member_name = 'istio-%s/bin/istioctl' % self.version
        try:
            with tarfile.open(archive, 'r:gz') as tar:
                try:
                    member = tar.getmember(member_name)
                except KeyError:
                    raise ReleaseError('%s has no %s: not an Istio release archive' % (self.url, member_name)) \
                        from None
                if not member.isfile():
                    raise ReleaseError('%s in %s is not a regular file' % (member_name, self.url))
                source = tar.extractfile(member)
                target = os.path.join(work, 'istioctl')
                with open(target, 'wb') as handle:
                    shutil.copyfileobj(source, handle, _CHUNK)
        except tarfile.TarError as exc:
            raise ReleaseError('%s is not a readable tar.gz archive: %s' % (self.url, exc)) from None
        return target
