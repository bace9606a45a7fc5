#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: container_cluster
short_description: A VPC-native GKE cluster with one node pool
version_added: 0.1.0
description:
  - Creates or deletes a GKE Standard cluster with IP aliases (VPC-native) always on, one node pool, a release
    channel, Cloud Logging and Monitoring, and resource labels.
  - Keeps node count (C(setSize)), release channel (one C(clusters.update)), logging and monitoring (one
    C(clusters.update) for both, as GKE takes the Kubernetes logging and monitoring services only together) and
    resource labels in sync. Network, node machine type, disk size, disk type, image type and address ranges are
    fixed at creation; when they differ the module fails and names them.
  - The node count compared with O(node_count) is read per zone from the node pool's managed instance groups
    (their C(targetSize)), not from the cluster's deprecated C(currentNodeCount), which counts every pool and
    zone and, during an upgrade, the surge nodes.
  - Before changing or deleting an existing cluster the module waits for the operations running on it, GKE's own
    (auto-upgrades, repairs) included, as GKE refuses other changes meanwhile (400 C(FAILED_PRECONDITION),
    "Cluster is running incompatible operation"). A change GKE still refuses for that reason is retried with
    backoff, at most O(api_retries) times. Each wait is named in a warning and listed in RV(operations); each
    refusal in RV(api_retries).
  - Waits, bounded by O(operation_timeout), for every operation and for the cluster to be C(RUNNING). A cluster
    left in C(ERROR) by a failed creation is deleted and created again (O(state=present)) or deleted
    (O(state=absent)); either reports a change, check mode predicts it without deleting anything, and a replacement
    is named in a warning and in the diff's headers.
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
    details: The diff shows the managed fields before and after.
  idempotent:
    support: full
options:
  name:
    description: Name of the cluster (RFC 1035, 1-40 characters in GKE).
    type: str
    required: true
  state:
    description: Whether the cluster should exist.
    type: str
    choices: [present, absent]
    default: present
  location:
    description: Zone (zonal cluster) or region (regional cluster), for example V(us-west2-a).
    type: str
    required: true
    aliases: [zone]
  network:
    description: The VPC network name.
    type: str
    default: default
  subnetwork:
    description: The subnetwork name, for custom-mode networks.
    type: str
  node_pool_name:
    description: Name of the node pool (RFC 1035, 1-40 characters in GKE).
    type: str
    default: default-pool
  node_count:
    description:
      - Nodes per zone of the pool. A regional cluster has nodes in each zone of its region (usually three), so it
        runs that many times O(node_count) nodes; the module compares per zone.
    type: int
    default: 3
  machine_type:
    description: Machine type of the nodes.
    type: str
    default: e2-medium
  disk_size_gb:
    description: Boot disk size of each node in GB.
    type: int
    default: 100
  disk_type:
    description:
      - Boot disk type of each node. V(pd-balanced) and V(pd-ssd) count against the region's C(SSD_TOTAL_GB)
        quota, V(pd-standard) against C(DISKS_TOTAL_GB), which new projects have more of.
    type: str
    choices: [pd-standard, pd-balanced, pd-ssd]
    default: pd-balanced
  image_type:
    description: Node image. Docker-based C(COS) was removed in GKE 1.24; C(COS_CONTAINERD) is its successor.
    type: str
    default: COS_CONTAINERD
  node_oauth_scopes:
    description: OAuth scopes of the nodes' service account.
    type: list
    elements: str
    default:
      - https://www.googleapis.com/auth/cloud-platform
  release_channel:
    description: GKE release channel; the cluster runs that channel's current version.
    type: str
    choices: [RAPID, REGULAR, STABLE, EXTENDED]
    default: REGULAR
  cloud_logging:
    description:
      - Send system and workload logs to Cloud Logging (C(logging.googleapis.com/kubernetes)).
      - GKE takes the Kubernetes logging and monitoring services only together, so this must equal
        O(cloud_monitoring); the module refuses other combinations before any call.
    type: bool
    default: true
  cloud_monitoring:
    description:
      - Send metrics to Cloud Monitoring (C(monitoring.googleapis.com/kubernetes)). Must equal O(cloud_logging).
    type: bool
    default: true
  cluster_ipv4_cidr:
    description: The pod address range; GKE picks one when not given (and then it is not compared).
    type: str
  services_ipv4_cidr:
    description: The Service address range; GKE picks one when not given (and then it is not compared).
    type: str
  resource_labels:
    description: Labels of the cluster; exactly these are kept.
    type: dict
    default: {}
  operation_timeout:
    default: 2400
  wait:
    description:
      - Whether to wait for the cluster's creation or deletion. With V(false) the module starts it and returns the
        operation in RV(operation) at once, for M(meshbridge.istio_vm.container_operation_info) to wait for, which
        shows each step's status (the P(meshbridge.istio_vm.gke_cluster#role) role does that); a later run with
        V(true) compares the finished cluster.
      - Also with V(false), a cluster being created or changed (C(PROVISIONING), C(RECONCILING), C(STOPPING)), say
        by a run killed half-way, is not compared or changed; its operation is returned in RV(operation), to be
        waited for instead of started again.
      - Changes to an existing cluster, and the deletion that precedes a replacement, are always waited for.
    type: bool
    default: true
    version_added: 0.2.0
notes:
  - Replaces C(google.cloud.gcp_container_cluster) 1.10.2, measured against the lab's container stand-in (and read
    in its source). Under C(--check) that module is skipped; it has no diff; it polls operations every second with
    no time limit and never retries an HTTP 429/503. After creating a cluster it always deletes the node pool
    C(default-pool), so the created cluster had no node pool left. It compares the request wrapped in a C(cluster)
    key against the bare response, so changes are never seen; changing the release channel reported no change
    and was not applied. It does not read a container operation's error (it looks for C(error.errors)), and an
    injected creation failure surfaced as an unrelated 404 from its default-pool deletion.
seealso:
  - module: meshbridge.istio_vm.kubeconfig_entry
'''

EXAMPLES = r'''
- name: The tutorial's cluster, on the REGULAR release channel
  meshbridge.istio_vm.container_cluster:
    name: west
    location: us-west2-a
    project: my-project
    auth_kind: application
    machine_type: n1-standard-2
    node_count: 5
    disk_size_gb: 100
  register: west

- name: A smaller cluster for a new project's quota (3 nodes x 50 GB on standard disks)
  meshbridge.istio_vm.container_cluster:
    name: west
    location: us-west2-a
    project: my-project
    auth_kind: application
    node_count: 3
    disk_size_gb: 50
    disk_type: pd-standard

# The wait that shows the operation's status as it goes: see meshbridge.istio_vm.container_operation_info's example.
- name: Start the creation without waiting for it
  meshbridge.istio_vm.container_cluster:
    name: west
    location: us-west2-a
    project: my-project
    auth_kind: application
    wait: false
  register: west_started
'''

RETURN = r'''
cluster:
  description: The cluster as the API returns it (C(endpoint), C(masterAuth.clusterCaCertificate),
    C(clusterIpv4Cidr), C(servicesIpv4Cidr), ...); empty when absent or, in check mode, not yet created.
  returned: always
  type: dict
  sample: {"name": "west", "status": "RUNNING", "endpoint": "203.0.113.10", "clusterIpv4Cidr": "10.4.0.0/14",
           "servicesIpv4Cidr": "10.8.0.0/20"}
changed_fields:
  description: The managed fields that differed (and were or, in check mode, would be changed).
  returned: always
  type: list
  elements: str
  sample: [nodeCount]
operations:
  description: Each long-running operation waited for (the module's own, and those running on the cluster before it
    changed it), with its final status, polls and seconds taken.
  returned: always
  type: list
  elements: dict
  sample: [{"operation": "operation-1", "type": "CREATE_CLUSTER", "status": "DONE", "polls": 9, "elapsed": 240.5}]
api_retries:
  description: Each request retried after a 429, 5xx, a 403 C(rateLimitExceeded) or a connection error, or
    refused because the cluster was busy (cause C(400 FAILED_PRECONDITION)), with the delay before the retry.
  returned: always
  type: list
  elements: dict
  sample: []
operation:
  description:
    - The operation started (O(wait=false)) or found running on the cluster, to wait for; null when there is none
      to wait for (the module waited, or nothing had to change).
  returned: always
  type: dict
  sample: {"name": "operation-1", "operationType": "CREATE_CLUSTER", "status": "RUNNING",
           "targetLink": "https://container.googleapis.com/v1/projects/123/zones/us-west2-a/clusters/west",
           "selfLink": "https://container.googleapis.com/v1/projects/123/zones/us-west2-a/operations/operation-1",
           "startTime": "2026-01-02T03:04:05.123456789Z"}
  version_added: 0.2.0
identity:
  description: The service account the module authenticated as, when the credentials name one.
  returned: when known
  type: str
  sample: deployer@my-project.iam.gserviceaccount.com
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.auth import gcp_argument_spec
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.container import Cluster
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.gcp.runner import run_resource_module


def main():
    argument_spec = gcp_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        location=dict(type='str', required=True, aliases=['zone']),
        network=dict(type='str', default='default'),
        subnetwork=dict(type='str'),
        node_pool_name=dict(type='str', default='default-pool'),
        node_count=dict(type='int', default=3),
        machine_type=dict(type='str', default='e2-medium'),
        disk_size_gb=dict(type='int', default=100),
        disk_type=dict(type='str', default='pd-balanced', choices=['pd-standard', 'pd-balanced', 'pd-ssd']),
        image_type=dict(type='str', default='COS_CONTAINERD'),
        node_oauth_scopes=dict(type='list', elements='str', default=['https://www.googleapis.com/auth/cloud-platform']),
        release_channel=dict(type='str', default='REGULAR', choices=['RAPID', 'REGULAR', 'STABLE', 'EXTENDED']),
        cloud_logging=dict(type='bool', default=True),
        cloud_monitoring=dict(type='bool', default=True),
        cluster_ipv4_cidr=dict(type='str'),
        services_ipv4_cidr=dict(type='str'),
        resource_labels=dict(type='dict', default={}),
        operation_timeout=dict(type='int', default=2400),
        wait=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_resource_module(module, Cluster)


if __name__ == '__main__':
    main()
