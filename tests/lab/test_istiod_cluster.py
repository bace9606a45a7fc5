"""A lab cluster's istiod end as lab.world wires it: at the east-west gateway's LoadBalancer address, port 15012,
inside the cluster's network namespace, reached from the controller across the VPC; gone with istiod."""

import json
import os
import subprocess
import sys

import pytest

from lab.istio.istiod import testing as istiod_testing
from lab.istio.istiod.supervisor import ClusterIstiod
from lab.kubernetes.load_balancers import LoadBalancerController
from lab.kubernetes.testing import running_control_plane
from lab.net import netns
from lab.net.commands import wait_for

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_NAME = 'istiod.istio-system.svc'

# A CreateCertificate through mesh_client, run by a python inside the controller's namespace (gRPC opens its
# sockets on threads of its own, so the whole process has to be there).
_CLIENT = '''
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lab.istio.proto import stubs
client = stubs.load()['mesh_client']
args = json.loads(sys.argv[1])
key = ec.generate_private_key(ec.SECP256R1())
csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
       .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(args['identity'])]), critical=True)
       .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
try:
    chain = client.create_certificate(args['address'], args['server_name'], args['root'], args['token'], csr,
                                      'cluster1', 3600)
except client.MeshClientError as exc:
    print('refused: %s' % exc)
else:
    print('chain of %d' % len(chain))
'''


@pytest.fixture
def cluster(vpc, tmp_path):
    """Cluster west as lab.world wires it: a control plane, its LoadBalancer addresses held in the cluster's
    namespace, and istiod's VM-facing end following the cluster."""
    network = vpc.cluster('west')
    with running_control_plane(tmp_path / 'kube') as kube:
        load_balancers = LoadBalancerController(kube.kubeconfig, '10.168.8.0/27', network.add_lb_address,
                                                network.remove_lb_address).start()
        try:
            supervisor = ClusterIstiod(kube, network.netns).start()
            try:
                yield kube, network, supervisor
            finally:
                supervisor.stop()
        finally:
            load_balancers.stop()
            for address in network.lb_addresses():
                network.remove_lb_address(address)


def _east_west_gateway(api):
    api.create('/api/v1/namespaces/istio-system/services', {
        'metadata': {'name': 'istio-eastwestgateway', 'labels': {'istio': 'eastwestgateway'}},
        'spec': {'type': 'LoadBalancer', 'selector': {'istio': 'eastwestgateway'},
                 'ports': [{'name': 'tcp-istiod', 'port': 15012, 'targetPort': 15012}]}})
    wait_for(lambda: ((api.get('/api/v1/namespaces/istio-system/services/istio-eastwestgateway')['status']
                       .get('loadBalancer') or {}).get('ingress')), timeout=15, what='the gateway address')
    return api.get('/api/v1/namespaces/istio-system/services/istio-eastwestgateway')['status']['loadBalancer'][
        'ingress'][0]['ip']


def _from_controller(vpc, argv, timeout=60):
    return subprocess.run(netns.command(vpc.controller_netns, argv), capture_output=True, text=True, timeout=timeout,
                          check=False, env=dict(os.environ, PYTHONPATH=REPO))


def test_istiod_serves_vms_at_the_east_west_gateway_address_until_istiod_goes(vpc, cluster, tmp_path):
    kube, network, supervisor = cluster
    api = istiod_testing.kube_api(kube)
    paths = istiod_testing.install_for_istiod(kube, str(tmp_path / 'ca'))
    address = _east_west_gateway(api)
    assert address in [str(a) for a in network.lb_addresses()]
    wait_for(lambda: supervisor.istiod is not None, timeout=15, what='istiod to serve at %s:15012' % address)

    shown = _from_controller(vpc, ['openssl', 's_client', '-connect', '%s:15012' % address, '-servername', SERVER_NAME,
                                   '-alpn', 'h2', '-CAfile', paths['root-cert.pem'], '-verify_hostname', SERVER_NAME,
                                   '-verify_return_error'])
    assert 'Verify return code: 0 (ok)' in shown.stdout, shown.stdout + shown.stderr

    api.create('/api/v1/namespaces', {'metadata': {'name': 'vm'}})
    api.create('/api/v1/namespaces/vm/serviceaccounts', {'metadata': {'name': 'vm-sa'}})
    token = api.create('/api/v1/namespaces/vm/serviceaccounts/vm-sa/token', {
        'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest',
        'spec': {'audiences': ['istio-ca'], 'expirationSeconds': 3600}})['status']['token']
    with open(paths['root-cert.pem'], encoding='ascii') as handle:
        root = handle.read()
    args = {'address': '%s:15012' % address, 'server_name': SERVER_NAME, 'root': root, 'token': token,
            'identity': 'spiffe://cluster.local/ns/vm/sa/vm-sa'}
    signed = _from_controller(vpc, [sys.executable, '-c', _CLIENT, json.dumps(args)])
    assert signed.stdout.strip() == 'chain of 3', signed.stdout + signed.stderr

    api.delete('/apis/apps/v1/namespaces/istio-system/deployments/istiod')
    wait_for(lambda: supervisor.istiod is None, timeout=15, what='istiod to stop with its Deployment')
    gone = _from_controller(vpc, [sys.executable, '-c', _CLIENT, json.dumps(args)])
    assert gone.stdout.startswith('refused: istiod at %s:15012 unreachable' % address), gone.stdout + gone.stderr
    api.close()
