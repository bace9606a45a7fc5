"""The refusals filter: one message per setting, for the first rule it breaks, with the value and the fix."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshbridge.istio_vm.plugins.filter.refusals import refusals


def _rule(shape, value):
    messages = refusals([{'param': 'p', 'value': value, 'shape': shape}])
    return messages[0][len('p: '):] if messages else None


@pytest.mark.parametrize('value, rule', [
    ('us-west2-a', None), ('europe-west1-b', None), ('northamerica-northeast1-c', None),
    ('us-west2', '"us-west2" is a region, not a zone; give one of its zones, such as us-west2-a (as a GKE location a '
                 "region makes a regional cluster, with the nodes in each of the region's zones: three times the nodes "
                 'and their cost)'),
    ('us-west2a', '"us-west2a" is not a zone (REGION-LETTER, such as us-west2-a); give a zone from `gcloud compute zones list`'),
    ('', '"" is empty; give a zone such as us-west2-a'),
    (None, 'null is empty; give a zone such as us-west2-a'),
])
def test_a_zone_is_refused_for_its_first_broken_rule(value, rule):
    assert _rule('gcp_zone', value) == rule


@pytest.mark.parametrize('value, rule', [
    ('my-project', None), ('abcdef', None), ('a' * 30, None),
    ('proj', 'is not 6-30 characters long'), ('a' * 31, 'is not 6-30 characters long'),
    # Only the first rule broken is given: too short wins over the capital letter.
    ('My_P', 'is not 6-30 characters long'),
    ('My_Project', 'has characters other than lowercase letters, digits and hyphens'),
    ('123456789012', 'does not start with a lowercase letter'), ('my-project-', 'ends with a hyphen'),
])
def test_a_project_id_is_refused_for_its_first_broken_rule(value, rule):
    message = _rule('gcp_project_id', value)
    assert (message is None) if rule is None else (rule in message and message.count(';') == 1), message


@pytest.mark.parametrize('value, rule', [
    (3550, None), (1, None), (65535, None), ('8080', None),
    (0, '0 is outside 1-65535'), (65536, '65536 is outside 1-65535'), ('http', '"http" is not a port number'),
    (True, 'true is not a port number'),
])
def test_a_port(value, rule):
    message = _rule('port', value)
    assert (message is None) if rule is None else message.startswith(rule), message


def test_the_shape_comes_before_the_roles_rules_and_only_the_first_rule_is_given():
    checks = [{'param': 'gke_cluster_name', 'value': 'C' * 50, 'shape': 'gke_cluster_name',
               'rules': [{'ok': False, 'rule': 'is taken', 'fix': 'choose another'}]},
              {'param': 'gke_cluster_num_nodes', 'value': 0,
               'rules': [{'ok': False, 'rule': 'is below 1', 'fix': 'a cluster needs at least 1 node'},
                         {'ok': False, 'rule': 'is not a number', 'fix': 'never shown'}]},
              {'param': 'gke_cluster_context', 'value': 'west', 'rules': [{'ok': True, 'rule': 'x', 'fix': 'y'}]}]
    assert refusals(checks) == [
        'gke_cluster_name: "%s" is longer than 40 characters; shorten it to 40 at most' % ('C' * 50),
        'gke_cluster_num_nodes: 0 is below 1; a cluster needs at least 1 node']


def test_an_overlapping_range_names_the_other_setting():
    check = {'param': 'svc', 'value': '10.4.0.0/20', 'shape': 'cidr', 'apart_from': [{'param': 'pods', 'value': '10.4.0.0/14'}]}
    assert refusals([check]) == ['svc: "10.4.0.0/20" overlaps pods (10.4.0.0/14); give ranges that do not overlap, such as '
                                 '10.4.0.0/14 and 10.8.0.0/20']
    assert refusals([dict(check, apart_from=[{'param': 'pods', 'value': ''}])]) == []
    assert refusals([dict(check, apart_from=[{'param': 'pods', 'value': '10.8.0.0/14'}])]) == []


@pytest.mark.parametrize('check', [
    {'value': 'x', 'rules': [{'ok': False, 'rule': 'r', 'fix': 'f'}]},
    {'param': 'p', 'value': 'x', 'rules': [{'ok': 'maybe', 'rule': 'r', 'fix': 'f'}]},
    {'param': 'p', 'value': 'x', 'shape': 'no_such_shape'},
])
def test_a_malformed_check_is_an_error_not_a_pass(check):
    with pytest.raises(AnsibleFilterError):
        refusals([check])
