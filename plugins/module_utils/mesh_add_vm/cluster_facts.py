# -*- coding: utf-8 -*-
# Copyright (c) meshbridge.istio_vm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What mesh_add_vm reads from the cluster before it plans anything: which Istio API versions are served, whether
the namespace exists, the mesh config, the cluster ID, the address the VM reaches istiod at and istiod's root
certificate, each read where ``istioctl x workload entry configure`` reads it. Reading only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import go_yaml, vm_bundle
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.errors import INSTALL_HINT, MeshAddVmError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout, Poller

ROOT_CERT_CONFIG_MAP = 'istio-ca-root-cert'
ROOT_CERT_KEY = 'root-cert.pem'
ISTIO_GROUP_VERSIONS = ('networking.istio.io/v1', 'networking.istio.io/v1beta1')
DEFAULT_TRUST_DOMAIN = 'cluster.local'


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class ClusterFacts:
    """The cluster as mesh_add_vm's options point at it (``params``: revision, istio_namespace, cluster_id,
    istiod_address, gateway_service, require_gateway, wait_timeout) for the group in ``namespace``. Each method
    raises MeshAddVmError, saying what to do, where the cluster lacks what it needs; ``warnings`` collects what the
    module should say without stopping."""

    def __init__(self, kube, params, namespace, sleep=time.sleep):
        self.kube = kube
        self.params = params
        self.namespace = namespace
        self._sleep = sleep
        self.warnings = []

    def served_istio_version(self, kind):
        """The networking.istio.io version the API server serves ``kind`` in (v1 before v1beta1), or None."""
        for api_version in ISTIO_GROUP_VERSIONS:
            if self.kube.serves(api_version, kind):
                return api_version
        return None

    def require_istio_version(self, kind):
        api_version = self.served_istio_version(kind)
        if api_version is None:
            raise MeshAddVmError('Istio is not installed in this cluster: the API server serves no %s '
                                 '(networking.istio.io v1 or v1beta1); %s' % (kind, INSTALL_HINT))
        return api_version

    def namespace_exists(self):
        return self.kube.get('v1', 'Namespace', self.namespace) is not None

    def require_namespace(self):
        if not self.namespace_exists():
            raise MeshAddVmError('namespace %r does not exist: create it (and label it for injection) before adding '
                                 'VMs to it, or set namespace to an existing one' % self.namespace)

    def mesh_config(self):
        """Key ``mesh`` of ConfigMap ``istio[-REVISION]``, parsed."""
        revision, istio_namespace = self.params['revision'], self.params['istio_namespace']
        name = vm_bundle.mesh_config_map_name(revision)
        config_map = self.kube.get('v1', 'ConfigMap', name, istio_namespace)
        if config_map is None:
            raise MeshAddVmError('ConfigMap %s/%s (the mesh config of revision %r) not found: Istio is not installed '
                                 'with that revision; %s, or set revision and istio_namespace to match the install'
                                 % (istio_namespace, name, revision or 'default', INSTALL_HINT))
        text = (config_map.get('data') or {}).get('mesh') or '{}'
        try:
            return go_yaml.yaml.safe_load(text) or {}
        except go_yaml.yaml.YAMLError as error:
            raise MeshAddVmError('ConfigMap %s/%s key mesh is not YAML: %s' % (istio_namespace, name, error)) from None

    @staticmethod
    def trust_domain(mesh_config):
        return mesh_config.get('trustDomain') or DEFAULT_TRUST_DOMAIN

    def cluster_id(self):
        """The cluster_id option, else ``values.global.multiCluster.clusterName`` of the injector config, as istioctl
        reads it."""
        if self.params.get('cluster_id'):
            return self.params['cluster_id']
        revision, istio_namespace = self.params['revision'], self.params['istio_namespace']
        name = vm_bundle.injector_config_map_name(revision)
        config_map = self.kube.get('v1', 'ConfigMap', name, istio_namespace) or {}
        try:
            values = json.loads((config_map.get('data') or {}).get('values') or '{}')
            cluster_id = values['global']['multiCluster']['clusterName']
        except (ValueError, KeyError, TypeError):
            cluster_id = None
        if not cluster_id:
            raise MeshAddVmError('cannot tell the cluster ID: ConfigMap %s/%s has no '
                                 'values.global.multiCluster.clusterName; set cluster_id to the cluster name Istio was '
                                 'installed with' % (istio_namespace, name))
        return cluster_id

    def istiod_address(self):
        """The address the VM reaches istiod at: the istiod_address option, else the east-west gateway's address as
        istioctl looks it up: the first load balancer ingress's IP when there is an ingress, else the first external
        IP. None (an empty hosts file, with a warning) when there is none and require_gateway is false."""
        if self.params.get('istiod_address'):
            return self.params['istiod_address']
        name, namespace = self.params['gateway_service'], self.params['istio_namespace']
        service = self.kube.get('v1', 'Service', name, namespace) if name else None
        address = None
        if service is not None:
            ingress = ((service.get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
            external = (service.get('spec') or {}).get('externalIPs') or []
            address = ingress[0].get('ip') if ingress else (external[0] if external else None)
        if address and _is_ip(address):
            return address
        if not name:
            problem = 'gateway_service is empty'
        else:
            problem = 'Service %s/%s %s' % (
                namespace, name, 'does not exist' if service is None else 'has no load balancer IP or external IP')
        if self.params.get('require_gateway', True):
            raise MeshAddVmError('no address found for istiod: %s; expose istiod through the east-west gateway '
                                 '(istio_install), set istiod_address to the IP the VM reaches istiod at, or set '
                                 'require_gateway=false for an empty hosts file' % problem)
        self.warnings.append('no address found for istiod (%s): the hosts file is empty, so the VM must resolve %s '
                             'itself' % (problem, vm_bundle.istiod_host(namespace, self.params['revision'])))
        return None

    def root_cert(self):
        """Key root-cert.pem of ConfigMap istio-ca-root-cert in the group's namespace. istiod publishes it into
        every namespace shortly after the namespace appears, so wait for it up to wait_timeout."""
        namespace = self.namespace

        def read():
            config_map = self.kube.get('v1', 'ConfigMap', ROOT_CERT_CONFIG_MAP, namespace)
            return ((config_map or {}).get('data') or {}).get(ROOT_CERT_KEY)

        try:
            root_cert, _reads, _elapsed = Poller(sleep=self._sleep).until(
                read, bool, self.params['wait_timeout'], lambda value: 'ConfigMap %s/%s has no key %s'
                % (namespace, ROOT_CERT_CONFIG_MAP, ROOT_CERT_KEY))
        except PollTimeout:
            raise MeshAddVmError('ConfigMap %s/%s with key %s did not appear within %d s: istiod publishes it once it '
                                 'runs; check istiod in %s (or raise wait_timeout)'
                                 % (namespace, ROOT_CERT_CONFIG_MAP, ROOT_CERT_KEY, self.params['wait_timeout'],
                                    self.params['istio_namespace'])) from None
        return root_cert
