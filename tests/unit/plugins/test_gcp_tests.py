"""The Jinja tests the roles use to reject bad input apply the same rules as the modules."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.test.gcp_cidr import gcp_cidr
from ansible_collections.meshbridge.istio_vm.plugins.test.gcp_name import gcp_name


@pytest.mark.parametrize('value, valid', [
    ('istio-gce', True), ('k8s-to-istio-gce', True), ('a', True), ('a' * 63, True),
    ('a' * 64, False), ('Istio_GCE', False), ('1vm', False), ('vm-', False), ('', False), (None, False), (3, False),
])
def test_gcp_name(value, valid):
    assert gcp_name(value) is valid


@pytest.mark.parametrize('value, valid', [
    ('10.4.0.0/14', True), ('10.8.0.0/20', True), ('fd00::/64', True),
    ('10.4.0.1/14', False), ('10.4.0.0/33', False), ('10.4.0.0', True), ('not-a-range', False), (None, False),
])
def test_gcp_cidr(value, valid):
    assert gcp_cidr(value) is valid
