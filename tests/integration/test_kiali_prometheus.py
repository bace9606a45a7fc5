"""The Prometheus the kiali role installs scrapes the mesh as the Istio release's own addon does: its pod jobs and its
ClusterRole are those of ``samples/addons/prometheus.yaml`` of the Istio module lab/tools pins (read from the Go
module cache; the file is the same in the 1.30.0 and 1.30.3 release tags), applied through real ansible-playbook to
a real API server and read back."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from kubernetes import config, dynamic

from lab.kubernetes.testing import running_control_plane

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAY = '''
- name: Kiali
  hosts: localhost
  gather_facts: false
  roles:
    - role: meshbridge.istio_vm.kiali
'''


def _istio_module_dir():
    with open(os.path.join(REPO, 'lab', 'tools', 'go.mod'), encoding='utf-8') as handle:
        version = re.search(r'^\s*istio\.io/istio (v\S+)', handle.read(), re.M).group(1)
    try:
        cache = subprocess.run(['go', 'env', 'GOMODCACHE'], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        cache = os.path.expanduser('~/go/pkg/mod')
    return os.path.join(cache, 'istio.io', 'istio@%s' % version)


@pytest.fixture(scope='module')
def addon():
    """The release addon's scrape configuration and ClusterRole rules."""
    path = os.path.join(_istio_module_dir(), 'samples', 'addons', 'prometheus.yaml')
    if not os.path.exists(path):
        pytest.fail('%s is missing: hack/build-lab-tools.sh downloads the Istio module' % path)
    with open(path, encoding='utf-8') as handle:
        documents = [document for document in yaml.safe_load_all(handle) if document]
    config_map = next(d for d in documents if d['kind'] == 'ConfigMap' and d['metadata']['name'] == 'prometheus')
    role = next(d for d in documents if d['kind'] == 'ClusterRole' and d['metadata']['name'] == 'prometheus')
    return yaml.safe_load(config_map['data']['prometheus.yml']), role['rules']


def _ansible_playbook(directory, playbook, extra_vars):
    """One ansible-playbook run for the whole module (tests/conftest.py's run_playbook is per test)."""
    (directory / 'playbook.yml').write_text(playbook)
    (directory / 'inventory.ini').write_text('localhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    completed = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                                str(directory / 'inventory.ini'), str(directory / 'playbook.yml'),
                                '-e', json.dumps(extra_vars)],
                               capture_output=True, text=True, env=env, cwd=str(directory), check=False, timeout=600)
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The role's Prometheus configuration (parsed) and ClusterRole rules, as the API server holds them."""
    with running_control_plane(tmp_path_factory.mktemp('kube')) as kube:
        api = dynamic.DynamicClient(config.new_client_from_config(config_file=kube.kubeconfig, context='lab'))
        api.resources.get(api_version='v1', kind='Namespace').create(
            body={'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'istio-system'}})
        _ansible_playbook(tmp_path_factory.mktemp('play'), PLAY,
                          {'kiali_kubeconfig': kube.kubeconfig, 'kiali_context': 'lab', 'kiali_wait_timeout': 60})
        config_map = api.resources.get(api_version='v1', kind='ConfigMap').get(
            name='prometheus', namespace='istio-system').to_dict()
        role = api.resources.get(api_version='rbac.authorization.k8s.io/v1', kind='ClusterRole').get(
            name='prometheus').to_dict()
        yield yaml.safe_load(config_map['data']['prometheus.yml']), role['rules']


def _jobs(scrape):
    return {job['job_name']: job for job in scrape['scrape_configs']}


def test_the_pod_jobs_are_the_release_addons(installed, addon):
    ours, theirs = _jobs(installed[0]), _jobs(addon[0])
    assert set(ours) == {'kubernetes-pods', 'kubernetes-pods-slow'}
    for name, job in ours.items():
        # honor_labels, the scheme and IPv6 rules, the slow pods left to their own job: all as in the addon.
        assert job == theirs[name], name
    assert installed[0]['global'] == addon[0]['global']


def test_the_cluster_role_is_the_release_addons(installed, addon):
    def normal(rules):
        return sorted((tuple(rule.get('apiGroups') or ()), tuple(sorted(rule.get('resources') or ())),
                       tuple(rule.get('nonResourceURLs') or ()), tuple(sorted(rule['verbs']))) for rule in rules)
    assert normal(installed[1]) == normal(addon[1])
    assert any('networking.k8s.io' in (rule.get('apiGroups') or ()) for rule in installed[1])


def _relabel_address(rules, labels):
    """Prometheus' ``replace`` relabelling of __address__ (anchored regex, ``$n`` references), rule by rule."""
    labels = dict(labels)
    for rule in rules:
        if rule.get('target_label') != '__address__':
            continue
        value = ';'.join(labels.get(name, '') for name in rule['source_labels'])
        match = re.fullmatch(rule['regex'], value)
        if match:
            labels['__address__'] = re.sub(r'\$(\d+)', lambda ref: match.group(int(ref.group(1))) or '',
                                           rule['replacement'])
    return labels['__address__']


@pytest.mark.parametrize('pod_ip, expected', [('10.4.0.7', '10.4.0.7:15020'), ('fd00:10:4::7', '[fd00:10:4::7]:15020')])
def test_a_pod_is_scraped_on_its_annotated_port_over_ipv4_and_ipv6(installed, pod_ip, expected):
    rules = _jobs(installed[0])['kubernetes-pods']['relabel_configs']
    labels = {'__address__': pod_ip, '__meta_kubernetes_pod_ip': pod_ip,
              '__meta_kubernetes_pod_annotation_prometheus_io_port': '15020'}
    assert _relabel_address(rules, labels) == expected
