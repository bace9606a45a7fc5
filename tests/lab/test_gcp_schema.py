"""The generic walk over discovery schemas, and the routing taken from the documents."""

import pytest

from lab.gcp import discovery
from lab.gcp.errors import ApiError
from lab.gcp.schema import ResponseSchemaError

COMPUTE = discovery.load('compute.v1')
CONTAINER = discovery.load('container.v1')


def _request(api, method_id, body):
    api.check_request(api.methods[method_id], body)


def test_responses_are_checked_too():
    method = COMPUTE.methods['compute.firewalls.get']
    COMPUTE.check_response(method, {'name': 'x', 'id': '123', 'priority': 1000})
    with pytest.raises(ResponseSchemaError, match='Unknown name "colour"'):
        COMPUTE.check_response(method, {'name': 'x', 'colour': 'blue'})
    with pytest.raises(ResponseSchemaError, match='TYPE_UINT64'):
        COMPUTE.check_response(method, {'id': 'not-a-number'})


@pytest.mark.parametrize('value, accepted', [
    ('18446744073709551615', True), (42, True), ('-1', False), ('18446744073709551616', False), (1.5, False), (True, False),
])
def test_uint64_travels_as_string_or_number_in_range(value, accepted):
    method = COMPUTE.methods['compute.firewalls.get']
    if accepted:
        COMPUTE.check_response(method, {'id': value})
    else:
        with pytest.raises(ResponseSchemaError):
            COMPUTE.check_response(method, {'id': value})


def test_maps_bytes_and_nested_refs():
    _request(COMPUTE, 'compute.instances.setLabels', {'labels': {'app': 'x'}, 'labelFingerprint': 'qbWK3g5/Tf4='})
    with pytest.raises(ApiError, match="Invalid value at 'resource.labels\\[app\\]' \\(TYPE_STRING\\), 3"):
        _request(COMPUTE, 'compute.instances.setLabels', {'labels': {'app': 3}})
    with pytest.raises(ApiError, match='TYPE_BYTES'):
        _request(COMPUTE, 'compute.instances.setLabels', {'labelFingerprint': 'not base64!'})
    with pytest.raises(ApiError, match="'cluster.nodeConfig.accelerators\\[0\\].acceleratorCount' \\(TYPE_INT64\\)"):
        _request(CONTAINER, 'container.projects.locations.clusters.create',
                 {'cluster': {'nodeConfig': {'accelerators': [{'acceleratorCount': 'two'}]}}})


def test_null_means_unset():
    _request(COMPUTE, 'compute.firewalls.insert', {'name': 'x', 'description': None, 'allowed': None})


def test_routes_come_from_the_documents():
    method, values = CONTAINER.match('POST', 'v1/projects/p/locations/l/clusters/c:setResourceLabels')
    assert method.id == 'container.projects.locations.clusters.setResourceLabels' and values['clustersId'] == 'c'
    method, values = COMPUTE.match('POST', 'compute/v1/projects/p/zones/z/instances/i/setMetadata')
    assert method.id == 'compute.instances.setMetadata' and values == {'project': 'p', 'zone': 'z', 'instance': 'i'}
    with pytest.raises(ApiError) as refused:
        COMPUTE.match('PUT', 'compute/v1/projects/p/global/networks')
    assert refused.value.code == 405
    with pytest.raises(ApiError) as refused:
        COMPUTE.match('GET', 'compute/v1/projects/p/nothing-here')
    assert refused.value.code == 404
