# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: mesh_registration
short_description: How one VM of the VM list joins the mesh
version_added: 0.1.0
author: meshbridge maintainers (@meshbridge)
description:
  - Turns one entry of the VM list C(gce_vm_instances) (a name and the services the VM runs, each with a name and
    a port) into the arguments of M(meshbridge.istio_vm.mesh_add_vm) for that VM.
  - A VM runs one sidecar with one identity, so it is one WorkloadGroup named after the VM, with its own service
    account (a VM receives only its own identity). Each of its services gets a Kubernetes Service of the service's
    name selecting the VM, so clients in the cluster keep calling C(productcatalogservice:3550) as before.
options:
  _input:
    description: One VM entry, a C(name) and C(services), each service a C(name), a C(port) and optionally a C(protocol).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Register each VM with the mesh
  meshbridge.istio_vm.mesh_add_vm:
    name: "{{ (item | meshbridge.istio_vm.mesh_registration).name }}"
    namespace: default
    ports: "{{ (item | meshbridge.istio_vm.mesh_registration).ports }}"
    services: "{{ (item | meshbridge.istio_vm.mesh_registration).services }}"
    bundle_dir: /srv/mesh/{{ item.name }}
  loop: "{{ gce_vm_instances }}"
'''

RETURN = r'''
_value:
  description: The mesh_add_vm arguments for the VM.
  type: dict
  contains:
    name:
      description: The WorkloadGroup, also the service account; the VM's name.
      type: string
    labels:
      description: The labels the VM's WorkloadEntry carries and the Services select (C(app) = the VM's name).
      type: dict
    ports:
      description: One port per distinct service port, with C(number) and C(protocol) (C(grpc) unless the service says otherwise).
      type: list
      elements: dict
    services:
      description: One entry per service, its C(name) and C(ports).
      type: list
      elements: dict
'''

from ansible.errors import AnsibleFilterError


def mesh_registration(vm):
    try:
        name = vm['name']
        services = vm['services']
        if not services:
            raise ValueError('%s has no services' % name)
        ports = {}
        for service in services:
            ports.setdefault(int(service['port']), service.get('protocol') or 'grpc')
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('mesh_registration: a VM entry needs a name and services with a name and a port each '
                                 '(as in gce_vm_instances): %s' % exc)
    return {
        'name': name,
        'labels': {'app': name},
        'ports': [{'number': number, 'protocol': protocol} for number, protocol in sorted(ports.items())],
        'services': [{'name': service['name'], 'ports': [int(service['port'])]} for service in services],
    }


class FilterModule(object):

    def filters(self):
        return {'mesh_registration': mesh_registration}
