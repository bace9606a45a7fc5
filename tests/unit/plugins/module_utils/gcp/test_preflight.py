"""The pre-flight check: what a run would create against each region's quotas, and OS Login against the SSH key in
the VMs' metadata; refused with the figures and the fix, read-only."""

import copy

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.errors import GcpApiError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.preflight import GcpPreflightError, Preflight

COMPUTE = 'https://compute.googleapis.com/compute/v1/projects/p'
CLUSTER = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/clusters/west'
GROUP = 'https://www.googleapis.com/compute/v1/projects/p/zones/us-west2-a/instanceGroupManagers/gke-west-grp'


class ReadOnlyApi:
    """GETs from a dict of resources; anything else fails the test."""

    def __init__(self, resources):
        self.resources = resources
        self.retried = []
        self.gets = []

    def get(self, url):
        self.gets.append(url)
        if url not in self.resources:
            raise GcpApiError('GET', url, 404, '{"error": {"code": 404, "message": "not found"}}')
        return copy.deepcopy(self.resources[url])

    def get_or_none(self, url):
        self.gets.append(url)
        return copy.deepcopy(self.resources.get(url))


def project(quotas=None, project_metadata=None, **extra):
    limits = {'CPUS': 24.0, 'SSD_TOTAL_GB': 500.0, 'DISKS_TOTAL_GB': 4096.0, 'IN_USE_ADDRESSES': 8.0}
    limits.update(quotas or {})
    resources = {
        COMPUTE + '/regions/us-west2': {'name': 'us-west2', 'zones': [
            COMPUTE + '/zones/us-west2-a', COMPUTE + '/zones/us-west2-b', COMPUTE + '/zones/us-west2-c'],
            'quotas': [{'metric': metric, 'limit': limit, 'usage': 0.0} for metric, limit in sorted(limits.items())]},
        COMPUTE + '/zones/us-west2-a/machineTypes/n1-standard-2': {'name': 'n1-standard-2', 'guestCpus': 2},
        COMPUTE + '/zones/us-west2-a/machineTypes/e2-medium': {'name': 'e2-medium', 'guestCpus': 2},
        COMPUTE: {'name': 'p', 'commonInstanceMetadata': {'items': [
            {'key': key, 'value': value} for key, value in (project_metadata or {}).items()]}},
    }
    resources.update(extra)
    return ReadOnlyApi(resources)


def params(cluster=None, instances=None, **overrides):
    result = dict(project='p', check_quotas=True, check_os_login=True,
                  cluster=dict(name='west', location='us-west2-a', node_pool_name='default-pool', node_count=5,
                               machine_type='n1-standard-2', disk_size_gb=100, disk_type='pd-balanced'),
                  instances=[dict(name='istio-gce', zone='us-west2-a', machine_type='n1-standard-2', disk_size_gb=10,
                                  disk_type='pd-balanced', external_ip=True,
                                  metadata={'ssh-keys': 'meshbridge:ssh-ed25519 AAAA'})])
    result['cluster'].update(cluster or {})
    for instance, changes in zip(result['instances'], instances or []):
        instance.update(changes)
    result.update(overrides)
    return result


def run(api, **overrides):
    return Preflight(api, params(**overrides)).run(None, False)


def test_the_tutorials_run_needs_510_gb_and_a_new_projects_500_are_refused_with_the_figures_and_the_fix():
    api = project()
    with pytest.raises(GcpPreflightError) as caught:
        run(api)
    message = str(caught.value)
    assert message.startswith('The project p has too little regional quota for what this run would create, so '
                              'nothing was created: SSD_TOTAL_GB in us-west2: needs 510 GB (cluster west: 5 nodes x '
                              '100 GB pd-balanced; VM istio-gce: 10 GB pd-balanced), 500 GB of the 500 GB limit '
                              'available (0 in use).')
    assert 'smaller node disks' in message and 'pd-standard' in message and 'more quota' in message
    assert [(entry['metric'], entry['needed'], entry['available']) for entry in caught.value.details['quotas']] == [
        ('CPUS', 12, 24.0), ('IN_USE_ADDRESSES', 6, 8.0), ('SSD_TOTAL_GB', 510, 500.0)]


def test_what_fits_passes_and_reports_each_quota():
    result = run(project(quotas={'SSD_TOTAL_GB': 1000.0}))
    assert not result['changed'] and [entry['metric'] for entry in result['quotas']] == [
        'CPUS', 'IN_USE_ADDRESSES', 'SSD_TOTAL_GB']
    assert result['os_login'] == [{'instance': 'istio-gce', 'enabled': False, 'value': None, 'source': None}]


def test_standard_disks_count_against_disks_total_gb():
    result = run(project(), cluster={'disk_type': 'pd-standard'})
    by_metric = dict((entry['metric'], entry['needed']) for entry in result['quotas'])
    assert by_metric['DISKS_TOTAL_GB'] == 500 and by_metric['SSD_TOTAL_GB'] == 10


def test_usage_already_there_counts_and_cpus_and_addresses_are_checked_too():
    api = project(quotas={'SSD_TOTAL_GB': 2048.0, 'CPUS': 8.0, 'IN_USE_ADDRESSES': 4.0})
    with pytest.raises(GcpPreflightError) as caught:
        run(api)
    message = str(caught.value)
    assert ('CPUS in us-west2: needs 12 (cluster west: 5 nodes x 2 vCPUs (n1-standard-2); VM istio-gce: 2 vCPUs'
            in message)
    assert 'IN_USE_ADDRESSES in us-west2: needs 6' in message and 'fewer nodes' in message
    assert 'VMs without an external address' in message


def test_an_existing_cluster_and_vm_need_nothing_more_and_a_resize_needs_only_the_added_nodes():
    existing = {
        CLUSTER: {'name': 'west', 'status': 'RUNNING', 'locations': ['us-west2-a'],
                  'nodePools': [{'name': 'default-pool', 'initialNodeCount': 5, 'locations': ['us-west2-a'],
                                 'instanceGroupUrls': [GROUP]}]},
        GROUP: {'zone': COMPUTE + '/zones/us-west2-a', 'targetSize': 5},
        COMPUTE + '/zones/us-west2-a/instances/istio-gce': {'name': 'istio-gce', 'metadata': {}},
    }
    assert run(project(**existing))['quotas'] == []
    resized = run(project(**existing), cluster={'node_count': 7})
    assert [(entry['metric'], entry['needed']) for entry in resized['quotas']] == [
        ('CPUS', 4), ('IN_USE_ADDRESSES', 2), ('SSD_TOTAL_GB', 200)]


def test_a_regional_cluster_has_nodes_in_three_zones():
    result = run(project(quotas={'SSD_TOTAL_GB': 2048.0, 'CPUS': 72.0, 'IN_USE_ADDRESSES': 32.0}),
                 cluster={'location': 'us-west2', 'node_count': 2}, instances=[{'external_ip': False}])
    by_metric = dict((entry['metric'], entry['needed']) for entry in result['quotas'])
    assert by_metric == {'CPUS': 14, 'IN_USE_ADDRESSES': 6, 'SSD_TOTAL_GB': 610}


@pytest.mark.parametrize('project_metadata, metadata, existing, source', [
    ({'enable-oslogin': 'TRUE'}, {}, None, 'the project metadata'),
    ({}, {'enable-oslogin': 'true'}, None, 'the metadata this run gives the VM'),
    ({}, {}, {'enable-oslogin': 'TRUE'}, "the VM's own metadata"),
], ids=['project', 'planned', 'existing-vm'])
def test_os_login_is_refused_naming_where_it_is_set_and_the_fix(project_metadata, metadata, existing, source):
    extra = {}
    if existing is not None:
        extra[COMPUTE + '/zones/us-west2-a/instances/istio-gce'] = {'name': 'istio-gce', 'metadata': {'items': [
            {'key': key, 'value': value} for key, value in existing.items()]}}
    api = project(quotas={'SSD_TOTAL_GB': 1000.0}, project_metadata=project_metadata, **extra)
    with pytest.raises(GcpPreflightError) as caught:
        run(api, instances=[{'metadata': dict(metadata, **{'ssh-keys': 'meshbridge:ssh-ed25519 AAAA'})}])
    message = str(caught.value)
    assert message.startswith('OS Login is enabled for istio-gce (enable-oslogin=')
    assert 'in %s)' % source in message and 'Permission denied (publickey)' in message
    assert 'enable-oslogin: "FALSE"' in message and 'constraints/compute.requireOsLogin' in message
    assert caught.value.details['os_login'][0]['enabled'] is True


def test_the_vms_own_false_overrides_the_projects_os_login():
    api = project(quotas={'SSD_TOTAL_GB': 1000.0}, project_metadata={'enable-oslogin': 'TRUE'})
    result = run(api, instances=[{'metadata': {'enable-oslogin': 'FALSE'}}])
    assert result['os_login'] == [{'instance': 'istio-gce', 'enabled': False, 'value': 'FALSE',
                                   'source': 'the metadata this run gives the VM'}]


def test_quota_and_os_login_problems_are_named_together_and_nothing_but_reads_happen():
    api = project(project_metadata={'enable-oslogin': 'TRUE'})
    with pytest.raises(GcpPreflightError) as caught:
        run(api)
    assert 'SSD_TOTAL_GB in us-west2' in str(caught.value) and 'OS Login is enabled' in str(caught.value)
    assert not hasattr(api, 'post')  # the double cannot mutate: the check only reads


def test_a_metric_the_region_does_not_report_is_a_warning():
    api = project()
    region = api.resources[COMPUTE + '/regions/us-west2']
    region['quotas'] = [quota for quota in region['quotas'] if quota['metric'] != 'SSD_TOTAL_GB']
    result = run(api)
    assert any('reports no SSD_TOTAL_GB quota' in warning for warning in result['warnings'])


def test_nothing_to_check_without_a_cluster_and_with_checks_off():
    api = project(project_metadata={'enable-oslogin': 'TRUE'})
    result = Preflight(api, dict(params(), cluster=None, check_quotas=False, check_os_login=False)).run(None, True)
    assert result['quotas'] == [] and result['os_login'] == []
