"""Helpers for the GCP stand-in tests: API URLs and waiting for operations the way clients do."""

import time

from tests.lab.conftest import PROJECT

COMPUTE = 'https://compute.googleapis.com/compute/v1/projects/%s/' % PROJECT
CONTAINER = 'https://container.googleapis.com/v1/projects/%s/' % PROJECT


def wait_done(session, operation, timeout=30.0):
    """Poll an operation's selfLink until DONE; return the final operation. Fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while operation['status'] != 'DONE':
        assert time.monotonic() < deadline, 'operation %s still %s after %s s' % (operation['name'], operation['status'], timeout)
        time.sleep(0.02)
        response = session.get(operation['selfLink'])
        assert response.status_code == 200, response.text
        operation = response.json()
    return operation


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
