"""mesh_add_vm writes the VM bundle the real istioctl writes, file for file.

For each input set below, on one real control plane (kube-apiserver and friends from lab/tools) with Istio's real
CRDs (``manifests/charts/base/files/crd-all.gen.yaml`` of the istio.io/istio module pinned in lab/tools/go.mod):

1. mesh_add_vm runs through real ansible-playbook (as tests/integration/test_mesh_add_vm.py runs it) and makes the
   ServiceAccount, WorkloadGroup, Services and its bundle;
2. the real istioctl built from the same pin (``istioctl x workload entry configure``) reads that same
   WorkloadGroup, once from the API server (``--name GROUP``) and once from a file (``-f``, the group as kubectl
   gets it), with the flags that say what the module's options say, and writes its bundle;
3. the directories must hold the same files with the same bytes, except for the differences listed in
   DOCUMENTED_DIFFERENCES (each with its reason), which the comparison allows and nothing else.

What istioctl reads, and what the fixture therefore puts in the cluster (istioctl/pkg/workload/workload.go at the
pin): the mesh config, key ``mesh`` of ConfigMap ``istio[-REV]`` in istio-system; the cluster ID, key ``values``
(JSON) ``global.multiCluster.clusterName`` of ConfigMap ``istio-sidecar-injector[-REV]`` unless ``--clusterID``;
key ``root-cert.pem`` of ConfigMap ``istio-ca-root-cert`` in the group's namespace; a TokenRequest for the group's
service account; the east-west gateway Service's ``status.loadBalancer.ingress[0].ip`` (else ``spec.externalIPs[0]``)
unless ``--ingressIP``. istiod itself is not needed by either tool.

Not compared, because istioctl writes no usable bundle there: a proxy.istio.io/config annotation with proxyMetadata
on a mesh whose defaultConfig has no proxyMetadata (istioctl at the pin panics, "assignment to entry in nil map",
in createMeshConfig; mesh_add_vm merges the two as istioctl means to, so the annotations set uses a mesh config with
proxyMetadata); a cluster ID istioctl cannot read (it writes an empty one; mesh_add_vm refuses and asks for
cluster_id).
"""

import base64
import datetime
import difflib
import json
import os
import stat
import subprocess
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.kubernetes import binaries
from lab.kubernetes.testing import running_control_plane
from lab.net.commands import wait_for
from tests.support.istio import EASTWEST_GATEWAY_PORTS
from tests.support.kubectl import Kubectl

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMESPACE = 'parity'
LB_RANGE = '10.168.8.64/27'
BUNDLE_FILES = ['cluster.env', 'hosts', 'istio-token', 'mesh.yaml', 'root-cert.pem']

# Everything in which the two bundles may differ, and why. The comparison applies exactly these and fails on
# anything else.
DOCUMENTED_DIFFERENCES = {
    'file modes': 'istioctl writes the directory and every file 0744 (world-readable, token included); mesh_add_vm '
                  'writes 0700 and 0600 because istio-token is a credential. Modes are not compared; the '
                  'module\'s are asserted.',
    'istio-token value': 'each tool makes its own TokenRequest, so the JWTs differ (issued-at, expiry, jti). Both '
                         'must be accepted by the cluster (TokenReview, audience istio-ca) as the same service '
                         'account, with the same lifetime.',
    'ISTIO_INBOUND_PORTS order': 'istioctl joins the template\'s port numbers in Go map iteration order, which is '
                                 'random from run to run; mesh_add_vm writes them ascending (one of istioctl\'s '
                                 'outputs). The port numbers of the two lines are compared as sorted lists.',
}

# The mesh config of a real install of the tutorial's control plane (istio-discovery chart: trust domain, root
# namespace, default providers, meshId, discoveryAddress), as the default revision's ConfigMap istio.
TUTORIAL_MESH = {
    'trustDomain': 'cluster.local',
    'rootNamespace': 'istio-system',
    'defaultProviders': {'metrics': ['prometheus']},
    'enablePrometheusMerge': True,
    'defaultConfig': {'meshId': 'mesh1', 'discoveryAddress': 'istiod.istio-system.svc:15012'},
}

# A mesh config with proxyMetadata (as VM support's values put it) and more of ProxyConfig's field types: a
# duration, an enum, a wrapped bool and int, a nested message, and a status port of its own.
RICH_MESH = {
    'trustDomain': 'example.org',
    'rootNamespace': 'istio-system',
    'accessLogFile': '/dev/stdout',
    'defaultConfig': {
        'meshId': 'mesh-rich',
        'discoveryAddress': 'istiod.istio-system.svc:15012',
        'proxyMetadata': {'ISTIO_META_DNS_CAPTURE': 'false', 'ISTIO_META_DNS_AUTO_ALLOCATE': 'true',
                          'BOOTSTRAP_XDS_AGENT': 'true', 'A1': 'sorts before A=', 'A': 'x y'},
        'drainDuration': '45s',
        'interceptionMode': 'TPROXY',
        'holdApplicationUntilProxyStarts': True,
        'concurrency': 2,
        'statusPort': 15099,
        'tracing': {'zipkin': {'address': 'zipkin.istio-system:9411'}, 'sampling': 10},
    },
}

REVISION_MESH = {
    'trustDomain': 'cluster.local',
    'rootNamespace': 'istio-system',
    'defaultConfig': {'meshId': 'mesh1', 'proxyMetadata': {'ISTIO_META_DNS_CAPTURE': 'true'},
                      'interceptionMode': 'REDIRECT', 'holdApplicationUntilProxyStarts': False,
                      'tracing': {'sampling': 1.0, 'zipkin': {'address': ''}}, 'statusPort': 0},
}


# Stackdriver tracing: wrapped 64-bit integers (JSON strings, zero included) beside a plain bool at its zero value.
STACKDRIVER_MESH = {
    'trustDomain': 'cluster.local',
    'defaultConfig': {'meshId': 'mesh1', 'proxyMetadata': {},
                      'tracing': {'stackdriver': {'debug': False, 'maxNumberOfAttributes': 200,
                                                  'maxNumberOfAnnotations': 0}}},
}


def _istio_module_dir():
    """The istio.io/istio module's source directory at lab/tools' pin (in the Go module cache)."""
    completed = subprocess.run(['/usr/local/go/bin/go', 'list', '-m', '-f', '{{.Dir}}', 'istio.io/istio'],
                               cwd=os.path.join(TOP, 'lab', 'tools'), capture_output=True, text=True, timeout=120,
                               check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def _config_map(kubectl, name, namespace, data):
    body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name, 'namespace': namespace}, 'data': data}
    kubectl.run('apply', '--server-side', '--force-conflicts', '-f', '-', stdin=json.dumps(body))


def _mesh(kubectl, mesh, revision=''):
    _config_map(kubectl, 'istio-%s' % revision if revision else 'istio', 'istio-system', {'mesh': yaml.safe_dump(mesh)})


def _injector(kubectl, cluster_name, revision=''):
    values = {'global': {'meshID': 'mesh1', 'multiCluster': {'clusterName': cluster_name}, 'network': ''}}
    name = 'istio-sidecar-injector-%s' % revision if revision else 'istio-sidecar-injector'
    _config_map(kubectl, name, 'istio-system', {'values': json.dumps(values), 'config': 'policy: enabled\n'})


def _root_pem():
    """A self-signed mesh root, as istiod publishes its CA's root in ConfigMap istio-ca-root-cert."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Istio'),
                      x509.NameAttribute(NameOID.COMMON_NAME, 'Root CA')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """A real control plane with Istio's CRDs, the ConfigMaps an install leaves, the east-west gateway with its load
    balancer address, and namespace parity with istiod's root certificate ConfigMap."""
    crds = os.path.join(_istio_module_dir(), 'manifests', 'charts', 'base', 'files', 'crd-all.gen.yaml')
    with running_control_plane(tmp_path_factory.mktemp('kube'), lb_range=LB_RANGE) as api:
        kubectl = Kubectl(api.kubeconfig, tmp_path_factory.mktemp('home'))
        kubectl.run('apply', '--server-side', '-f', crds)
        for crd in kubectl.run('get', 'crd', '-o', 'name').stdout.split():
            kubectl.wait_established(crd.split('/', 1)[1])
        for namespace in ('istio-system', NAMESPACE):
            kubectl.run('create', 'namespace', namespace)
        _config_map(kubectl, 'istio-ca-root-cert', NAMESPACE, {'root-cert.pem': _root_pem()})
        _mesh(kubectl, TUTORIAL_MESH)
        _injector(kubectl, 'west')
        _mesh(kubectl, REVISION_MESH, 'canary')
        _injector(kubectl, 'west-canary', 'canary')
        gateway = {'apiVersion': 'v1', 'kind': 'Service',
                   'metadata': {'name': 'istio-eastwestgateway', 'namespace': 'istio-system'},
                   'spec': {'type': 'LoadBalancer', 'selector': {'istio': 'eastwestgateway'},
                            'ports': EASTWEST_GATEWAY_PORTS}}
        kubectl.run('apply', '-f', '-', stdin=json.dumps(gateway))

        def gateway_ip():
            status = kubectl.get('service', 'istio-eastwestgateway', 'istio-system').get('status') or {}
            return ((status.get('loadBalancer') or {}).get('ingress') or [{}])[0].get('ip')
        # A gateway reached at an external IP instead of a load balancer (istioctl's second choice).
        external = {'apiVersion': 'v1', 'kind': 'Service',
                    'metadata': {'name': 'istio-external-gateway', 'namespace': 'istio-system'},
                    'spec': {'selector': {'istio': 'eastwestgateway'}, 'ports': EASTWEST_GATEWAY_PORTS,
                             'externalIPs': ['10.168.9.9']}}
        kubectl.run('apply', '-f', '-', stdin=json.dumps(external))
        wait_for(gateway_ip, timeout=30, what='the east-west gateway\'s load balancer address', interval=0.2)
        # A CRD just Established may still answer 404 or 503 for its resources for a moment: wait until the
        # WorkloadGroup resource lists.
        wait_for(lambda: kubectl.run('get', 'workloadgroups.networking.istio.io', '-n', NAMESPACE,
                                     check=False).returncode == 0,
                 timeout=30, what='WorkloadGroups served', interval=0.2)
        api.kubectl = kubectl
        yield api


def _probe(**fields):
    return fields


# Each input set: the module's arguments, the matching istioctl flags, the mesh config of the default revision
# during the run (None: TUTORIAL_MESH), and the WorkloadGroup fields the set is about (checked on the server, so
# that a set tests what it says).
INPUT_SETS = {
    'tutorial-auto-ipv4': dict(
        module={'labels': {'app': 'productcatalogservice', 'version': 'v1'},
                'ports': [{'number': 3550, 'protocol': 'grpc'}], 'address': '10.168.0.20',
                'probe': _probe(grpc={'port': 3550}, period_seconds=5)},
        istioctl=['--autoregister', '--internalIP', '10.168.0.20']),
    'revision-canary': dict(
        module={'labels': {'app': 'catalog-canary'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': '10.168.0.21', 'revision': 'canary'},
        istioctl=['--autoregister', '--internalIP', '10.168.0.21', '--revision', 'canary']),
    'static-ipv6-cluster-id': dict(
        module={'labels': {'app': 'catalog-v6', 'version': 'v2'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': 'fd00:10:168::20', 'auto_register': False, 'cluster_id': 'east'},
        istioctl=['--internalIP', 'fd00:10:168::20', '--clusterID', 'east']),
    'labels-several-ports-network': dict(
        module={'labels': {'app.kubernetes.io/name': 'catalog', 'app.kubernetes.io/version': '1.2.3',
                           'app': 'ignored-for-canonical', 'team': 'a-b_c.d'},
                'service_account': 'catalog-sa', 'network': 'vpc-west',
                'ports': [{'number': 8080, 'protocol': 'http'}, {'number': 3550, 'protocol': 'grpc'},
                          {'number': 9443, 'protocol': 'https', 'name': 'https-admin'}],
                'address': '10.168.0.22',
                'probe': _probe(http_get={'path': '/healthz', 'port': 8080, 'scheme': 'HTTP',
                                          'http_headers': [{'name': 'X-Probe', 'value': 'a b'}]},
                                initial_delay_seconds=3, failure_threshold=2)},
        istioctl=['--autoregister', '--internalIP', '10.168.0.22']),
    'annotations-proxy-config': dict(
        module={'labels': {'app': 'catalog-annotated'}, 'ports': [{'number': 7000, 'protocol': 'grpc'}],
                'address': '10.168.0.23',
                'annotations': {'proxy.istio.io/config': yaml.safe_dump({
                    'proxyMetadata': {'ISTIO_META_DNS_AUTO_ALLOCATE': 'false', 'QUOTED': "it's <x> & \"y\" $HOME",
                                      'LONG': ' '.join(['a long value with spaces'] * 6)},
                    'concurrency': 1, 'holdApplicationUntilProxyStarts': True}),
                    'example.com/owner': 'team boutique'}},
        istioctl=['--autoregister', '--internalIP', '10.168.0.23'],
        mesh=RICH_MESH,
        group={'metadata': {'annotations'}}),
    'no-ports': dict(
        module={'labels': {'app': 'mesh-client'}, 'ports': [], 'address': '10.168.0.24'},
        istioctl=['--autoregister', '--internalIP', '10.168.0.24'],
        mesh=STACKDRIVER_MESH),
    'capture-dns-off-rich-mesh': dict(
        module={'labels': {'app': 'catalog-nodns'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': '10.168.0.25', 'capture_dns': False,
                'probe': _probe(tcp_socket={'port': 3550}, initial_delay_seconds=0, timeout_seconds=2)},
        istioctl=['--autoregister', '--internalIP', '10.168.0.25', '--capture-dns=false'],
        mesh=RICH_MESH),
    'no-gateway-empty-hosts': dict(
        module={'labels': {'app': 'catalog-nogw'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': '10.168.0.26', 'gateway_service': 'no-such-gateway', 'require_gateway': False},
        istioctl=['--autoregister', '--internalIP', '10.168.0.26', '--ingressService', 'no-such-gateway']),
    'external-ip-gateway-exec-probe': dict(
        module={'labels': {'app': 'catalog-external'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': '10.168.0.28', 'gateway_service': 'istio-external-gateway',
                'probe': _probe(exec={'command': ['/usr/local/bin/check', '--port=3550', 'a b']},
                                period_seconds=10, success_threshold=1)},
        istioctl=['--autoregister', '--internalIP', '10.168.0.28', '--ingressService', 'istio-external-gateway']),
    'istiod-address-ipv6': dict(
        module={'labels': {'app': 'catalog-ingress'}, 'ports': [{'number': 3550, 'protocol': 'grpc'}],
                'address': '10.168.0.27', 'istiod_address': 'fd00:10:168:8::1', 'auto_register': False},
        istioctl=['--internalIP', '10.168.0.27', '--ingressIP', 'fd00:10:168:8::1']),
}


def _run_module(cluster, run_playbook, name, bundle_dir, module_args):
    args = {'name': name, 'namespace': NAMESPACE, 'bundle_dir': bundle_dir, 'kubeconfig': cluster.kubeconfig,
            'context': 'lab'}
    args.update(module_args)
    playbook = yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False,
                                'tasks': [{'name': 'Add the VM', 'meshbridge.istio_vm.mesh_add_vm': args}]}])
    result = run_playbook(playbook, expect_failure=True)
    task = result.task('Add the VM')
    assert result.returncode == 0, task.get('msg') or result.stderr[-3000:]
    return task


def _run_istioctl(cluster, group_source, output_dir, flags):
    """``istioctl x workload entry configure``; ``group_source`` is ``['--name', NAME]`` (the group as the API
    server holds it) or ``['-f', FILE]``."""
    command = [binaries.path('istioctl'), 'x', 'workload', 'entry', 'configure'] + group_source + [
        '--namespace', NAMESPACE, '-o', output_dir, '--kubeconfig', cluster.kubeconfig, '--context', 'lab',
        '--istioNamespace', 'istio-system'] + list(flags)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                               env={'PATH': '/usr/bin:/bin', 'HOME': output_dir + '.home'})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _read(directory):
    return dict((name, open(os.path.join(directory, name), encoding='utf-8').read()) for name in os.listdir(directory))


def _inbound_ports_sorted(cluster_env):
    """cluster.env with the ISTIO_INBOUND_PORTS numbers in ascending order (see DOCUMENTED_DIFFERENCES)."""
    lines = []
    for line in cluster_env.split('\n'):
        if line.startswith('ISTIO_INBOUND_PORTS=') and line != "ISTIO_INBOUND_PORTS='*'":
            numbers = line.split('=', 1)[1].strip("'").split(',')
            line = "ISTIO_INBOUND_PORTS='%s'" % ','.join(sorted(numbers, key=int))
        lines.append(line)
    return '\n'.join(lines)


def _token_review(cluster, token):
    review = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview',
              'spec': {'token': token, 'audiences': ['istio-ca']}}
    return json.loads(cluster.kubectl.run('create', '-o', 'json', '-f', '-', stdin=json.dumps(review)).stdout)['status']


def _claims(token):
    payload = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))


def compare_bundles(ours, theirs):
    """The differences between two bundles (name -> text) beyond DOCUMENTED_DIFFERENCES, as readable lines."""
    problems = []
    if sorted(ours) != sorted(theirs):
        problems.append('file names: mesh_add_vm %s, istioctl %s' % (sorted(ours), sorted(theirs)))
    for name in sorted(set(ours) & set(theirs) - {'istio-token'}):
        mine, real = ours[name], theirs[name]
        if name == 'cluster.env':
            mine, real = _inbound_ports_sorted(mine), _inbound_ports_sorted(real)
        if mine != real:
            diff = difflib.unified_diff(real.splitlines(True), mine.splitlines(True), 'istioctl/' + name,
                                        'mesh_add_vm/' + name)
            problems.append(''.join(diff))
    return problems


@pytest.mark.parametrize('set_name', sorted(INPUT_SETS))
def test_bundle_matches_istioctl(cluster, run_playbook, tmp_path, set_name):
    inputs = INPUT_SETS[set_name]
    name = 'wg-' + set_name
    _mesh(cluster.kubectl, inputs.get('mesh') or TUTORIAL_MESH)
    ours_dir = str(tmp_path / 'mesh_add_vm')
    result = _run_module(cluster, run_playbook, name, ours_dir, inputs['module'])
    group = cluster.kubectl.get('workloadgroups.networking.istio.io', name, NAMESPACE)
    for field in inputs.get('group', {}).get('metadata', ()):
        assert group['spec']['metadata'].get(field), (field, group)
    # The group as istioctl reads it from the API server (--name), and from a file as the module's documentation
    # says (-f, the group as kubectl gets it): istioctl fills in defaults only for the file.
    group_file = tmp_path / 'wg.yaml'
    group_file.write_text(cluster.kubectl.run('get', 'workloadgroups.networking.istio.io', name, '-n', NAMESPACE,
                                              '-o', 'yaml').stdout)
    ours = _read(ours_dir)
    assert stat.S_IMODE(os.stat(ours_dir).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(os.path.join(ours_dir, name)).st_mode) == 0o600 for name in ours)
    account = 'system:serviceaccount:%s:%s' % (NAMESPACE, result['service_account'])
    for source, group_source in (('api', ['--name', name]), ('file', ['-f', str(group_file)])):
        theirs_dir = str(tmp_path / ('istioctl-' + source))
        started = time.time()
        _run_istioctl(cluster, group_source, theirs_dir, inputs['istioctl'])
        theirs = _read(theirs_dir)

        problems = compare_bundles(ours, theirs)
        assert not problems, 'istioctl reading the group from the %s:\n%s' % (source, '\n'.join(problems))

        # The tokens: different JWTs, the same account, audience and lifetime, both accepted by the cluster.
        for token in (ours['istio-token'], theirs['istio-token']):
            review = _token_review(cluster, token)
            assert review.get('authenticated') and review['user']['username'] == account, review
            claims = _claims(token)
            assert claims['aud'] == ['istio-ca'] and claims['exp'] - claims['iat'] == 3600, claims
        assert _claims(theirs['istio-token'])['iat'] >= int(started) - 1


def test_the_comparison_catches_a_difference():
    """The comparison is not vacuous: one changed byte in any compared file, or a missing file, is reported."""
    bundle = {'cluster.env': "ISTIO_INBOUND_PORTS='3550,8080'\nX='1'\n", 'hosts': '10.0.0.1 istiod.istio-system.svc\n',
              'istio-token': 'a', 'mesh.yaml': 'defaultConfig: {}\n', 'root-cert.pem': 'PEM\n'}
    assert compare_bundles(bundle, dict(bundle, **{'istio-token': 'b'})) == []
    assert compare_bundles(bundle, dict(bundle, **{'cluster.env': "ISTIO_INBOUND_PORTS='8080,3550'\nX='1'\n"})) == []
    for name in ('cluster.env', 'hosts', 'mesh.yaml', 'root-cert.pem'):
        assert compare_bundles(bundle, dict(bundle, **{name: bundle[name] + ' '})), name
    assert compare_bundles(bundle, dict((k, v) for k, v in bundle.items() if k != 'hosts'))
