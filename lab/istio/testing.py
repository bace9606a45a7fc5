"""Serve stand-in Istio releases over loopback HTTP, laid out as the release download site is:
``with serving_releases(tmp, ['1.24.2']) as base_url: ...`` then ``<base_url>/1.24.2/istio-1.24.2-linux-amd64.tar.gz``.
"""

import contextlib
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from lab.istio import release


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the tests read results, not access logs
        pass


@contextlib.contextmanager
def serving_releases(directory, versions, python=None):
    """Build ``versions`` under ``directory`` and serve it on 127.0.0.1 (an ephemeral port); yield the base URL.

    The handle's ``requests`` list records the paths asked for, so a test can tell whether a download happened.
    """
    release.build_tree(str(directory), versions, python)
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            requests.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # shutdown() waits one poll
    thread.start()
    try:
        yield _Served('http://127.0.0.1:%d' % server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()


class _Served(str):
    """The base URL (a str), with the request log attached."""

    def __new__(cls, url, requests):
        served = super().__new__(cls, url)
        served.requests = requests
        return served
