"""site.yml lets only the VMs reach istiod: the control plane stage gives the east-west gateway the VMs' addresses
from the dynamic inventory as its source ranges, each VM's VPC address for the default internal load balancer and its
public address for an external one."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files:
    - %s
  tasks:
    - name: Show who may reach istiod
      ansible.builtin.debug:
        msg:
          internal: "{{ istio_control_plane_eastwest_gateway_internal | default(true) }}"
          ranges: "{{ istio_control_plane_eastwest_gateway_source_ranges }}"
""" % os.path.join(REPO, 'playbooks', 'vars', 'site.yml')
# The two VMs as google.cloud.gcp_compute lists them (group mesh_vms, the instance's JSON as host variables).
INVENTORY = """
all:
  children:
    mesh_vms:
      hosts:
        istio-gce:
          networkInterfaces: [{networkIP: 10.168.0.20, accessConfigs: [{natIP: 203.0.113.5}]}]
        istio-gce-2:
          networkInterfaces: [{networkIP: 10.168.0.21, accessConfigs: [{natIP: 203.0.113.6}]}]
"""


@pytest.mark.parametrize('internal, expected', [
    (None, ['10.168.0.20/32', '10.168.0.21/32']),
    (False, ['203.0.113.5/32', '203.0.113.6/32']),
])
def test_the_gateway_admits_the_vms_only(run_playbook, tmp_path, internal, expected):
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(INVENTORY)
    extra = {} if internal is None else {'istio_control_plane_eastwest_gateway_internal': internal}
    shown = run_playbook(PLAY, inventory=str(inventory), extra_vars=extra)
    assert shown.task('Show who may reach istiod', host='localhost')['msg']['ranges'] == expected
