"""The workload's readiness probe from the mesh config (the WorkloadGroup's ``probe``), as the agent runs it.

Kinds: ``tcpSocket`` (connect), ``httpGet`` (status 200-399), ``exec`` (exit status 0) and ``grpc``, which the lab
checks as a TCP connect to the port (the real agent calls grpc.health.v1; documented in docs/dev/lab.md).
Thresholds as Kubernetes counts them: ``failureThreshold`` failures in a row make the workload unhealthy,
``successThreshold`` successes in a row healthy again.
"""

import http.client
import socket
import subprocess

_DEFAULTS = {'timeoutSeconds': 1, 'periodSeconds': 10, 'successThreshold': 1, 'failureThreshold': 3,
             'initialDelaySeconds': 0}


def _setting(probe, name):
    return probe.get(name) or _DEFAULTS[name]


def _connect(host, port, timeout):
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        return 'cannot connect to %s:%s: %s' % (host, port, error.strerror or error)
    return None


def _http(spec, timeout):
    host, port, path = spec.get('host') or '127.0.0.1', int(spec['port']), spec.get('path') or '/'
    connection_class = http.client.HTTPSConnection if spec.get('scheme', 'HTTP').upper() == 'HTTPS' else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=timeout)
    try:
        headers = {header['name']: header['value'] for header in spec.get('httpHeaders') or []}
        connection.request('GET', path, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return 'GET %s on port %d failed: %s' % (path, port, error)
    finally:
        connection.close()
    return None if 200 <= status < 400 else 'GET %s on port %d answered HTTP %d' % (path, port, status)


def _exec(spec, timeout):
    try:
        done = subprocess.run(spec['command'], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return 'command %s failed: %s' % (spec['command'][0], error)
    return None if done.returncode == 0 else 'command %s exited %d' % (spec['command'][0], done.returncode)


def run_once(probe):
    """None when the workload passes ``probe`` once, else the reason it does not."""
    timeout = _setting(probe, 'timeoutSeconds')
    if 'tcpSocket' in probe:
        return _connect(probe['tcpSocket'].get('host') or '127.0.0.1', probe['tcpSocket']['port'], timeout)
    if 'grpc' in probe:
        return _connect('127.0.0.1', probe['grpc']['port'], timeout)
    if 'httpGet' in probe:
        return _http(probe['httpGet'], timeout)
    if 'exec' in probe:
        return _exec(probe['exec'], timeout)
    return 'probe has none of tcpSocket, httpGet, grpc, exec: %s' % sorted(probe)


class ProbeTracker:
    """Runs the probe on its period and turns results into health transitions."""

    def __init__(self, probe, started_at):
        self.probe = probe
        self.period = _setting(probe, 'periodSeconds')
        self.next_run = started_at + _setting(probe, 'initialDelaySeconds')
        self.healthy = None
        self.message = None
        self._streak = 0        # results in a row that disagree with the current state

    def due(self, now):
        return now >= self.next_run

    def run(self, now):
        """Probe once; returns True when the health state changed (then report it)."""
        self.next_run = now + self.period
        failure = run_once(self.probe)
        passing = failure is None
        if self.healthy is None:
            self.healthy, self.message = passing, failure
            return True
        if passing == self.healthy:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak < _setting(self.probe, 'successThreshold' if passing else 'failureThreshold'):
            return False
        self.healthy, self.message, self._streak = passing, failure, 0
        return True
