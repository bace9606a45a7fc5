"""Lab names: one prefix per lab, link names within Linux's 15 characters, cleanup matches only the lab's own."""

import pytest

from lab.net.names import IFNAMSIZ, LabNames, bridge_port


def test_default_prefix_gives_the_address_plan_names():
    names = LabNames()
    assert (names.vpc_netns, names.bridge, names.controller_link) == ('mbl-vpc', 'mbl-br0', 'mbl-ctl')
    assert names.cluster_netns('west') == 'mbl-gke-west'
    assert names.vm_netns('istio-gce') == 'mbl-vm-istio-gce'


@pytest.mark.parametrize('prefix', ['MBL-', 'mbl', '1ab-', 'abcdefghijkl-', 'a_b-', ''])
def test_bad_prefix_is_refused_with_the_rule(prefix):
    with pytest.raises(ValueError, match='trailing dash'):
        LabNames(prefix)


def test_longest_prefix_keeps_link_names_within_ifnamsiz():
    names = LabNames('abcdefghijk-')
    assert len(names.bridge) <= IFNAMSIZ and len(names.controller_link) <= IFNAMSIZ


def test_long_instance_names_get_distinct_short_bridge_ports():
    first = bridge_port('vm', 'productcatalogservice-vm-1')
    second = bridge_port('vm', 'productcatalogservice-vm-2')
    assert len(first) <= IFNAMSIZ and len(second) <= IFNAMSIZ
    assert first != second and first.startswith('vm-produ-')
    assert bridge_port('vm', 'istio-gce') == 'vm-istio-gce'
    assert len(LabNames().machine('a' * 63)) <= 64


def test_cleanup_matches_only_names_the_lab_makes():
    names = LabNames('mbl-')
    assert names.is_lab_netns('mbl-vpc') and names.is_lab_netns('mbl-vm-x') and names.is_lab_netns('mbl-gke-west')
    assert not names.is_lab_netns('mbl-vmw-211048')  # another tool's namespace under a similar prefix
    assert not names.is_lab_netns('mbt123456-vm-x')
