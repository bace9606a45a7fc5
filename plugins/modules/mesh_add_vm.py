#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_add_vm
short_description: Add a VM workload group to an Istio mesh and write its VM bundle
version_added: 0.1.0
description:
  - Registers the services of a virtual machine with an Istio mesh running in a Kubernetes cluster, the way
    Istio documents it for VMs (Istio 1.8 and later), and writes the files the VM's sidecar needs.
  - Creates a ServiceAccount, a C(WorkloadGroup) (C(networking.istio.io/v1) where the cluster serves it, else
    C(v1beta1)) with the group's labels, ports, service account, network and readiness probe, and Services whose
    selector matches the group's labels, so that the VM is an endpoint of each Service like a pod. By default one
    Service named after the group with all its ports; O(services) gives several, for a VM that serves several
    services (for example C(productcatalogservice) on port 3550 and C(currencyservice) on port 7000).
  - With O(auto_register=false), also a static C(WorkloadEntry) for the VM's O(address); with auto-registration
    istiod creates that entry itself when the VM's sidecar connects.
  - Objects an earlier run made for the group in another mode (a static WorkloadEntry, the legacy ServiceEntry, the
    WorkloadGroup) are deleted when the current mode does not use them, and so are the group's Services that
    O(services) no longer lists. Entries istiod auto-registered are left to istiod.
  - Writes the VM bundle into O(bundle_dir) on the controller (directory mode 0700, files 0600), with the content
    C(istioctl x workload entry configure -f wg.yaml -o DIR --clusterID C [--autoregister] [--internalIP ADDRESS])
    writes for the same group, C(cluster.env), C(mesh.yaml), C(root-cert.pem), C(istio-token) and C(hosts).
  - The bootstrap token comes from a TokenRequest for the group's service account (audience C(istio-ca)). It is
    reissued only when the existing one is missing, expired, for another account, inside O(token_renew_before), or
    no longer accepted by the cluster (a TokenReview, as istiod makes; a cluster deleted and made again under the
    same name, or a service account made again); it never appears in the module's output, diff or logs.
  - The credentials need to create C(serviceaccounts/token) and C(tokenreviews) (cluster-admin, as the tutorial
    binds, can).
  - O(mode=legacy) makes instead what C(istioctl x add-to-mesh external-service) made for Istio 1.6 and earlier (a
    selector-less Service and a ServiceEntry C(mesh-expansion-NAME) with the VM's address), for clusters whose
    Istio has no WorkloadGroup.
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_istio_vm
  - meshbridge.istio_vm.kube
attributes:
  check_mode:
    support: full
    details: Reads the cluster and the bundle directory, reports what would change, requests no token.
  diff_mode:
    support: full
    details: Shows the managed fields of each object and each bundle file; the token shows as a placeholder.
  idempotent:
    support: full
    details: >-
      A second run changes nothing, unless the token has to be reissued (expired, within O(token_renew_before), or
      refused by the cluster).
options:
  name:
    description:
      - Name of the WorkloadGroup and, unless O(services) says otherwise, of the Service that selects the VM, for
        example C(productcatalogservice).
      - A DNS-1035 label (lower-case letters, digits and C(-), starting with a letter).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the group, the Service and the service account. It must exist.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the objects and the bundle; V(absent) deletes the objects this module made for
        the group (those labelled C(app.kubernetes.io/managed-by=meshbridge.istio_vm), all its Services included)
        and the bundle files. The service account stays while another group this module made still uses it
        (see RV(kept_objects)).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(workload_group) registers the VM through a WorkloadGroup; V(legacy) creates a selector-less Service and a
        ServiceEntry as C(istioctl x add-to-mesh external-service) did.
    type: str
    choices: [workload_group, legacy]
    default: workload_group
  service_account:
    description:
      - Kubernetes service account the VM's workloads run as; its SPIFFE identity is
        C(spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT). Created when missing. Defaults to O(name).
    type: str
  labels:
    description:
      - Labels of the VM's workloads; the Service selects the VM by them. Defaults to C(app=NAME).
      - Give C(app) and C(version) for Istio's canonical service name and revision.
    type: dict
  annotations:
    description:
      - Annotations of the VM's workloads, written to the WorkloadGroup's C(spec.metadata.annotations) (and to the
        static WorkloadEntry with O(auto_register=false)); istiod gives them to the WorkloadEntry it registers.
      - >-
        C(proxy.istio.io/config) overrides the mesh's default proxy config for the VM, as YAML text of ProxyConfig
        fields (for example C(concurrency: 2), or a C(proxyMetadata) mapping); it goes into the bundle's
        C(mesh.yaml) and C(cluster.env) as C(istioctl x workload entry configure) puts it there, its
        C(proxyMetadata) merged key by key into the mesh's.
      - Keys have the form of label keys (C([prefix/]name)); values are strings. C(meshbridge.io/workload-group) is
        the module's own.
    type: dict
  ports:
    description:
      - The ports the VM serves. Required with O(state=present).
      - An empty list for a VM that serves no port and only calls services in the mesh, as a WorkloadGroup without
        ports is for istioctl; then no Service selects the VM (O(services) must not list any), the sidecar captures
        all inbound traffic (C(ISTIO_INBOUND_PORTS=*)), and O(mode=legacy) is refused.
    type: list
    elements: dict
    suboptions:
      number:
        description: Port number.
        type: int
        required: true
      protocol:
        description: Protocol; Istio reads it from the port name.
        type: str
        choices: [grpc, grpc-web, http, http2, https, mongo, mysql, redis, tcp, tls, udp]
        default: tcp
      name:
        description:
          - Port name, V(PROTOCOL) or starting with V(PROTOCOL-). Defaults to C(PROTOCOL-NUMBER), for example
            C(grpc-3550).
        type: str
  services:
    description:
      - The Kubernetes Services that select the VM, one per entry, each in O(namespace), selecting the group's
        O(labels) and exposing the listed ports with their O(ports) names and protocols. Clients in the cluster reach
        each service by its own name.
      - When not given, one Service named after the group (O(name)) with all of O(ports).
      - A Service the group no longer lists, made by an earlier run, is deleted. A Service named other than the group
        carries the annotation C(meshbridge.io/workload-group=NAME), so that groups in one namespace never touch each
        other's Services; the module refuses a name taken by another group's Service or by a Service it did not make.
      - With O(mode=legacy), at most one entry (C(istioctl x add-to-mesh) made one Service); the ServiceEntry then
        serves that Service's host and ports.
      - Ignored with O(state=absent), which deletes all the group's Services.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the Service, a DNS-1035 label (lower-case letters, digits and C(-), starting with a letter),
            unique in the list.
        type: str
        required: true
      ports:
        description:
          - Numbers of the ports the Service exposes; each one of the O(ports[].number) values. At least one.
        type: list
        elements: int
        required: true
  network:
    description:
      - Istio network of the VM (C(ISTIO_META_NETWORK)). A VM that reaches the pods directly (in the cluster's VPC)
        takes the cluster's network name (C(values.global.network)); left empty while the cluster has one, istiod sends
        the VM's calls to pods through the east-west gateway's cross-network port 15443 instead.
    type: str
    default: ''
  address:
    description:
      - IP address of the VM. Required with O(auto_register=false) and O(mode=legacy).
      - Written to C(cluster.env) as C(ISTIO_SVC_IP), as C(istioctl ... --internalIP) does.
    type: str
  auto_register:
    description:
      - Let istiod create the VM's WorkloadEntry when its sidecar connects (C(ISTIO_META_AUTO_REGISTER_GROUP)).
        When false, the module creates a static WorkloadEntry for O(address).
    type: bool
    default: true
  probe:
    description:
      - Readiness probe of the group, run by the VM's sidecar. Give exactly one of O(probe.http_get),
        O(probe.tcp_socket), O(probe.grpc), O(probe.exec).
    type: dict
    suboptions:
      http_get:
        description: HTTP GET check.
        type: dict
        suboptions:
          path:
            description: Path to request.
            type: str
          port:
            description: Port to request.
            type: int
            required: true
          host:
            description: Host to connect to; the VM itself by default.
            type: str
          scheme:
            description: V(HTTP) or V(HTTPS).
            type: str
            choices: [HTTP, HTTPS]
          http_headers:
            description: Headers to send.
            type: list
            elements: dict
            suboptions:
              name:
                description: Header name.
                type: str
                required: true
              value:
                description: Header value.
                type: str
                required: true
      tcp_socket:
        description: TCP connect check.
        type: dict
        suboptions:
          host:
            description: Host to connect to.
            type: str
          port:
            description: Port to connect to.
            type: int
            required: true
      grpc:
        description: gRPC health check.
        type: dict
        suboptions:
          port:
            description: Port of the gRPC health service.
            type: int
            required: true
          service:
            description: Service name to ask about.
            type: str
      exec:
        description: Command check.
        type: dict
        suboptions:
          command:
            description: Command and arguments.
            type: list
            elements: str
            required: true
      initial_delay_seconds:
        description: Seconds before the first check.
        type: int
      timeout_seconds:
        description: Seconds a check may take.
        type: int
      period_seconds:
        description: Seconds between checks.
        type: int
      success_threshold:
        description: Consecutive successes that make the VM ready.
        type: int
      failure_threshold:
        description: Consecutive failures that make it unready.
        type: int
  bundle_dir:
    description:
      - Directory on the controller for the VM bundle. Created with mode 0700; its files get mode 0600.
    type: path
    required: true
  cluster_id:
    description:
      - Cluster name Istio was installed with (C(ISTIO_META_CLUSTER_ID)). Read from
        C(values.global.multiCluster.clusterName) of ConfigMap C(istio-sidecar-injector[-REVISION]) when not given.
    type: str
  revision:
    description:
      - Istio revision of the control plane the VM connects to; empty (or V(default)) for the default one.
    type: str
    default: ''
  istio_namespace:
    description:
      - Namespace of Istio's control plane.
    type: str
    default: istio-system
  istiod_address:
    description:
      - IP address at which the VM reaches istiod (port 15012), written to the C(hosts) file.
      - When not given, the load balancer address of O(gateway_service) in O(istio_namespace).
    type: str
  gateway_service:
    description:
      - Service of the gateway that exposes istiod to VMs; its load balancer address (the first ingress's IP, else
        its first external IP, as istioctl reads it) goes into C(hosts). Empty for none (see O(require_gateway)).
    type: str
    default: istio-eastwestgateway
  require_gateway:
    description:
      - Whether a missing O(gateway_service), or one without an address, stops the module (without O(istiod_address)).
      - When false, the C(hosts) file is then empty and the module warns, as C(istioctl x workload entry configure)
        does, for a VM that resolves istiod's name itself (its own DNS). Has no effect with O(istiod_address), so
        the two are refused together.
    type: bool
    default: true
  capture_dns:
    description:
      - Let the VM's sidecar capture DNS (C(ISTIO_META_DNS_CAPTURE)), as C(istioctl --capture-dns) does by default.
    type: bool
    default: true
  token_duration:
    description:
      - Lifetime of a new bootstrap token, in seconds; at least 600, the API server's minimum for a TokenRequest.
    type: int
    default: 3600
  token_renew_before:
    description:
      - Reissue the token when it expires within this many seconds. Less than O(token_duration).
    type: int
    default: 300
  wait_timeout:
    description:
      - Seconds to wait for istiod to publish ConfigMap C(istio-ca-root-cert) in O(namespace).
    type: int
    default: 60
notes:
  - The VM's sidecar must use the bundle before its token expires; run the module again shortly before copying the
    bundle to a VM that has not joined yet.
  - Differences from istioctl, none of which change what the sidecar reads; files are 0600 and the directory 0700
    (istioctl writes 0744), C(ISTIO_INBOUND_PORTS) lists the ports in ascending order (istioctl follows Go's
    random map order), and each run of either makes its own token. tests/lab/test_bundle_parity.py compares the two
    on a real API server.
  - >-
    Refused where istioctl writes a bundle anyway: a cluster ID it cannot read (istioctl writes an empty one) and,
    unless O(require_gateway=false), no address for istiod.
seealso:
  - name: Istio, Virtual Machine Installation
    description: The manual procedure this module automates.
    link: https://istio.io/latest/docs/setup/install/virtual-machine/
  - module: meshbridge.istio_vm.istio_install
"""

EXAMPLES = r"""
- name: Register productcatalogservice on a VM, with auto-registration
  meshbridge.istio_vm.mesh_add_vm:
    name: productcatalogservice
    namespace: default
    labels:
      app: productcatalogservice
      version: v1
    ports:
      - number: 3550
        protocol: grpc
    probe:
      grpc:
        port: 3550
      period_seconds: 5
    address: 10.168.0.20
    network: ''
    bundle_dir: "{{ playbook_dir }}/bundles/istio-gce"
    kubeconfig: ~/.kube/config
    context: west

- name: One VM serving two Online Boutique services, each reached by its own Service name
  meshbridge.istio_vm.mesh_add_vm:
    name: boutique-vm
    namespace: default
    labels:
      app: boutique-vm
    ports:
      - number: 3550
        protocol: grpc
      - number: 7000
        protocol: grpc
    services:
      - name: productcatalogservice
        ports: [3550]
      - name: currencyservice
        ports: [7000]
    bundle_dir: /srv/bundles/boutique-vm

- name: A VM that serves nothing and calls services in the mesh, with its own proxy config and no gateway lookup
  meshbridge.istio_vm.mesh_add_vm:
    name: batch-client
    namespace: default
    ports: []
    annotations:
      proxy.istio.io/config: |
        holdApplicationUntilProxyStarts: true
        proxyMetadata:
          ISTIO_META_DNS_AUTO_ALLOCATE: "true"
    require_gateway: false
    bundle_dir: /srv/bundles/batch-client

- name: A static WorkloadEntry instead of auto-registration
  meshbridge.istio_vm.mesh_add_vm:
    name: productcatalogservice
    namespace: default
    ports:
      - number: 3550
        protocol: grpc
    address: 10.168.0.20
    auto_register: false
    bundle_dir: /srv/bundles/istio-gce

- name: The Istio 1.6 tutorial's Service and ServiceEntry, for a cluster without WorkloadGroup
  meshbridge.istio_vm.mesh_add_vm:
    mode: legacy
    name: productcatalogservice
    namespace: default
    ports:
      - number: 3550
        protocol: grpc
    address: 10.168.0.20
    istiod_address: 10.168.8.1
    bundle_dir: /srv/bundles/istio-gce

- name: Remove the VM's objects and bundle
  meshbridge.istio_vm.mesh_add_vm:
    name: productcatalogservice
    namespace: default
    bundle_dir: /srv/bundles/istio-gce
    state: absent
"""

RETURN = r"""
bundle_dir:
  description: The bundle directory.
  returned: always
  type: str
  sample: /srv/bundles/istio-gce
bundle_files:
  description: Paths of the bundle files, by file name.
  returned: when O(state=present)
  type: dict
  sample:
    cluster.env: /srv/bundles/istio-gce/cluster.env
    mesh.yaml: /srv/bundles/istio-gce/mesh.yaml
    root-cert.pem: /srv/bundles/istio-gce/root-cert.pem
    istio-token: /srv/bundles/istio-gce/istio-token
    hosts: /srv/bundles/istio-gce/hosts
changed_files:
  description: Names of the bundle files written (or, with O(state=absent), removed); C(.) when only the directory's mode changed.
  returned: always
  type: list
  elements: str
  sample: [istio-token]
objects:
  description: The Kubernetes objects, and what the module did to each (V(create), V(update), V(none), V(delete)).
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: WorkloadGroup, api_version: networking.istio.io/v1, name: productcatalogservice, namespace: default, action: create}
kept_objects:
  description:
    - Objects of the group that O(state=absent) left in place, and why. The service account stays while another
      group this module made in the namespace (its WorkloadGroup, or its Service in legacy mode) still runs as it.
  returned: when O(state=absent)
  type: list
  elements: dict
  sample:
    - {kind: ServiceAccount, api_version: v1, name: boutique, namespace: default,
       reason: still the service account of WorkloadGroup currencyservice}
workload_group:
  description: Name of the WorkloadGroup; null in legacy mode.
  returned: when O(state=present)
  type: str
  sample: productcatalogservice
service:
  description:
    - Name of the first (by default the only) Service that represents the VM's workloads; null when none does
      (O(ports=[])).
  returned: when O(state=present)
  type: str
  sample: productcatalogservice
services:
  description: Names of the Services that represent the VM's workloads, in the order of O(services).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [productcatalogservice, currencyservice]
service_account:
  description: The service account of the VM's workloads.
  returned: when O(state=present)
  type: str
  sample: productcatalogservice
workload_entry:
  description: Name of the static WorkloadEntry; null with auto-registration and in legacy mode.
  returned: when O(state=present)
  type: str
  sample: productcatalogservice-10-168-0-20
service_entry:
  description: Name of the ServiceEntry in legacy mode; null otherwise.
  returned: when O(state=present)
  type: str
  sample: mesh-expansion-productcatalogservice
spiffe_id:
  description: The SPIFFE identity of the VM's workloads, which istiod puts in their certificates.
  returned: when O(state=present)
  type: str
  sample: spiffe://cluster.local/ns/default/sa/productcatalogservice
istiod_host:
  description: The host name the VM resolves istiod by, through the C(hosts) file.
  returned: when O(state=present)
  type: str
  sample: istiod.istio-system.svc
istiod_address:
  description: The address the C(hosts) file gives that name; null when the file is empty (O(require_gateway=false)).
  returned: when O(state=present)
  type: str
  sample: 10.168.8.1
cluster_id:
  description: The cluster ID written to the bundle.
  returned: when O(state=present)
  type: str
  sample: west
token_reissued:
  description: Whether a new bootstrap token was requested (or, in check mode, would be).
  returned: when O(state=present)
  type: bool
  sample: false
token_reissue_reason:
  description: Why the token was (or would be) reissued; null when it was kept.
  returned: when O(state=present)
  type: str
  sample: the existing token expires at 2026-11-24T22:00:00+00:00, within the renew window
token_expires_at:
  description: Expiry of the token in the bundle (ISO 8601, UTC); null in check mode when a new one would be requested.
  returned: when O(state=present)
  type: str
  sample: '2026-11-24T22:00:00+00:00'
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kube, workload_group
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.bundle_dir import BundleDirError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.go_yaml import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import MeshAddVmError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.runner import MeshAddVmRunner


def _argument_spec():
    port = {'type': 'int', 'required': True}
    probe = {
        'http_get': {'type': 'dict', 'options': {
            'path': {'type': 'str'}, 'port': port, 'host': {'type': 'str'},
            'scheme': {'type': 'str', 'choices': ['HTTP', 'HTTPS']},
            'http_headers': {'type': 'list', 'elements': 'dict', 'options': {
                'name': {'type': 'str', 'required': True}, 'value': {'type': 'str', 'required': True}}}}},
        'tcp_socket': {'type': 'dict', 'options': {'host': {'type': 'str'}, 'port': port}},
        'grpc': {'type': 'dict', 'options': {'port': port, 'service': {'type': 'str'}}},
        'exec': {'type': 'dict', 'options': {'command': {'type': 'list', 'elements': 'str', 'required': True}}},
    }
    for option in ('initial_delay_seconds', 'timeout_seconds', 'period_seconds', 'success_threshold', 'failure_threshold'):
        probe[option] = {'type': 'int'}
    spec = {
        'name': {'type': 'str', 'required': True},
        'namespace': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
        'mode': {'type': 'str', 'choices': ['workload_group', 'legacy'], 'default': 'workload_group'},
        'service_account': {'type': 'str'},
        'labels': {'type': 'dict'},
        'annotations': {'type': 'dict'},
        'ports': {'type': 'list', 'elements': 'dict', 'options': {
            'number': {'type': 'int', 'required': True},
            'protocol': {'type': 'str', 'choices': list(workload_group.PROTOCOLS), 'default': 'tcp'},
            'name': {'type': 'str'}}},
        'services': {'type': 'list', 'elements': 'dict', 'options': {
            'name': {'type': 'str', 'required': True},
            'ports': {'type': 'list', 'elements': 'int', 'required': True}}},
        'network': {'type': 'str', 'default': ''},
        'address': {'type': 'str'},
        'auto_register': {'type': 'bool', 'default': True},
        'probe': {'type': 'dict', 'options': probe, 'mutually_exclusive': [list(workload_group.PROBE_KINDS)]},
        'bundle_dir': {'type': 'path', 'required': True},
        'cluster_id': {'type': 'str'},
        'revision': {'type': 'str', 'default': ''},
        'istio_namespace': {'type': 'str', 'default': 'istio-system'},
        'istiod_address': {'type': 'str'},
        'gateway_service': {'type': 'str', 'default': 'istio-eastwestgateway'},
        'require_gateway': {'type': 'bool', 'default': True},
        'capture_dns': {'type': 'bool', 'default': True},
        'token_duration': {'type': 'int', 'default': 3600, 'no_log': False},
        'token_renew_before': {'type': 'int', 'default': 300, 'no_log': False},
        'wait_timeout': {'type': 'int', 'default': 60},
    }
    spec.update(kube.KUBE_AUTH_ARG_SPEC)
    return spec


def _check_numbers(params):
    if params['token_duration'] < 600:
        raise workload_group.WorkloadSpecError('token_duration must be at least 600 seconds (the API server minimum)')
    if not 0 <= params['token_renew_before'] < params['token_duration']:
        raise workload_group.WorkloadSpecError('token_renew_before must be at least 0 and less than token_duration (%d)' % params['token_duration'])
    if params['wait_timeout'] < 0:
        raise workload_group.WorkloadSpecError('wait_timeout must not be negative')
    if params.get('istiod_address'):
        workload_group.check_ip(params['istiod_address'], 'istiod_address')
        if not params['require_gateway']:
            raise workload_group.WorkloadSpecError(
                'require_gateway=false has no effect when istiod_address is given (the hosts file names that address): '
                'remove one of them')


def main():
    module = AnsibleModule(argument_spec=_argument_spec(), supports_check_mode=True)
    kube.fail_without_kubernetes(module)
    if not HAS_YAML:
        module.fail_json(msg='mesh_add_vm needs PyYAML on the controller', exception=YAML_IMPORT_ERROR)
    params = module.params
    try:
        _check_numbers(params)
        workload = workload_group.VmWorkload(params)
    except workload_group.WorkloadSpecError as error:
        module.fail_json(msg=str(error))
    try:
        client = kube.connect(params, discovery_cache_dir=module.tmpdir)
        runner = MeshAddVmRunner(client, workload, params, check_mode=module.check_mode, module=module)
        result = runner.present() if params['state'] == 'present' else runner.absent()
    except (MeshAddVmError, BundleDirError, kube.KubeError) as error:
        module.fail_json(msg=str(error))
    for warning in runner.warnings:
        module.warn(warning)
    if module._diff:
        result['diff'] = runner.diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
