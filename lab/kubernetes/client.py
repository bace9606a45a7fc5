"""The few Kubernetes API calls the lab's own controllers make (the istiod pods' kubelet, the east-west gateway,
service routing), over HTTPS with a bearer token.

Kept small and on requests rather than the `kubernetes` client: the lab reads a handful of paths in poll loops, and
the client's model deserialisation would be most of the cost."""

import time

import requests

_THROTTLED_ATTEMPTS = 10


class KubeError(Exception):
    """The API answered with an error status; ``code`` is the HTTP status, the message the Status message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class KubeApi:
    """JSON requests to ``url`` (``https://host:port``), trusting ``ca_path``, authenticated with ``token``."""

    def __init__(self, url, ca_path, token, timeout=10.0):
        self.url = url
        self.timeout = timeout
        self._ca_path = ca_path
        self._session = requests.Session()
        # The cluster's API is reached directly, never through a proxy or another CA bundle from the environment.
        self._session.trust_env = False
        self._session.headers.update({'Authorization': 'Bearer ' + token, 'User-Agent': 'meshbridge-lab'})

    def _call(self, method, path, body=None, content_type='application/json'):
        headers = {'Content-Type': content_type} if body is not None else {}
        for _attempt in range(_THROTTLED_ATTEMPTS):
            response = self._session.request(method, self.url + path, json=body, headers=headers,
                                             timeout=self.timeout, verify=self._ca_path)
            # 429 with Retry-After: the API server is throttling or a resource's storage is still initialising (a
            # CRD just Established); client-go waits and retries, and so does this.
            if response.status_code != 429:
                break
            time.sleep(min(float(response.headers.get('Retry-After') or 1), 5))
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            raise KubeError(response.status_code, payload.get('message') or response.reason)
        return payload

    def get(self, path):
        """The object at ``path``, or None when the API says 404."""
        try:
            return self._call('GET', path)
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise

    def items(self, path):
        listed = self.get(path)
        return (listed or {}).get('items') or []

    def create(self, path, body):
        return self._call('POST', path, body)

    def replace(self, path, body):
        return self._call('PUT', path, body)

    def patch(self, path, body):
        """A JSON merge patch (RFC 7386), as the kubelet writes a pod's status."""
        return self._call('PATCH', path, body, 'application/merge-patch+json')

    def delete(self, path, preconditions=None):
        body = {'kind': 'DeleteOptions', 'apiVersion': 'v1', 'preconditions': preconditions} if preconditions else None
        try:
            self._call('DELETE', path, body)
        except KubeError as exc:
            if exc.code != 404:
                raise

    def close(self):
        self._session.close()
