#!/usr/bin/python
# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: istio_install
short_description: Install Istio with VM support (east-west gateway, istiod exposed) using istioctl
version_added: 0.1.0
description:
  - Installs, upgrades or removes one revision of Istio in a Kubernetes cluster with C(istioctl install), configured
    for workloads on virtual machines as Istio's "Virtual Machine Installation" guide does it.
  - The IstioOperator sets the mesh ID, cluster name and network, turns on workload entry auto-registration and
    health checks, adds the east-west gateway C(istio-eastwestgateway) (ports 15021, 15443, 15012, 15017), and the
    module exposes istiod through it with Gateway C(istiod-gateway) and VirtualService C(istiod-vs).
  - istioctl is downloaded once per version from the Istio release, checked against its published SHA-256 and kept
    in O(cache_dir); or O(istioctl_path) names one.
  - Idempotent by reading the cluster (istiod's image and labels, ConfigMaps C(istio) and C(istio-sidecar-injector),
    the gateways) and comparing with what is asked. istiod's image tag gives the installed version, without a
    variant suffix (C(-distroless), C(-debug)).
  - istioctl is obtained (downloaded, or O(istioctl_path)'s version checked) and run only when something must
    change; a run that changes nothing neither downloads nor runs it.
author:
  - meshbridge maintainers (@meshbridge)
extends_documentation_fragment:
  - meshbridge.istio_vm.attributes
  - meshbridge.istio_vm.attributes.action_group_istio_vm
  - meshbridge.istio_vm.kube
attributes:
  check_mode:
    support: full
    details:
      - Nothing in the cluster changes. When a change is due, C(istioctl manifest generate) checks the
        IstioOperator as C(istioctl install) would, so the istioctl release is then downloaded into O(cache_dir).
  diff_mode:
    support: full
    details:
      - Before and after of version, revision, mesh ID, trust domain, cluster name, network, the gateways and a
        digest of the whole IstioOperator (which covers O(values) and O(components)).
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) installs or upgrades the revision to match the options; V(absent) removes it.
      - V(absent) without O(revision) runs C(istioctl uninstall --purge), which removes every revision and Istio's
        CRDs (and so every Istio resource in the cluster); with O(revision) only that revision goes.
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - The Istio release to install, C(MAJOR.MINOR.PATCH) (for example C(1.24.2)), or a C(-alpha.N), C(-beta.N),
        C(-rc.N) pre-release.
      - Changing it upgrades the revision in place.
    type: str
    required: true
  istioctl_path:
    description:
      - Path of an istioctl to use instead of downloading the release. Its client version must equal O(version);
        it is checked when istioctl must run.
    type: path
  release_url:
    description:
      - Where Istio releases are downloaded from; the archive is
        C(<release_url>/<version>/istio-<version>-<platform>.tar.gz), its checksum the same URL plus C(.sha256).
      - The platform is the machine running the module, as Istio names its archives - V(linux-amd64),
        V(linux-arm64), V(osx) (x86_64 macOS) or V(osx-arm64). Other machines need O(istioctl_path).
    type: str
    default: https://github.com/istio/istio/releases/download
  cache_dir:
    description:
      - Directory on the controller that keeps downloaded istioctl binaries, one subdirectory per version.
    type: path
    default: ~/.cache/meshbridge.istio_vm/istio
  profile:
    description:
      - The istioctl installation profile the IstioOperator starts from.
    type: str
    default: default
  revision:
    description:
      - Istio revision (a DNS-1123 label, for example C(1-24-2)); empty installs the default revision.
    type: str
    default: ''
  mesh_id:
    description:
      - Mesh ID (C(values.global.meshID)); VMs get it in C(ISTIO_META_MESH_ID). A DNS-1123 label.
      - Unset, the mesh ID is not managed (whatever the IstioOperator's defaults give).
    type: str
  cluster_name:
    description:
      - Cluster name (C(values.global.multiCluster.clusterName)), the cluster ID VMs present. A DNS-1123 label.
    type: str
  network:
    description:
      - Network of the cluster (C(values.global.network)), also set on the east-west gateway. A DNS-1123 label.
    type: str
  trust_domain:
    description:
      - Trust domain of the mesh (C(meshConfig.trustDomain)), the SPIFFE ID's authority. Istio's default is
        C(cluster.local).
    type: str
  values:
    description:
      - Further Helm values for the IstioOperator's C(spec.values), merged under what the options set.
      - Must not set C(global.meshID), C(global.network) or C(global.multiCluster.clusterName); use the options.
    type: dict
    default: {}
  components:
    description:
      - Further C(spec.components) of the IstioOperator (for example C(ingressGateways)).
      - Must not list C(istio-eastwestgateway); O(eastwest_gateway) adds it.
    type: dict
    default: {}
  eastwest_gateway:
    description:
      - Whether to install the east-west gateway C(istio-eastwestgateway) (label C(istio=eastwestgateway)), a
        LoadBalancer Service whose address VMs use to reach istiod.
    type: bool
    default: true
  eastwest_gateway_annotations:
    description:
      - Annotations of the east-west gateway's LoadBalancer Service (the component's C(k8s.serviceAnnotations)).
      - On GKE, C(networking.gke.io/load-balancer-type=Internal) makes it an internal passthrough Network Load
        Balancer, with an address in the VPC instead of an external one
        (U(https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters)).
    type: dict
    default: {}
  eastwest_gateway_source_ranges:
    description:
      - The only source ranges the east-west gateway admits (its Service's C(loadBalancerSourceRanges); GKE makes
        the load balancer's firewall rules from them), for example the VMs' addresses as C(/32) ranges.
      - Empty admits every address that reaches the load balancer. C(0.0.0.0/0) is refused; give none instead.
    type: list
    elements: str
    default: []
  expose_istiod:
    description:
      - Whether to expose istiod (ports 15012 and 15017) through the east-west gateway with Gateway
        C(istiod-gateway) and VirtualService C(istiod-vs), routed to this revision's istiod.
    type: bool
    default: true
  wait:
    description:
      - Wait until istiod is Available and the east-west gateway has an address (or, for V(absent), until the
        revision is gone and, without O(revision), until Kubernetes has deleted Istio's CRDs, so that an install
        right after does not meet CRDs still being deleted).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, for C(istioctl install) to see its Deployments ready and then for the gateway address.
    type: int
    default: 300
seealso:
  - name: Istio, Virtual Machine Installation
    description: The installation this module automates.
    link: https://istio.io/latest/docs/setup/install/virtual-machine/
  - module: kubernetes.core.k8s
notes:
  - The stored IstioOperator digest is the label C(meshbridge.io/install-digest) on istiod's Deployment.
requirements:
  - kubernetes >= 24.2.0 (Python library)
  - PyYAML (Python library)
"""

EXAMPLES = r"""
- name: Install Istio 1.24.2 for VMs in the cluster of context west
  meshbridge.istio_vm.istio_install:
    version: 1.24.2
    context: west
    mesh_id: mesh1
    cluster_name: west
    network: west-network
  register: istio

- name: Show the address VMs use to reach istiod
  ansible.builtin.debug:
    msg: "istiod for VMs: {{ istio.istiod_address }}"

- name: Install a revision with more istiod replicas, istioctl from a given path
  meshbridge.istio_vm.istio_install:
    version: 1.24.2
    istioctl_path: /usr/local/bin/istioctl
    revision: 1-24-2
    mesh_id: mesh1
    cluster_name: west
    network: west-network
    components:
      pilot:
        k8s:
          replicaCount: 2

- name: Remove Istio entirely (all revisions, CRDs)
  meshbridge.istio_vm.istio_install:
    version: 1.24.2
    state: absent
"""

RETURN = r"""
version:
  description: The Istio version the revision runs (istiod's image tag); null after removal.
  returned: always
  type: str
  sample: 1.24.2
revision:
  description: The revision; empty for the default revision.
  returned: always
  type: str
  sample: ''
istiod_address:
  description: The east-west gateway's load balancer address, through which VMs reach istiod.
  returned: when state is present and eastwest_gateway is true
  type: str
  sample: 10.168.8.1
mesh_id:
  description: The mesh ID in the mesh config.
  returned: when state is present
  type: str
  sample: mesh1
trust_domain:
  description: The trust domain in the mesh config.
  returned: when state is present
  type: str
  sample: cluster.local
cluster_name:
  description: The cluster name (cluster ID).
  returned: when state is present
  type: str
  sample: west
network:
  description: The cluster's network.
  returned: when state is present
  type: str
  sample: west-network
istioctl:
  description: Path of the istioctl used; null when nothing had to change, as istioctl is then not needed.
  returned: when state is present
  type: str
  sample: /home/user/.cache/meshbridge.istio_vm/istio/1.24.2/istioctl
operator:
  description: The IstioOperator given to istioctl.
  returned: when state is present
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.istio_installer import run_istio_install
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.istio_release import (
    DEFAULT_CACHE_DIR,
    DEFAULT_RELEASE_URL,
)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.kube import KUBE_AUTH_ARG_SPEC


def main():
    argument_spec = dict(
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        version=dict(type='str', required=True),
        istioctl_path=dict(type='path'),
        release_url=dict(type='str', default=DEFAULT_RELEASE_URL),
        cache_dir=dict(type='path', default=DEFAULT_CACHE_DIR),
        profile=dict(type='str', default='default'),
        revision=dict(type='str', default=''),
        mesh_id=dict(type='str'),
        cluster_name=dict(type='str'),
        network=dict(type='str'),
        trust_domain=dict(type='str'),
        values=dict(type='dict', default={}),
        components=dict(type='dict', default={}),
        eastwest_gateway=dict(type='bool', default=True),
        eastwest_gateway_annotations=dict(type='dict', default={}),
        eastwest_gateway_source_ranges=dict(type='list', elements='str', default=[]),
        expose_istiod=dict(type='bool', default=True),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=300),
    )
    argument_spec.update(KUBE_AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_istio_install(module)


if __name__ == '__main__':
    main()
