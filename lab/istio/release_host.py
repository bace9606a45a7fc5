"""Istio's release downloads behind the lab internet, at the real URLs:

- ``https://github.com/istio/istio/releases/download/<version>/istio-<version>-linux-amd64.tar.gz`` (and ``.sha256``);
- ``https://storage.googleapis.com/istio-release/releases/<version>/deb/istio-sidecar.deb`` (and ``.sha256``), the
  VM sidecar package (``lab.istio.sidecar.build``).

Simplified: github.com answers a release download with a redirect to objects.githubusercontent.com; the lab serves
the file directly (clients follow redirects either way). Only the versions the lab built exist; any other path is a
404, as for a version Istio never published.
"""

import http.server
import os
import posixpath
import shutil

from lab.istio import release
from lab.istio.sidecar import build as sidecar_build
from lab.internet.tls import TLSServer

GITHUB = 'github.com'
GCS = 'storage.googleapis.com'
DOWNLOAD_PREFIX = '/istio/istio/releases/download/'
DEB_PREFIX = '/istio-release/releases/'
# Per host: the path prefix, and the layout below it as (number of parts, the parts that are fixed words).
_ROUTES = {
    GITHUB: (DOWNLOAD_PREFIX, 2, {}),                       # <version>/<file>
    GCS: (DEB_PREFIX, 3, {1: 'deb'}),                       # <version>/deb/<file>
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass    # the lab log records what the proxy refuses; downloads need no access log

    def _not_found(self):
        body = b'Not Found'
        self.send_response(404)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _file(self):
        """The file a request names under the release tree, or None (also for any path that climbs out)."""
        host = (self.headers.get('Host') or '').rsplit(':', 1)[0].lower()
        if host not in _ROUTES:
            return None
        prefix, depth, fixed = _ROUTES[host]
        path = self.path.split('?', 1)[0]
        if not path.startswith(prefix):
            return None
        parts = posixpath.normpath(path[len(prefix):]).split('/')
        if len(parts) != depth or any(part in ('', '.', '..') for part in parts):
            return None
        if any(parts[index] != word for index, word in fixed.items()):
            return None
        candidate = os.path.join(self.server.release_root, *parts)
        return candidate if os.path.isfile(candidate) else None

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self._file()
        if path is None:
            self._not_found()
            return
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(os.path.getsize(path)))
        self.end_headers()
        if self.command != 'HEAD':
            with open(path, 'rb') as handle:
                shutil.copyfileobj(handle, self.wfile)

    do_HEAD = do_GET


class ReleaseHost:
    """Istio's release downloads (github.com) and VM packages (storage.googleapis.com) for ``versions``, built
    into ``directory`` (``<version>/<archive>``, ``<version>/deb/istio-sidecar.deb``)."""

    def __init__(self, ca, directory, versions=(release.RELEASE,)):
        release.build_tree(directory, versions)
        for version in versions:
            sidecar_build.build(os.path.join(directory, version, 'deb'), version)
        self.versions = list(versions)
        self.tls = TLSServer(ca, 'istio-releases', [GITHUB, GCS], _Handler)
        self.tls.httpd.release_root = directory

    def register(self, registry):
        self.tls.register(registry)

    def start(self):
        self.tls.start()
        return self

    def stop(self):
        self.tls.stop()
