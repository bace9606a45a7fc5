"""compute v1 stand-in: firewalls, instances, networks and operations; what the real API refuses is refused."""

import time

import pytest

from lab.gcp.backends import BackendError
from lab.gcp.operations import REAL_DURATIONS
from lab.net.commands import NotReady, wait_for
from tests.lab.gcp_lab import PROJECT
from tests.lab.gcp_lab import COMPUTE, assert_google_error, firewall, instance, wait_done


def test_firewall_insert_runs_as_an_operation_and_reaches_the_vm_backend(session, gcp, backends):
    response = session.post(COMPUTE + 'global/firewalls', json=firewall())
    assert response.status_code == 200, response.text
    operation = response.json()
    assert operation['kind'] == 'compute#operation' and operation['operationType'] == 'insert'
    assert operation['status'] in ('PENDING', 'RUNNING')
    done = wait_done(session, operation)
    assert 'error' not in done
    rule = session.get(done['targetLink']).json()
    assert rule['name'] == 'allow-mesh' and rule['direction'] == 'INGRESS' and rule['priority'] == 1000
    assert rule['network'].endswith('/projects/%s/global/networks/default' % PROJECT)
    network, rules, _instances = backends[1].firewall_calls[-1]
    assert network == 'default'
    assert [r['name'] for r in rules] == ['allow-mesh', 'default-allow-icmp', 'default-allow-internal', 'default-allow-ssh']
    names = [item['name'] for item in session.get(COMPUTE + 'global/firewalls').json()['items']]
    assert 'allow-mesh' in names


def test_firewall_patch_and_delete(session, gcp, backends):
    wait_done(session, session.post(COMPUTE + 'global/firewalls', json=firewall()).json())
    patched = wait_done(session, session.patch(COMPUTE + 'global/firewalls/allow-mesh', json={'name': 'allow-mesh', 'sourceRanges': ['10.12.0.0/14']}).json())
    assert 'error' not in patched
    rule = session.get(COMPUTE + 'global/firewalls/allow-mesh').json()
    assert rule['sourceRanges'] == ['10.12.0.0/14'] and rule['targetTags'] == ['istio-vm']
    wait_done(session, session.delete(COMPUTE + 'global/firewalls/allow-mesh').json())
    assert_google_error(session.get(COMPUTE + 'global/firewalls/allow-mesh'), 404, 'NOT_FOUND', 'notFound',
                        "The resource 'projects/%s/global/firewalls/allow-mesh' was not found" % PROJECT)
    assert 'allow-mesh' not in [r['name'] for r in backends[1].firewall_calls[-1][1]]


@pytest.mark.parametrize('body, code, status, reason, message', [
    (firewall(name='Bad_Name'), 400, 'INVALID_ARGUMENT', 'invalid', "Invalid value for field 'resource.name': 'Bad_Name'"),
    (firewall(name='a' * 64), 400, 'INVALID_ARGUMENT', 'invalid', 'Must be a match of regex'),
    (firewall(name='ends-with-dash-'), 400, 'INVALID_ARGUMENT', 'invalid', 'Must be a match of regex'),
    (firewall(colour='blue'), 400, 'INVALID_ARGUMENT', 'badRequest', 'Unknown name "colour" at \'resource\''),
    (firewall(priority='high'), 400, 'INVALID_ARGUMENT', 'badRequest', "Invalid value at 'resource.priority' (TYPE_INT32)"),
    (firewall(disabled='yes'), 400, 'INVALID_ARGUMENT', 'badRequest', "'resource.disabled' (TYPE_BOOLEAN)"),
    (firewall(direction='SIDEWAYS'), 400, 'INVALID_ARGUMENT', 'badRequest', "'resource.direction' (TYPE_ENUM)"),
    (firewall(sourceRanges='10.0.0.0/8'), 400, 'INVALID_ARGUMENT', 'badRequest', 'resource.sourceRanges'),
    (firewall(allowed=[{'IPProtocol': 'tcp', 'portz': ['1']}]), 400, 'INVALID_ARGUMENT', 'badRequest', 'Unknown name "portz"'),
    (firewall(name=None), 400, 'INVALID_ARGUMENT', 'required', "Required field 'resource.name' not specified"),
    (firewall(network='global/networks/nowhere'), 404, 'NOT_FOUND', 'notFound', "'projects/%s/global/networks/nowhere' was not found" % PROJECT),
    (firewall(sourceRanges=['10.0.0.0/33']), 400, 'INVALID_ARGUMENT', 'invalid', 'Invalid IPV4 CIDR'),
    (firewall(allowed=[{'IPProtocol': 'icmp', 'ports': ['22']}]), 400, 'INVALID_ARGUMENT', 'invalid', 'Ports may only be specified'),
])
def test_firewall_requests_the_real_api_refuses(session, gcp, body, code, status, reason, message):
    assert_google_error(session.post(COMPUTE + 'global/firewalls', json=body), code, status, reason, message)


def test_duplicate_firewall_is_409(session, gcp):
    wait_done(session, session.post(COMPUTE + 'global/firewalls', json=firewall()).json())
    assert_google_error(session.post(COMPUTE + 'global/firewalls', json=firewall()), 409, 'ALREADY_EXISTS', 'alreadyExists',
                        "The resource 'projects/%s/global/firewalls/allow-mesh' already exists" % PROJECT)


def test_int32_as_string_is_accepted_as_proto_json_allows(session, gcp):
    done = wait_done(session, session.post(COMPUTE + 'global/firewalls', json=firewall(priority='900')).json())
    assert 'error' not in done
    assert session.get(COMPUTE + 'global/firewalls/allow-mesh').json()['priority'] == 900


def test_unknown_query_parameter_and_bad_path_value_are_400(session, gcp):
    assert_google_error(session.get(COMPUTE + 'global/firewalls', params={'colour': 'blue'}), 400, 'INVALID_ARGUMENT', 'badRequest',
                        'Unknown name "colour": Cannot bind query parameter')
    assert_google_error(session.get(COMPUTE + 'global/firewalls', params={'maxResults': 'many'}), 400, 'INVALID_ARGUMENT',
                        'invalidParameter')
    assert_google_error(session.get(COMPUTE + 'zones/us-west2-a/instances/Not_A_Name'), 400, 'INVALID_ARGUMENT', 'invalidParameter',
                        "Invalid value 'Not_A_Name'")


def test_instance_insert_gets_an_address_and_boots_in_the_vm_backend(session, gcp, backends):
    operation = session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json()
    assert operation['zone'].endswith('/zones/us-west2-a')
    done = wait_done(session, operation)
    assert 'error' not in done, done
    vm = session.get(done['targetLink']).json()
    assert vm['status'] == 'RUNNING'
    assert vm['networkInterfaces'][0]['networkIP'] == '10.168.0.20'
    assert vm['networkInterfaces'][0]['subnetwork'].endswith('/regions/us-west2/subnetworks/default')
    assert vm['machineType'].endswith('/zones/us-west2-a/machineTypes/e2-medium')
    assert vm['disks'][0]['boot'] and vm['disks'][0]['source'].endswith('/zones/us-west2-a/disks/istio-gce')
    assert isinstance(vm['id'], str) and vm['id'].isdigit()
    created = backends[1].created[-1]
    assert created['name'] == 'istio-gce' and created['networkInterfaces'][0]['networkIP'] == '10.168.0.20'
    assert created['metadata']['items'][0] == {'key': 'ssh-keys', 'value': 'ansible:ssh-ed25519 AAAAC3Nza lab'}
    _network, rules, instances = backends[1].firewall_calls[-1]
    assert [i['name'] for i in instances] == ['istio-gce']
    # The project's default rules are in force for a VM even when no rule was ever written.
    assert [r['name'] for r in rules] == ['default-allow-icmp', 'default-allow-internal', 'default-allow-ssh']
    # ... and they reached the backend before the VM booted.
    assert backends[1].firewall_calls[0][1] == rules
    second = wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance(name='istio-gce-2')).json())
    assert session.get(second['targetLink']).json()['networkInterfaces'][0]['networkIP'] == '10.168.0.21'


def test_operation_goes_pending_running_done_on_the_scaled_profile(session, gcp):
    # A slower scale than the suite's, so a poll can catch each phase: 20 s x 0.05 = 1 s, RUNNING after 0.1 s.
    gcp.settings.time_scale = 0.05
    started = time.monotonic()
    operation = session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json()
    seen = [operation['status']]

    def done():
        seen.append(session.get(operation['selfLink']).json()['status'])
        if seen[-1] != 'DONE':
            raise NotReady(f'still {seen[-1]}')
        return True
    # 1 s on this profile: 30 s is ample on a loaded machine, and a stuck operation fails instead of hanging.
    wait_for(done, timeout=30, what='the instance insert operation', interval=0.002)
    elapsed = time.monotonic() - started
    assert seen[0] == 'PENDING' and 'RUNNING' in seen
    assert elapsed >= REAL_DURATIONS['insert.instance'] * 0.05


def test_zone_operation_wait_blocks_until_done(session, gcp):
    operation = session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json()
    waited = session.post(COMPUTE + 'zones/us-west2-a/operations/%s/wait' % operation['name']).json()
    assert waited['status'] == 'DONE' and 'endTime' in waited


@pytest.mark.parametrize('body, code, reason, message', [
    (instance(machineType='zones/us-west2-a/machineTypes/e2-huge'), 400, 'invalid', "Machine type with name 'e2-huge' does not exist"),
    (instance(machineType='zones/us-west2-b/machineTypes/e2-medium'), 400, 'invalid', 'does not exist in zone'),
    (instance(machineType='e2-medium'), 400, 'invalid', 'The URL is malformed'),
    (instance(name='Istio_GCE'), 400, 'invalid', 'Must be a match of regex'),
    (instance(networkInterfaces=[{'network': 'global/networks/vpc-x'}]), 404, 'notFound', 'vpc-x'),
    (instance(disks=[{'boot': True, 'initializeParams': {'sourceImage': 'projects/debian-cloud/global/images/family/debian-99'}}]),
     400, 'invalid', 'The referenced image resource cannot be found'),
    (instance(disks=[]), 400, 'invalid', 'At least one disk'),
    (instance(canIpForward='no'), 400, 'badRequest', 'TYPE_BOOLEAN'),
    (instance(scheduling={'onHostMaintenance': 'SOMETIMES'}), 400, 'badRequest', 'TYPE_ENUM'),
])
def test_instance_requests_the_real_api_refuses(session, gcp, body, code, reason, message):
    assert_google_error(session.post(COMPUTE + 'zones/us-west2-a/instances', json=body), code,
                        'INVALID_ARGUMENT' if code == 400 else 'NOT_FOUND', reason, message)


def test_unknown_zone_is_refused(session, gcp):
    assert_google_error(session.post(COMPUTE + 'zones/us-west2-z/instances', json=instance(zone='us-west2-z')), 400,
                        'INVALID_ARGUMENT', 'invalid', "Invalid value for field 'zone': 'us-west2-z'. Unknown zone.")
    assert_google_error(session.get(COMPUTE + 'zones/mars-north1-a'), 404, 'NOT_FOUND', 'notFound')


def test_duplicate_instance_is_409(session, gcp):
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    assert_google_error(session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()), 409, 'ALREADY_EXISTS', 'alreadyExists')


def test_aggregated_list_with_filter_pages_and_scopes(session, gcp):
    for name in ('vm-a', 'vm-b', 'vm-c'):
        wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance(name=name)).json())
    wait_done(session, session.post(COMPUTE + 'zones/us-central1-a/instances', json=instance(name='vm-d', zone='us-central1-a')).json())
    listed = session.get(COMPUTE + 'aggregated/instances', params={'filter': 'status = RUNNING'}).json()
    assert [i['name'] for i in listed['items']['zones/us-west2-a']['instances']] == ['vm-a', 'vm-b', 'vm-c']
    assert listed['items']['zones/us-central1-a']['instances'][0]['networkInterfaces'][0]['networkIP'] == '10.128.0.20'
    assert listed['items']['zones/us-east1-b']['warning']['code'] == 'NO_RESULTS_ON_PAGE'
    filtered = session.get(COMPUTE + 'aggregated/instances', params={'filter': '(name = vm-b) (labels.app = productcatalog)'}).json()
    assert [i['name'] for scope in filtered['items'].values() for i in scope.get('instances', [])] == ['vm-b']
    first = session.get(COMPUTE + 'zones/us-west2-a/instances', params={'maxResults': '2'}).json()
    second = session.get(COMPUTE + 'zones/us-west2-a/instances', params={'maxResults': '2', 'pageToken': first['nextPageToken']}).json()
    assert [i['name'] for i in first['items'] + second['items']] == ['vm-a', 'vm-b', 'vm-c'] and 'nextPageToken' not in second
    assert_google_error(session.get(COMPUTE + 'aggregated/instances', params={'filter': 'status = '}), 400, 'INVALID_ARGUMENT', 'invalid',
                        'Invalid list filter expression')


def test_set_metadata_needs_the_current_fingerprint(session, gcp, backends):
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    link = COMPUTE + 'zones/us-west2-a/instances/istio-gce'
    stale = {'fingerprint': 'AAAAAAAAAAA=', 'items': [{'key': 'ssh-keys', 'value': 'x'}]}
    assert_google_error(session.post(link + '/setMetadata', json=stale), 412, 'FAILED_PRECONDITION', 'conditionNotMet')
    current = session.get(link).json()['metadata']['fingerprint']
    done = wait_done(session, session.post(link + '/setMetadata', json=dict(stale, fingerprint=current)).json())
    assert 'error' not in done
    assert session.get(link).json()['metadata']['items'] == [{'key': 'ssh-keys', 'value': 'x'}]
    assert backends[1].metadata_updates[-1]['name'] == 'istio-gce'


def test_set_tags_and_labels_and_delete(session, gcp, backends):
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    link = COMPUTE + 'zones/us-west2-a/instances/istio-gce'
    vm = session.get(link).json()
    wait_done(session, session.post(link + '/setTags', json={'fingerprint': vm['tags']['fingerprint'], 'items': ['web']}).json())
    assert backends[1].firewall_calls[-1][2][0]['tags']['items'] == ['web']
    wait_done(session, session.post(link + '/setLabels', json={'labelFingerprint': vm['labelFingerprint'], 'labels': {'env': 'lab'}}).json())
    assert session.get(link).json()['labels'] == {'env': 'lab'}
    wait_done(session, session.delete(link).json())
    assert backends[1].deleted == ['istio-gce']
    assert_google_error(session.get(link), 404, 'NOT_FOUND', 'notFound')


def test_networks_subnetworks_regions_zones_and_images(session, gcp):
    network = session.get(COMPUTE + 'global/networks/default').json()
    assert network['autoCreateSubnetworks'] is True
    subnet = session.get(COMPUTE + 'regions/us-west2/subnetworks/default').json()
    assert subnet['ipCidrRange'] == '10.168.0.0/20' and subnet['gatewayAddress'] == '10.168.0.1'
    assert [n['name'] for n in session.get(COMPUTE + 'global/networks').json()['items']] == ['default']
    assert session.get(COMPUTE + 'regions/us-west2').json()['zones'][0].endswith('/zones/us-west2-a')
    assert 'us-west2-b' in [z['name'] for z in session.get(COMPUTE + 'zones').json()['items']]
    image = session.get('https://compute.googleapis.com/compute/v1/projects/debian-cloud/global/images/family/debian-12').json()
    assert image['family'] == 'debian-12' and image['name'].startswith('debian-12-bookworm')
    assert_google_error(session.get(COMPUTE + 'global/networks/other'), 404, 'NOT_FOUND')
    assert_google_error(session.get(COMPUTE + 'regions/us-west2/subnetworks/other'), 404, 'NOT_FOUND')


def test_injected_quota_faults(session, gcp):
    gcp.settings.rate_429 = 1.0
    assert_google_error(session.get(COMPUTE + 'global/firewalls'), 429, 'RESOURCE_EXHAUSTED', 'rateLimitExceeded', 'Quota exceeded')
    gcp.settings.rate_429, gcp.settings.rate_503 = 0.0, 1.0
    assert_google_error(session.get(COMPUTE + 'global/firewalls'), 503, 'UNAVAILABLE', 'backendError')
    gcp.settings.rate_503 = 0.0
    assert session.get(COMPUTE + 'global/firewalls').status_code == 200


def test_injected_operation_failure_leaves_no_instance(session, gcp):
    gcp.operations.fail_next('insert.instance', 'Zone us-west2-a does not have enough resources.', 'ZONE_RESOURCE_POOL_EXHAUSTED')
    done = wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    assert done['error']['errors'][0] == {'code': 'ZONE_RESOURCE_POOL_EXHAUSTED', 'message': 'Zone us-west2-a does not have enough resources.'}
    assert_google_error(session.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce'), 404, 'NOT_FOUND')
    assert 'error' not in wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())


@pytest.mark.parametrize('failure, message', [
    (BackendError('debootstrap failed'), 'debootstrap failed'),
    (RuntimeError('no free instance address left'), 'RuntimeError: no free instance address left'),
])
def test_backend_failure_fails_the_operation(session, gcp, backends, failure, message):
    backends[1].failures.append(failure)
    done = wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    assert done['error']['errors'][0]['message'] == message
    assert_google_error(session.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce'), 404, 'NOT_FOUND')


def test_stop_and_start_keep_the_vm(session, gcp, backends):
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    link = COMPUTE + 'zones/us-west2-a/instances/istio-gce'
    wait_done(session, session.post(link + '/stop').json())
    assert session.get(link).json()['status'] == 'TERMINATED' and backends[1].stopped == ['istio-gce']
    wait_done(session, session.post(link + '/start').json())
    assert session.get(link).json()['status'] == 'RUNNING' and backends[1].started == ['istio-gce']
    assert backends[1].deleted == []


def test_injected_compute_rate_limit_is_a_403_and_gke_is_not_affected(session, gcp):
    # https://cloud.google.com/compute/api-quota: "you receive a 403 error with the reason rateLimitExceeded".
    gcp.settings.rate_403 = 1.0
    error = assert_google_error(session.get(COMPUTE + 'global/firewalls'), 403, 'PERMISSION_DENIED',
                                'rateLimitExceeded', 'Rate Limit Exceeded')
    assert error['errors'][0]['domain'] == 'usageLimits'
    clusters = 'https://container.googleapis.com/v1/projects/%s/locations/-/clusters' % PROJECT
    assert session.get(clusters).status_code == 200
    gcp.settings.rate_403 = 0.0
    assert session.get(COMPUTE + 'global/firewalls').status_code == 200


def _quotas(session):
    region = session.get(COMPUTE + 'regions/us-west2').json()
    return dict((quota['metric'], (quota['limit'], quota['usage'])) for quota in region['quotas'])


def test_regions_report_quotas_with_what_the_instances_use(session, gcp):
    assert _quotas(session)['SSD_TOTAL_GB'] == (2048.0, 0.0)
    body = instance(disks=[{'boot': True, 'autoDelete': True, 'initializeParams': {
        'sourceImage': 'projects/debian-cloud/global/images/family/debian-12', 'diskSizeGb': '30',
        'diskType': 'zones/us-west2-a/diskTypes/pd-balanced'}}],
        networkInterfaces=[{'network': 'global/networks/default', 'accessConfigs': [{'type': 'ONE_TO_ONE_NAT'}]}])
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=body).json())
    quotas = _quotas(session)
    assert quotas['SSD_TOTAL_GB'][1] == 30.0 and quotas['CPUS'][1] == 2.0 and quotas['IN_USE_ADDRESSES'][1] == 1.0
    assert quotas['DISKS_TOTAL_GB'][1] == 0.0 and quotas['INSTANCES'][1] == 1.0
    assert quotas['CPUS'][0] == 72.0


def test_an_insert_over_quota_is_refused_with_403_quota_exceeded(session, gcp):
    gcp.settings.quotas['SSD_TOTAL_GB'] = 20.0
    body = instance(disks=[{'boot': True, 'initializeParams': {
        'sourceImage': 'projects/debian-cloud/global/images/family/debian-12', 'diskSizeGb': '30',
        'diskType': 'zones/us-west2-a/diskTypes/pd-balanced'}}])
    assert_google_error(session.post(COMPUTE + 'zones/us-west2-a/instances', json=body), 403, 'PERMISSION_DENIED',
                        'quotaExceeded', "Quota 'SSD_TOTAL_GB' exceeded.  Limit: 20.0 in region us-west2.")
    assert_google_error(session.get(COMPUTE + 'zones/us-west2-a/instances/istio-gce'), 404, 'NOT_FOUND')
    standard = instance(disks=[{'boot': True, 'initializeParams': {
        'sourceImage': 'projects/debian-cloud/global/images/family/debian-12', 'diskSizeGb': '30',
        'diskType': 'zones/us-west2-a/diskTypes/pd-standard'}}])
    assert 'error' not in wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=standard).json())


def test_project_metadata_reaches_the_guest_and_its_changes_too(session, gcp, backends):
    project = session.get(COMPUTE.rstrip('/')).json()
    assert project['name'] == PROJECT and 'items' not in project['commonInstanceMetadata']
    wait_done(session, session.post(COMPUTE + 'zones/us-west2-a/instances', json=instance()).json())
    assert backends[1].created[-1]['_projectMetadata'].get('items') is None
    stale = {'fingerprint': 'AAAAAAAAAAA=', 'items': [{'key': 'enable-oslogin', 'value': 'TRUE'}]}
    assert_google_error(session.post(COMPUTE + 'setCommonInstanceMetadata', json=stale), 412, 'FAILED_PRECONDITION',
                        'conditionNotMet')
    done = wait_done(session, session.post(COMPUTE + 'setCommonInstanceMetadata', json=dict(
        stale, fingerprint=project['commonInstanceMetadata']['fingerprint'])).json())
    assert done['operationType'] == 'setCommonInstanceMetadata' and 'error' not in done
    assert session.get(COMPUTE.rstrip('/')).json()['commonInstanceMetadata']['items'] == stale['items']
    updated = backends[1].metadata_updates[-1]
    assert updated['name'] == 'istio-gce' and updated['_projectMetadata']['items'] == stale['items']


def test_a_project_under_the_os_login_policy_starts_with_os_login_on(session, gcp):
    gcp.settings.os_login = True
    metadata = session.get(COMPUTE.rstrip('/')).json()['commonInstanceMetadata']
    assert metadata['items'] == [{'key': 'enable-oslogin', 'value': 'TRUE'}]
