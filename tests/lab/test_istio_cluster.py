"""Istio in a lab cluster as lab.world wires it: the real istioctl installs, the real istiod runs for the istiod pod
(lab.istio.istiod_pods) with the plug-in CA, the API server reaches its webhooks through the cluster's service
routing, and VMs reach it through the east-west gateway's passthrough routes (lab.istio.eastwest_gateway)."""

import base64
import glob
import os
import socket
import subprocess

import yaml

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_operator
from lab.istio.testing import istioctl, istioctl_install, plug_in_ca_files, running_cluster_istio
from lab.net import addresses, netns
from lab.net.commands import wait_for

pytestmark = pytest.mark.lab

SERVER_NAME = 'istiod.istio-system.svc'
SETTINGS = {'version': '1.31.0', 'profile': 'default', 'mesh_id': 'mesh1', 'network': 'vpc-net',
            'cluster_name': 'west', 'eastwest_gateway': True, 'trust_domain': 'cluster.local'}


@pytest.fixture(scope='module')
def cluster(vpc, tmp_path_factory):
    """Cluster west with Istio installed by the real istioctl over a plug-in CA; yields (plane, istio, ca paths)."""
    state = tmp_path_factory.mktemp('west')
    with running_cluster_istio(state, vpc.cluster('west')) as (plane, istio):
        ca = plug_in_ca_files(str(state / 'ca'), 'west')
        plane.api('POST', '/api/v1/namespaces', {'metadata': {'name': 'istio-system'}})
        data = {}
        for name, path in ca.items():
            with open(path, 'rb') as handle:
                data[name] = base64.b64encode(handle.read()).decode()
        status, answer = plane.api('POST', '/api/v1/namespaces/istio-system/secrets',
                                   {'metadata': {'name': 'cacerts'}, 'type': 'Opaque', 'data': data})
        assert status == 201, answer
        installed = istioctl_install(plane, istio_operator.build_operator(SETTINGS))
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield plane, istio, ca


def _validation_policy(plane):
    _status, config = plane.api('GET', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/'
                                       'istio-validator-istio-system')
    return config['webhooks'][0].get('failurePolicy')


def test_the_real_istiod_runs_for_the_istiod_pod_and_becomes_the_validating_webhook(cluster):
    plane, istio, _ca = cluster
    wait_for(lambda: any(running for _address, running in istio.istiods.pods().values()), timeout=60,
             what='pilot-discovery for the istiod pod')
    # istiod switches its validating webhook to Fail once a dry-run call through the API server reaches it: proof
    # that the API server's webhook calls get to the real istiod.
    wait_for(lambda: _validation_policy(plane) == 'Fail', timeout=90, what='istiod to take over validation')
    status, answer = plane.api('POST', '/apis/networking.istio.io/v1/namespaces/default/virtualservices', {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'VirtualService',
        'metadata': {'name': 'bad', 'labels': {'istio.io/rev': 'default'}},
        'spec': {'hosts': ['a'], 'http': [{'route': [{'destination': {'host': 'a'}, 'weight': -5}]}]}})
    assert status == 400 and 'denied the request' in answer['message'], answer


def test_pods_in_an_injection_namespace_get_the_sidecar_from_the_real_injector(cluster):
    plane, _istio, _ca = cluster
    wait_for(lambda: _validation_policy(plane) == 'Fail', timeout=90, what='istiod to serve its webhooks')
    plane.api('POST', '/api/v1/namespaces', {'metadata': {'name': 'shop', 'labels': {'istio-injection': 'enabled'}}})
    status, pod = plane.api('POST', '/api/v1/namespaces/shop/pods', {'metadata': {'name': 'web'}, 'spec': {
        'containers': [{'name': 'web', 'image': 'example.invalid/web:1', 'ports': [{'containerPort': 8080}]}]}})
    assert status == 201, pod
    names = [c['name'] for c in pod['spec'].get('initContainers', []) + pod['spec']['containers']]
    assert 'istio-proxy' in names, names
    assert pod['metadata']['annotations']['sidecar.istio.io/status']


def _job_pod(plane, namespace, job):
    _status, pods = plane.api('GET', '/api/v1/namespaces/%s/pods?labelSelector=job-name%%3D%s' % (namespace, job))
    return (pods.get('items') or [None])[0]


def test_a_job_pod_with_the_sidecar_runs_for_real_and_its_end_is_reported(cluster):
    """(Before the istiod pod is replaced below: KWOK may then hand istiod's address, the cluster namespace's own first
    pod address, to the next pod, which the lab cannot give a namespace of its own: lab.istio.pod_sandbox.)
    The injected Job pod runs its containers (the real grpcurl) behind the real pilot-agent and Envoy as a native
    sidecar; its end comes from what ran, not from KWOK: one call the real istiod answers (reflection on 15010,
    through the pod's sidecar) and one that fails, with grpcurl's own message."""
    plane, istio, _ca = cluster
    wait_for(lambda: _validation_policy(plane) == 'Fail', timeout=90, what='istiod to serve its webhooks')
    plane.api('POST', '/api/v1/namespaces', {'metadata': {'name': 'jobs', 'labels': {'istio-injection': 'enabled'}}})
    target = 'istiod.istio-system.svc.cluster.local:15010'
    status, answer = plane.api('POST', '/apis/batch/v1/namespaces/jobs/jobs', {
        'metadata': {'name': 'calls'}, 'spec': {'backoffLimit': 0, 'template': {
            'metadata': {'annotations': {'sidecar.istio.io/nativeSidecar': 'true'}},
            'spec': {'restartPolicy': 'Never', 'containers': [
                {'name': 'lists', 'image': 'fullstorydev/grpcurl:v1.9.3', 'args': ['-plaintext', target, 'list']},
                {'name': 'unknown-method', 'image': 'fullstorydev/grpcurl:v1.9.3',
                 'terminationMessagePolicy': 'FallbackToLogsOnError',
                 'args': ['-plaintext', target, 'no.such.Service/Call']}]}}}})
    assert status == 201, answer
    wait_for(lambda: (_job_pod(plane, 'jobs', 'calls') or {}).get('status', {}).get('phase') in ('Succeeded', 'Failed'),
             timeout=180, what='the Job pod to end')
    pod = _job_pod(plane, 'jobs', 'calls')
    assert [c['name'] for c in pod['spec']['initContainers']] == ['istio-init', 'istio-proxy']
    assert pod['status']['phase'] == 'Failed'
    ended = {c['name']: c['state']['terminated'] for c in pod['status']['containerStatuses']}
    assert ended['lists']['exitCode'] == 0, ended
    assert ended['unknown-method']['exitCode'] != 0 and 'no.such.Service' in ended['unknown-method']['message'], ended
    # What the real istiod answered, in the container's log (what `kubectl logs` would show).
    [log_path] = glob.glob(os.path.join(istio.mesh_pods.state_dir, 'jobs.%s-*' % pod['metadata']['name'], 'logs',
                                        'lists.log'))
    with open(log_path, encoding='utf-8') as handle:
        assert 'envoy.service.discovery.v3.AggregatedDiscoveryService' in handle.read()
    # The Job controller saw the pod fail (backoffLimit 0), as it does on a node.
    wait_for(lambda: any(c['type'] == 'Failed' and c['status'] == 'True' for c in
                         plane.api('GET', '/apis/batch/v1/namespaces/jobs/jobs/calls')[1]['status'].get('conditions') or []),
             timeout=60, what='the Job to be Failed')


def test_vms_reach_istiod_through_the_gateway_only_once_it_is_exposed(vpc, cluster):
    plane, istio, ca = cluster
    _status, service = plane.api('GET', '/api/v1/namespaces/istio-system/services/istio-eastwestgateway')
    address = service['status']['loadBalancer']['ingress'][0]['ip']
    assert 15012 not in istio.gateway.routes
    for obj in istio_operator.expose_istiod(''):
        plural = obj['kind'].lower() + 's'
        status, answer = plane.api('POST', '/apis/networking.istio.io/v1/namespaces/istio-system/' + plural, obj)
        assert status == 201, answer
    wait_for(lambda: 15012 in istio.gateway.routes, timeout=30, what='the gateway route to istiod')
    shown = subprocess.run(netns.command(vpc.controller_netns, [
        'openssl', 's_client', '-connect', '%s:15012' % address, '-servername', SERVER_NAME, '-alpn', 'h2',
        '-CAfile', ca['root-cert.pem'], '-verify_hostname', SERVER_NAME, '-verify_return_error']),
        input=b'', capture_output=True, timeout=60, check=False)
    # s_client also prints what istiod sends after the handshake (HTTP/2 frames, binary), so decode leniently.
    shown.stdout, shown.stderr = (out.decode('utf-8', 'replace') for out in (shown.stdout, shown.stderr))
    # istiod's serving certificate comes from the plug-in intermediate and verifies up to the plug-in root.
    assert 'Verify return code: 0 (ok)' in shown.stdout, shown.stdout + shown.stderr
    assert 'Intermediate CA west' in shown.stdout


def test_a_replaced_istiod_pod_gets_its_own_istiod_and_the_old_one_stops(cluster):
    plane, istio, _ca = cluster
    wait_for(istio.istiods.pods, timeout=60, what='the istiod pod')
    [(old_name, (old_address, _running))] = istio.istiods.pods().items()
    status, answer = plane.api('DELETE', '/api/v1/namespaces/istio-system/pods/' + old_name)
    assert status == 200, answer
    # The ReplicaSet makes another pod (KWOK runs it at another address); the lab runs istiod for it instead.
    wait_for(lambda: old_name not in istio.istiods.pods() and any(
        running for _address, running in istio.istiods.pods().values()), timeout=90,
        what='istiod to move from pod %s to its replacement' % old_name)
    [(_new_name, (new_address, _running))] = istio.istiods.pods().items()
    network = istio.istiods.network
    # The old pod's address goes with it, unless it is the new pod's too, or the namespace's own first pod address
    # (KWOK may hand that one to a pod: the node's first pod address).
    assert old_address not in [str(a) for a in network.pod_addresses()] or \
        old_address in (new_address, str(network.pod_address))


def _reaches(vpc, address, port=15012):
    """Whether a TCP connection from the controller's address gets an answer (a dropped SYN times out)."""
    try:
        netns.connect_tcp(vpc.controller_netns, address, port, timeout=1.5).close()
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionRefusedError:
        pass
    return True


def test_only_the_gateway_source_ranges_reach_it(vpc, cluster):
    plane, _istio, _ca = cluster
    path = '/api/v1/namespaces/istio-system/services/istio-eastwestgateway'

    def set_ranges(ranges):
        _status, service = plane.api('GET', path)
        service['spec']['loadBalancerSourceRanges'] = ranges
        status, answer = plane.api('PUT', path, service)
        assert status == 200, answer
        return service['status']['loadBalancer']['ingress'][0]['ip']

    # The controller (10.168.15.254) is not a source the gateway admits: dropped, as GCP's firewall drops it.
    address = set_ranges(['10.168.0.20/32'])
    wait_for(lambda: not _reaches(vpc, address), timeout=15, what='the controller refused')
    set_ranges(['10.168.0.20/32', '%s/32' % addresses.CONTROLLER])
    wait_for(lambda: _reaches(vpc, address), timeout=15, what='the controller admitted')
    set_ranges(None)
    wait_for(lambda: _reaches(vpc, address), timeout=15, what='no ranges: every source admitted')


def test_istioctl_puts_the_gateway_service_settings_on_the_service(cluster):
    plane, _istio, _ca = cluster
    internal = {'networking.gke.io/load-balancer-type': 'Internal'}
    operator = istio_operator.build_operator(dict(SETTINGS, eastwest_gateway_annotations=internal,
                                                  eastwest_gateway_source_ranges=['10.168.0.20/32']))
    generated = istioctl(plane, 'manifest', 'generate', '-f', '-', stdin=yaml.safe_dump(operator))
    assert generated.returncode == 0, generated.stderr
    [service] = [obj for obj in yaml.safe_load_all(generated.stdout)
                 if obj and obj['kind'] == 'Service' and obj['metadata']['name'] == 'istio-eastwestgateway']
    assert service['metadata']['annotations'] == internal
    assert service['spec']['type'] == 'LoadBalancer'
    assert service['spec']['loadBalancerSourceRanges'] == ['10.168.0.20/32']
    assert [port['port'] for port in service['spec']['ports']] == [15021, 15443, 15012, 15017]
