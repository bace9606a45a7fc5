#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: compute_instance
short_description: A Compute Engine VM instance with one boot disk and one network interface
version_added: 0.1.0
description:
  - Creates or deletes a VM and keeps its labels, network tags and the given metadata keys in sync
    (C(setLabels), C(setTags), C(setMetadata) with the current fingerprints).
  - Image, boot disk, network, subnetwork and the external address are used when the instance is created and
    not compared afterwards. Machine type and service account can change only on a stopped instance; when they
    differ the module fails and names them rather than stopping a running VM.
  - After creation the module waits (bounded by O(operation_timeout)) until the instance has left
    C(PROVISIONING)/C(STAGING).
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_gcp
  - meshbridge.istio_vm.gcp
  - meshbridge.istio_vm.gcp.operations
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the managed fields (machine type, labels, tags, managed metadata keys, service account).
  idempotent:
    support: full
options:
  name:
    description: Name of the instance (RFC 1035, 1-63 characters).
    type: str
    required: true
  state:
    description: Whether the instance should exist.
    type: str
    choices: [present, absent]
    default: present
  zone:
    description: The zone, for example V(us-west2-a).
    type: str
    required: true
  machine_type:
    description: Machine type name, for example V(n1-standard-2).
    type: str
    default: n1-standard-2
  image:
    description: Source image of the boot disk (URL or C(projects/P/global/images/family/F)); used at creation.
    type: str
    default: projects/debian-cloud/global/images/family/debian-12
  disk_size_gb:
    description: Size of the boot disk in GB (at least 10); used at creation.
    type: int
    default: 10
  disk_type:
    description: Disk type of the boot disk; used at creation.
    type: str
    default: pd-balanced
  network:
    description: The VPC network, by name or URL; used at creation.
    type: str
    default: default
  subnetwork:
    description: Subnetwork URL (C(regions/R/subnetworks/S)) for custom-mode networks; used at creation.
    type: str
  external_ip:
    description: Whether the instance gets an ephemeral external address; used at creation.
    type: bool
    default: true
  tags:
    description: Network tags (firewall rules select instances by them).
    type: list
    elements: str
    default: []
  labels:
    description: Labels of the instance; exactly these are kept.
    type: dict
    default: {}
  metadata:
    description: Metadata entries. Only these keys are compared and set; other keys (such as C(ssh-keys) added by
      gcloud or OS Login) are left as they are.
    type: dict
    default: {}
  service_account_email:
    description: Service account the VM runs as; V(default) is the Compute Engine default service account;
      empty for none. Changes only on a stopped instance.
    type: str
    default: default
  scopes_for_vm:
    description: OAuth scopes of the VM's service account, as URLs or short names (V(cloud-platform)).
    type: list
    elements: str
    default: [cloud-platform]
  operation_timeout:
    default: 600
notes:
  - Replaces C(google.cloud.gcp_compute_instance) 1.10.2, measured against the lab's compute stand-in (and read in
    its source). Under C(--check) that module is skipped; it has no diff; it polls operations every second with no
    time limit and never retries an HTTP 429/503. It compares metadata but has no code to update it (a TODO in its
    source); after changing a metadata value it reported C(changed) on every run while the instance kept the old
    value. Its C(setLabels) and C(setMachineType) calls do not wait for their operations.
seealso:
  - module: meshbridge.istio_vm.compute_firewall
'''

EXAMPLES = r'''
- name: The tutorial's VM, on Debian 12
  meshbridge.istio_vm.compute_instance:
    name: istio-gce
    project: my-project
    zone: us-west2-a
    auth_kind: serviceaccount
    service_account_file: ~/deployer.json
    machine_type: n1-standard-2
    tags: [istio-gce]
    labels:
      meshbridge-role: mesh-vm
  register: vm

- name: Start several VMs without waiting for each in turn
  meshbridge.istio_vm.compute_instance:
    name: "{{ item }}"
    project: my-project
    zone: us-west2-a
    auth_kind: application
  loop: [vm-a, vm-b]
  async: 900
  poll: 0
  register: vm_jobs
'''

RETURN = r'''
instance:
  description: The instance as the API returns it; empty when absent or, in check mode, not yet created.
  returned: always
  type: dict
  sample: {"name": "istio-gce", "status": "RUNNING",
           "networkInterfaces": [{"networkIP": "10.168.0.20", "accessConfigs": [{"natIP": "203.0.113.7"}]}]}
changed_fields:
  description: The managed fields that differed (and were or, in check mode, would be changed).
  returned: always
  type: list
  elements: str
  sample: [labels]
operations:
  description: Each long-running operation waited for, with its final status, polls and seconds taken.
  returned: always
  type: list
  elements: dict
  sample: [{"operation": "operation-1", "type": "insert", "status": "DONE", "polls": 4, "elapsed": 5.2}]
api_retries:
  description: Each request retried after a 429, 5xx or connection error, with the delay before the retry.
  returned: always
  type: list
  elements: dict
  sample: []
identity:
  description: The service account the module authenticated as, when the credentials name one.
  returned: when known
  type: str
  sample: deployer@my-project.iam.gserviceaccount.com
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.auth import gcp_argument_spec
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.compute import Instance
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.runner import run_resource_module


def main():
    argument_spec = gcp_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        zone=dict(type='str', required=True),
        machine_type=dict(type='str', default='n1-standard-2'),
        image=dict(type='str', default='projects/debian-cloud/global/images/family/debian-12'),
        disk_size_gb=dict(type='int', default=10),
        disk_type=dict(type='str', default='pd-balanced'),
        network=dict(type='str', default='default'),
        subnetwork=dict(type='str'),
        external_ip=dict(type='bool', default=True),
        tags=dict(type='list', elements='str', default=[]),
        labels=dict(type='dict', default={}),
        metadata=dict(type='dict', default={}),
        service_account_email=dict(type='str', default='default'),
        scopes_for_vm=dict(type='list', elements='str', default=['cloud-platform']),
        operation_timeout=dict(type='int', default=600),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_resource_module(module, Instance)


if __name__ == '__main__':
    main()
