"""Which stand-in answers for which internet host."""

import threading

# The hosts the lab's internet may ever serve. Anything else is refused by the proxy even if a stand-in tried to
# register it: the lab talks to Google's APIs and to the release download hosts, nothing more.
ALLOWED_HOSTS = frozenset([
    'oauth2.googleapis.com',
    'container.googleapis.com',
    'compute.googleapis.com',
    'www.googleapis.com',
    'storage.googleapis.com',
    'github.com',
    'objects.githubusercontent.com',
])


class HostRegistry:
    """Maps ``(hostname, port)`` to the local ``(address, port)`` of the stand-in serving it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._routes = {}

    def add(self, hostname, backend, port=443):
        """Route ``hostname:port`` to ``backend`` (an ``(address, port)`` pair on loopback)."""
        hostname = hostname.lower()
        if hostname not in ALLOWED_HOSTS:
            raise ValueError('%s is not a host of the lab internet; allowed: %s' % (hostname, ', '.join(sorted(ALLOWED_HOSTS))))
        with self._lock:
            self._routes[(hostname, port)] = tuple(backend)

    def remove(self, hostname, port=443):
        with self._lock:
            self._routes.pop((hostname.lower(), port), None)

    def lookup(self, hostname, port):
        """The backend for ``hostname:port``, or None when no stand-in serves it."""
        with self._lock:
            return self._routes.get((hostname.lower(), port))

    def hostnames(self):
        with self._lock:
            return sorted({host for host, _port in self._routes})
