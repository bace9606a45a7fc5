"""Shared by the GCP stand-in tests: the project, recording backends, API URLs and operation waits."""

import threading

from lab.gcp.backends import BackendError, ClusterBackend, VmBackend
from lab.net.commands import NotReady, wait_for

PROJECT = 'meshbridge-lab'
# Real durations x 0.002: a cluster create takes ~0.7 s, an instance insert 0.04 s.
TIME_SCALE = 0.002


class RecordingClusterBackend(ClusterBackend):
    """Records calls; hands out a CA certificate from the lab CA instead of starting a Kubernetes API."""

    def __init__(self, ca):
        self.ca = ca
        self.created = []
        self.deleted = []
        self.failures = []  # exceptions for the next create_* calls to raise

    def create_cluster(self, spec):
        if self.failures:
            raise self.failures.pop(0)
        self.created.append(spec)
        return self.ca.cert_pem.decode()

    def delete_cluster(self, spec):
        self.deleted.append(spec)


class NoClusterBackend(ClusterBackend):
    """For runs that make no clusters: refuses to make one."""

    def create_cluster(self, spec):
        raise BackendError('this lab run has no Kubernetes backend')

    def delete_cluster(self, spec):
        raise BackendError('this lab run has no Kubernetes backend')


class RecordingVmBackend(VmBackend):
    """Records calls, as lab.vms would receive them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = []
        self.deleted = []
        self.firewall_calls = []
        self.metadata_updates = []
        self.stopped = []
        self.started = []
        self.failures = []  # exceptions for the next create_* calls to raise

    def create_instance(self, instance):
        if self.failures:
            raise self.failures.pop(0)
        with self.lock:
            self.created.append(instance)
        return instance['networkInterfaces'][0]['networkIP']

    def delete_instance(self, name):
        with self.lock:
            self.deleted.append(name)

    def apply_firewalls(self, network, rules, instances):
        with self.lock:
            self.firewall_calls.append((network, rules, instances))

    def update_metadata(self, instance):
        with self.lock:
            self.metadata_updates.append(instance)

    def stop_instance(self, name):
        with self.lock:
            self.stopped.append(name)

    def start_instance(self, name):
        with self.lock:
            self.started.append(name)


COMPUTE = 'https://compute.googleapis.com/compute/v1/projects/%s/' % PROJECT
CONTAINER = 'https://container.googleapis.com/v1/projects/%s/' % PROJECT


def wait_done(session, operation, timeout=30.0):
    """Poll an operation's selfLink until DONE; return the final operation. Fails the test on timeout."""
    if operation['status'] == 'DONE':
        return operation

    def done():
        response = session.get(operation['selfLink'])
        assert response.status_code == 200, response.text
        polled = response.json()
        if polled['status'] != 'DONE':
            raise NotReady('still %s' % polled['status'])
        return polled
    return wait_for(done, timeout=timeout, what='operation %s' % operation['name'], interval=0.02)


def firewall(name='allow-mesh', **fields):
    body = {'name': name, 'network': 'global/networks/default', 'sourceRanges': ['10.4.0.0/14'],
            'allowed': [{'IPProtocol': 'tcp', 'ports': ['8080', '15021']}], 'targetTags': ['istio-vm']}
    body.update(fields)
    return body


def instance(name='istio-gce', zone='us-west2-a', **fields):
    body = {
        'name': name,
        'machineType': 'zones/%s/machineTypes/e2-medium' % zone,
        'disks': [{'boot': True, 'autoDelete': True,
                   'initializeParams': {'sourceImage': 'projects/debian-cloud/global/images/family/debian-12'}}],
        'networkInterfaces': [{'network': 'global/networks/default'}],
        'metadata': {'items': [{'key': 'ssh-keys', 'value': 'ansible:ssh-ed25519 AAAAC3Nza lab'}]},
        'tags': {'items': ['istio-vm']},
        'labels': {'app': 'productcatalog'},
    }
    body.update(fields)
    return body


def assert_google_error(response, code, status, reason=None, message=None):
    assert response.status_code == code, response.text
    error = response.json()['error']
    assert error['code'] == code and error['status'] == status
    assert set(error['errors'][0]) >= {'reason', 'domain', 'message'}
    if reason:
        assert error['errors'][0]['reason'] == reason, error
    if message:
        assert message in error['message'], error['message']
    return error
