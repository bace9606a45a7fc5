#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: compute_preflight
short_description: Check a project's regional quotas and OS Login before a run creates a GKE cluster and VMs
version_added: 0.1.0
description:
  - Reads, and changes nothing. Fails, with the figures and the fix, when the project could not take what the run
    would create, so that the run stops before anything is made rather than with a 403 half-way.
  - "Quotas: adds up what the O(cluster) (its nodes, or the nodes a larger O(cluster.node_count) adds to an existing
    cluster) and the O(instances) that do not exist yet would use of each region's quotas: vCPUs (C(CPUS), or the
    family's own metric such as C(N2_CPUS)), boot disk GB (C(SSD_TOTAL_GB) for V(pd-balanced) and V(pd-ssd),
    C(DISKS_TOTAL_GB) for V(pd-standard)) and external addresses (C(IN_USE_ADDRESSES): each GKE node has one, and
    each VM with O(instances[].external_ip)), and compares that with the C(limit) and C(usage) that compute
    C(regions.get) returns."
  - "OS Login: a VM on which OS Login is enabled ignores SSH keys in metadata, so a run that connects with such a key
    cannot reach it. For each of O(instances) the module reads C(enable-oslogin) from the metadata the VM is given,
    else from the VM's own metadata if it exists, else from the project metadata (compute C(projects.get)), as
    instance metadata overrides project metadata."
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
    details: The module only reads, in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  cluster:
    description: The GKE cluster the run creates (or keeps); omit when the run makes no cluster.
    type: dict
    suboptions:
      name:
        description: Cluster name.
        type: str
        required: true
      location:
        description: Zone (zonal cluster) or region (regional cluster, with nodes in three of its zones).
        type: str
        required: true
      node_pool_name:
        description: The node pool whose size an existing cluster is compared by.
        type: str
        default: default-pool
      node_count:
        description: Nodes per zone.
        type: int
        required: true
      machine_type:
        description: Machine type of the nodes.
        type: str
        required: true
      disk_size_gb:
        description: Boot disk size of each node in GB.
        type: int
        required: true
      disk_type:
        description: Boot disk type of each node.
        type: str
        choices: [pd-standard, pd-balanced, pd-ssd]
        default: pd-balanced
  instances:
    description: The VMs the run creates (or keeps); their SSH key travels in their metadata.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Instance name.
        type: str
        required: true
      zone:
        description: Zone of the instance.
        type: str
        required: true
      machine_type:
        description: Machine type.
        type: str
        required: true
      disk_size_gb:
        description: Boot disk size in GB.
        type: int
        required: true
      disk_type:
        description: Boot disk type.
        type: str
        choices: [pd-standard, pd-balanced, pd-ssd]
        default: pd-balanced
      external_ip:
        description: Whether the instance gets an ephemeral external address.
        type: bool
        default: true
      metadata:
        description: The metadata the run gives the instance (its C(enable-oslogin), if any, decides OS Login).
        type: dict
        default: {}
  check_quotas:
    description: Compare what the run creates with the regions' quotas.
    type: bool
    default: true
  check_os_login:
    description: Refuse when OS Login would be enabled on any of O(instances).
    type: bool
    default: true
  operation_timeout:
    description: Not used; the module starts no operation.
notes:
  - A new project's regional quotas are often smaller than a GKE cluster needs (500 GB of C(SSD_TOTAL_GB), 4-8
    C(IN_USE_ADDRESSES)); GKE then refuses the cluster with 403 "Insufficient regional quota to satisfy request"
    and Compute Engine a VM with 403 "Quota 'SSD_TOTAL_GB' exceeded".
  - Quota is shared with everything else in the project, so another deployment can still take it between this
    check and the creation.
  - The vCPU figure is the machine type's C(guestCpus); machine families other than N2, N2D, C2 and C2D are counted
    against C(CPUS). A metric the region does not report is not checked (a warning says so).
seealso:
  - module: meshbridge.istio_vm.container_cluster
  - module: meshbridge.istio_vm.compute_instance
  - name: Compute Engine resource quotas
    description: What counts against which regional quota.
    link: https://cloud.google.com/compute/resource-usage
  - name: OS Login
    description: OS Login replaces metadata SSH keys.
    link: https://cloud.google.com/compute/docs/oslogin
'''

EXAMPLES = r'''
- name: Check that the project can take the tutorial's cluster and VM, before making either
  meshbridge.istio_vm.compute_preflight:
    project: my-project
    auth_kind: application
    cluster:
      name: west
      location: us-west2-a
      node_count: 5
      machine_type: n1-standard-2
      disk_size_gb: 100
      disk_type: pd-balanced
    instances:
      - name: istio-gce
        zone: us-west2-a
        machine_type: n1-standard-2
        disk_size_gb: 10
        metadata:
          ssh-keys: "meshbridge:{{ lookup('ansible.builtin.file', '~/.ssh/google_compute_engine.pub') }}"
  register: preflight
'''

RETURN = r'''
quotas:
  description: Each quota the run needs some of, per region, with Google's figures and what the run needs.
  returned: always (also when the module fails for want of quota)
  type: list
  elements: dict
  sample: [{"region": "us-west2", "metric": "SSD_TOTAL_GB", "limit": 500.0, "usage": 0.0, "available": 500.0,
            "needed": 510,
            "because": ["cluster west: 5 nodes x 100 GB pd-balanced", "VM istio-gce: 10 GB pd-balanced"]}]
os_login:
  description: For each instance, whether OS Login would be on, the C(enable-oslogin) value and where it comes from.
  returned: always (also when the module fails because of OS Login)
  type: list
  elements: dict
  sample: [{"instance": "istio-gce", "enabled": true, "value": "TRUE", "source": "the project metadata"}]
operations:
  description: Always empty (the module starts no operation); there for the same shape as the other GCP modules.
  returned: always
  type: list
  elements: dict
  sample: []
api_retries:
  description: Each request retried after a 429, 5xx, a 403 C(rateLimitExceeded) or a connection error.
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
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.preflight import Preflight
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.runner import run_resource_module

_DISK_TYPES = ['pd-standard', 'pd-balanced', 'pd-ssd']


def main():
    argument_spec = gcp_argument_spec()
    argument_spec.update(
        cluster=dict(type='dict', options=dict(
            name=dict(type='str', required=True),
            location=dict(type='str', required=True),
            node_pool_name=dict(type='str', default='default-pool'),
            node_count=dict(type='int', required=True),
            machine_type=dict(type='str', required=True),
            disk_size_gb=dict(type='int', required=True),
            disk_type=dict(type='str', default='pd-balanced', choices=_DISK_TYPES),
        )),
        instances=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            zone=dict(type='str', required=True),
            machine_type=dict(type='str', required=True),
            disk_size_gb=dict(type='int', required=True),
            disk_type=dict(type='str', default='pd-balanced', choices=_DISK_TYPES),
            external_ip=dict(type='bool', default=True),
            metadata=dict(type='dict', default={}),
        )),
        check_quotas=dict(type='bool', default=True),
        check_os_login=dict(type='bool', default=True),
        # The GCP options' fragment documents it; this module starts no operation to wait for.
        operation_timeout=dict(type='int'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_resource_module(module, Preflight)


if __name__ == '__main__':
    main()
