"""``pilot-agent proxy``: get the workload certificate, keep the xDS session to istiod, run Envoy, report health.

One loop, retried with capped exponential backoff (1 s .. 30 s) whenever a step fails, so a repaired bundle is
picked up without a restart: read the settings, have istiod sign a fresh CSR, open the xDS session (its first
response carries the inbound mTLS mode), write the Envoy bootstrap and (re)start Envoy. Then, until something
breaks: renew the certificate at half its lifetime (restarting Envoy on it), follow mTLS mode pushes, run the
readiness probe and report changes to istiod. Every failure is logged once, with the reason /healthz/ready gives.
"""

import datetime
import json
import logging
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from lab.istio import mesh_client
from lab.istio.sidecar.agent import bootstrap, identity, probes
from lab.istio.sidecar.agent.settings import Settings, SettingsError

LOG = logging.getLogger('pilot-agent')
ENVOY_ADMIN_READY = 'http://127.0.0.1:15000/ready'
# Istio's default workload certificate lifetime (SECRET_TTL).
CERT_VALIDITY_SECONDS = 24 * 3600
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
TICK_SECONDS = 1.0


class Problem(Exception):
    """Why the proxy is not ready: the message is what the log and /healthz/ready say."""


def instance_ip():
    """The VM's first non-loopback IPv4 address (what ``hostname --all-ip-addresses`` lists first)."""
    listed = subprocess.run(['hostname', '--all-ip-addresses'], capture_output=True, text=True, check=False).stdout
    return next((item for item in listed.split() if ':' not in item), '127.0.0.1')


class Backoff:
    def __init__(self):
        self.delay = BACKOFF_FIRST

    def next(self):
        delay, self.delay = self.delay, min(self.delay * 2, BACKOFF_MAX)
        return delay

    def reset(self):
        self.delay = BACKOFF_FIRST


class Agent:
    """The proxy agent for the files under ``paths`` (``settings.Paths``), running ``envoy_path``."""

    def __init__(self, paths, envoy_path='/usr/local/bin/envoy', pod_name=None, ip=None):
        self.paths = paths
        self.envoy_path = envoy_path
        self.pod_name = pod_name or socket.gethostname().split('.')[0]
        self.ip = ip or instance_ip()
        self.stop_event = threading.Event()
        self.problem = 'starting'
        self.cert = None
        self.session = None
        self.envoy = None
        self._settings = None
        self._mtls_mode = None

    # -- readiness -------------------------------------------------------------------------------------------
    def readiness(self):
        """(ready, reason): the workload certificate is valid, the xDS stream is up and Envoy is ready."""
        if self.problem:
            return False, self.problem
        if self.cert is None or not self.cert.valid():
            return False, 'the workload certificate is not valid (expired or not yet valid)'
        if self.session is None or self.session.broken.is_set():
            return False, 'the xDS stream to istiod is down'
        try:
            with urllib.request.urlopen(ENVOY_ADMIN_READY, timeout=2) as answer:
                if answer.status == 200:
                    return True, None
        except (urllib.error.URLError, OSError) as error:
            return False, 'envoy is not ready: %s' % error
        return False, 'envoy is not ready'

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self):
        backoff = Backoff()
        while not self.stop_event.is_set():
            try:
                self._connect()
                backoff.reset()
                self._supervise()
            except Problem as problem:
                self._fail(str(problem))
            finally:
                self._close_session()
            self.stop_event.wait(backoff.next())
        self._stop_envoy()

    def stop(self):
        self.stop_event.set()

    def _fail(self, reason):
        if reason != self.problem:
            LOG.error('not ready: %s', reason)
        self.problem = reason

    def _connect(self):
        try:
            settings = Settings.load(self.paths)
        except SettingsError as error:
            raise Problem(str(error)) from None
        self.cert = self._issue(settings)
        node_id = settings.node_id(self.ip, self.pod_name)
        metadata = settings.node_metadata(self.ip, self.pod_name)
        self.session = mesh_client.XdsSession(settings.discovery_address, None, settings.root_pem,
                                              ''.join(self.cert.chain), self.cert.key_pem, node_id, metadata)
        try:
            policy = self.session.start()
        except mesh_client.MeshClientError as error:
            raise Problem('xDS stream to %s failed: %s' % (settings.discovery_address, error)) from None
        self._settings = settings
        LOG.info('xDS stream to %s up as %s; inbound mTLS %s', settings.discovery_address, settings.spiffe_id,
                 policy.get('mtls_mode'))
        self._start_envoy(policy.get('mtls_mode') or 'PERMISSIVE')
        self.problem = None

    def _issue(self, settings):
        try:
            key_pem, csr_pem = identity.new_key_and_csr(settings.spiffe_id)
            chain = mesh_client.create_certificate(settings.ca_address, None, settings.root_pem, settings.token,
                                                   csr_pem, settings.cluster_id, CERT_VALIDITY_SECONDS)
            cert = identity.WorkloadCert(chain, key_pem)
            identity.verify_chain(chain, settings.root_pem)
        except mesh_client.MeshClientError as error:
            raise Problem('certificate from %s failed: %s' % (settings.ca_address, error)) from None
        except identity.IdentityError as error:
            raise Problem(str(error)) from None
        cert.write(self.paths.certs_dir)
        LOG.info('workload certificate for %s valid until %s', settings.spiffe_id, cert.not_after.isoformat())
        return cert

    def _supervise(self):
        settings = self._settings
        tracker = probes.ProbeTracker(settings.readiness_probe, time.monotonic()) if settings.readiness_probe else None
        while not self.stop_event.wait(TICK_SECONDS):
            if self.session.broken.is_set():
                raise Problem('xDS stream to %s broke: %s' % (settings.discovery_address, self.session.error))
            if self.envoy.poll() is not None:
                raise Problem('envoy exited with status %d' % self.envoy.returncode)
            pushed = (self.session.policy or {}).get('mtls_mode')
            if pushed and pushed != self._mtls_mode:
                LOG.info('inbound mTLS mode now %s', pushed)
                self._start_envoy(pushed)
            if self.cert.renew_at() <= _utcnow():
                self.cert = self._issue(settings)
                self._start_envoy(self._mtls_mode)
            if tracker is not None and tracker.due(time.monotonic()) and tracker.run(time.monotonic()):
                LOG.info('workload readiness probe: %s', 'passing' if tracker.healthy else tracker.message)
                try:
                    self.session.report_health(tracker.healthy, tracker.message)
                except mesh_client.MeshClientError as error:
                    raise Problem(str(error)) from None

    # -- envoy -----------------------------------------------------------------------------------------------
    def _start_envoy(self, mtls_mode):
        self._stop_envoy()
        settings = self._settings
        node = {'id': settings.node_id(self.ip, self.pod_name), 'cluster': settings.env.get('ISTIO_SERVICE', self.pod_name),
                'metadata': settings.node_metadata(self.ip, self.pod_name)}
        config = bootstrap.render(bootstrap.load_template(self.paths.bootstrap_template), node, mtls_mode,
                                  os.path.join(self.paths.certs_dir, 'cert-chain.pem'),
                                  os.path.join(self.paths.certs_dir, 'key.pem'), self.paths.root_cert,
                                  settings.trust_domain)
        path = os.path.join(self.paths.proxy_dir, 'envoy-rev.json')
        with open(path + '.partial', 'w', encoding='utf-8') as handle:
            json.dump(config, handle, indent=1)
        os.replace(path + '.partial', path)
        # Envoy's own log (warnings and errors) goes to the agent's stderr: the journal of istio.service.
        self.envoy = subprocess.Popen([self.envoy_path, '-c', path, '--log-level', 'warning', '--concurrency', '2',
                                       '--disable-hot-restart', '--drain-time-s', '2'])
        self._mtls_mode = mtls_mode
        LOG.info('envoy started (pid %d) with inbound mTLS %s', self.envoy.pid, mtls_mode)

    def _stop_envoy(self):
        if self.envoy is not None and self.envoy.poll() is None:
            self.envoy.terminate()
            try:
                self.envoy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.envoy.kill()
                self.envoy.wait()
        self.envoy = None

    def _close_session(self):
        if self.session is not None:
            self.session.close()


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)
