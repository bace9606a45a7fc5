"""The lab's istiod through real gRPC clients (lab.istio.mesh_client): the CA, then the xDS stream with
auto-registration, health and the mTLS mode. The cluster behind it is a real control plane (lab.kubernetes), one
for the module, without nodes: no pod ever runs, so istiod's Deployment is never Available. Each test starts from
a cluster without the objects the tests make (``clean_cluster``)."""

import base64
import datetime
import subprocess
import time
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab.istio.istiod import testing as istiod_testing
from lab.istio.istiod.kube import KubeError
from lab.istio.istiod.server import StartError
from lab.istio.proto import stubs
from lab.kubernetes.testing import running_control_plane, signed_service_account_token
from lab.net.commands import wait_for

SERVER_NAME = 'istiod.istio-system.svc'
CLUSTER = 'cluster1'
NAMESPACE = 'vm'
ACCOUNT = 'vm-sa'
IDENTITY = 'spiffe://cluster.local/ns/vm/sa/vm-sa'
VM_IP = '10.168.0.20'
GROUP = 'productcatalog'
# What the tests make, removed before and after each one: (collection path, names kept).
_MADE = [
    ('/apis/networking.istio.io/v1/namespaces/%s/workloadentries' % NAMESPACE, ()),
    ('/apis/networking.istio.io/v1/namespaces/%s/workloadgroups' % NAMESPACE, ()),
    ('/apis/security.istio.io/v1/namespaces/%s/peerauthentications' % NAMESPACE, ()),
    ('/apis/security.istio.io/v1/namespaces/istio-system/peerauthentications', ()),
    ('/apis/apps/v1/namespaces/istio-system/deployments', ()),
    ('/api/v1/namespaces/istio-system/secrets', ()),
    ('/api/v1/namespaces/istio-system/configmaps', ('kube-root-ca.crt',)),
    ('/api/v1/namespaces/istio-system/serviceaccounts', ('default',)),
    ('/apis/rbac.authorization.k8s.io/v1/namespaces/istio-system/roles', ()),
    ('/apis/rbac.authorization.k8s.io/v1/namespaces/istio-system/rolebindings', ()),
    ('/api/v1/namespaces/%s/serviceaccounts' % NAMESPACE, ('default',)),
]


@pytest.fixture(scope='module')
def mesh_client():
    return stubs.load()['mesh_client']


@pytest.fixture(scope='module')
def kube(tmp_path_factory):
    """The module's cluster; no node, so that no Deployment becomes Available (see test_no_ca_material...)."""
    with running_control_plane(tmp_path_factory.mktemp('kube'), nodes=()) as plane:
        yield plane


@pytest.fixture(autouse=True)
def clean_cluster(kube):
    """Before and after the test (and its istiod), delete every object of the kinds the tests make: each test starts
    from a cluster without istiod's Deployment, CA secret, mesh config, groups, entries and policies, and leaves
    none (a failed cleanup fails the test that made the objects, not the next one)."""
    api = istiod_testing.kube_api(kube)
    try:
        _clean(api)
        yield
        assert _clean(api) == {}, 'left after the test'
    finally:
        api.close()


def _clean(api):
    """Delete what the tests make; return what is still there, by collection (nothing, normally)."""
    crds = {crd['metadata']['name'] for crd in
            _retrying(api.items, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions')}
    # Before the first install_for_istiod there are no Istio kinds, so nothing of them to delete.
    made = [(path, kept) for path, kept in _MADE if not _istio_kind(path) or _istio_kind(path) in crds]
    for path, kept in made:
        for item in _retrying(api.items, path):
            if item['metadata']['name'] not in kept:
                _retrying(api.delete, '%s/%s' % (path, item['metadata']['name']))
    left = {path: [item['metadata']['name'] for item in _retrying(api.items, path)
                   if item['metadata']['name'] not in kept] for path, kept in made}
    return {path: names for path, names in left.items() if names}


def _istio_kind(path):
    """The CRD name of an Istio kind's collection path, or None for a built-in kind."""
    parts = path.split('/')
    return '%s.%s' % (parts[-1], parts[2]) if parts[2].endswith('.istio.io') else None


def _retrying(call, *args, timeout=30):
    """``call(*args)``, again while the API server says 429 or 503 (a storage still initializing on a loaded
    machine), as client-go retries after the Retry-After such an answer carries."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call(*args)
        except KubeError as exc:
            if exc.code not in (429, 503) or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


@pytest.fixture
def api(kube):
    client = istiod_testing.kube_api(kube)
    yield client
    client.close()


@pytest.fixture
def plug_in_ca(kube, api, tmp_path):
    """A cluster as istioctl with a plug-in CA leaves it, plus the VM's namespace and service accounts."""
    paths = istiod_testing.install_for_istiod(kube, str(tmp_path / 'ca'), cluster_id=CLUSTER)
    if api.get('/api/v1/namespaces/%s' % NAMESPACE) is None:
        api.create('/api/v1/namespaces', {'metadata': {'name': NAMESPACE}})
    for account in (ACCOUNT, 'other-sa'):
        api.create('/api/v1/namespaces/%s/serviceaccounts' % NAMESPACE, {'metadata': {'name': account}})
    return paths


@pytest.fixture
def istiod(kube, plug_in_ca):
    with istiod_testing.running_istiod(kube, grace_seconds=0.5, policy_poll_seconds=0.2) as running:
        yield running


def _token(api, account=ACCOUNT, audiences=('istio-ca',)):
    request = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest',
               'spec': {'audiences': list(audiences), 'expirationSeconds': 3600}}
    path = '/api/v1/namespaces/%s/serviceaccounts/%s/token' % (NAMESPACE, account)
    return api.create(path, request)['status']['token']


def _csr(identity=IDENTITY):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def _certificate(mesh_client, istiod, token, csr_pem, root_pem=None, cluster_id=CLUSTER, validity=3600):
    return mesh_client.create_certificate(istiod.address, SERVER_NAME, root_pem or istiod.root_pem, token, csr_pem,
                                          cluster_id, validity)


def _refused(mesh_client, call, *args, **kwargs):
    with pytest.raises(mesh_client.MeshClientError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_a_good_token_and_csr_get_a_chain_openssl_verifies(mesh_client, istiod, api, plug_in_ca, tmp_path):
    _key, csr_pem = _csr()
    chain = _certificate(mesh_client, istiod, _token(api), csr_pem)

    with open(plug_in_ca['root-cert.pem'], encoding='ascii') as handle:
        root_pem = handle.read()
    assert len(chain) == 3 and chain[-1] == root_pem          # leaf, intermediate, root last
    (tmp_path / 'leaf.pem').write_text(chain[0])
    (tmp_path / 'intermediate.pem').write_text(chain[1])
    verified = subprocess.run(['openssl', 'verify', '-CAfile', plug_in_ca['root-cert.pem'], '-untrusted',
                               str(tmp_path / 'intermediate.pem'), str(tmp_path / 'leaf.pem')],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and verified.stdout.strip().endswith(': OK'), verified.stdout + verified.stderr

    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [IDENTITY]
    assert leaf.subject == x509.Name([])
    lifetime = leaf.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=58) < lifetime <= datetime.timedelta(hours=1)


def test_istiod_serves_a_certificate_for_its_service_name_from_the_intermediate(istiod, plug_in_ca, tmp_path):
    with open(plug_in_ca['ca-cert.pem'], encoding='ascii') as handle:
        intermediate = x509.load_pem_x509_certificate(handle.read().encode())
    host, port = istiod.address.split(':')
    shown = subprocess.run(['openssl', 's_client', '-connect', '%s:%s' % (host, port), '-servername', SERVER_NAME,
                            '-alpn', 'h2', '-CAfile', plug_in_ca['root-cert.pem'], '-verify_hostname', SERVER_NAME,
                            '-verify_return_error', '-showcerts'],
                           input='', capture_output=True, text=True, timeout=30, check=False)
    assert 'Verify return code: 0 (ok)' in shown.stdout, shown.stdout + shown.stderr
    served = x509.load_pem_x509_certificate(_first_pem(shown.stdout))
    assert served.issuer == intermediate.subject
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [SERVER_NAME]


def test_a_revision_adds_its_service_name(kube, tmp_path):
    paths = istiod_testing.install_for_istiod(kube, str(tmp_path / 'ca'), cluster_id=CLUSTER, revision='canary')
    with istiod_testing.running_istiod(kube) as istiod:
        host, port = istiod.address.split(':')
        for name in (SERVER_NAME, 'istiod-canary.istio-system.svc'):
            shown = subprocess.run(['openssl', 's_client', '-connect', '%s:%s' % (host, port), '-servername', name,
                                    '-alpn', 'h2', '-CAfile', paths['root-cert.pem'], '-verify_hostname', name,
                                    '-verify_return_error'], input='', capture_output=True, text=True, timeout=30,
                                   check=False)
            assert 'Verify return code: 0 (ok)' in shown.stdout, name + shown.stdout + shown.stderr


def _first_pem(text):
    begin, end = '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----'
    start = text.index(begin)
    return text[start:text.index(end, start) + len(end)].encode()


def test_an_expired_token_is_refused_as_expired(mesh_client, istiod, kube, api):
    # Signed with the cluster's key like any token the API server issues, but its lifetime ended a minute ago (the
    # TokenRequest API never hands out such a token).
    account = api.get('/api/v1/namespaces/%s/serviceaccounts/%s' % (NAMESPACE, ACCOUNT))
    token = signed_service_account_token(kube, account, ['istio-ca'], -60)
    message = _refused(mesh_client, _certificate, mesh_client, istiod, token, _csr()[1])
    assert 'rejected the token' in message and 'expired' in message


def test_a_token_for_another_audience_is_refused(mesh_client, istiod, api):
    message = _refused(mesh_client, _certificate, mesh_client, istiod, _token(api, audiences=['api']), _csr()[1])
    assert 'rejected the token' in message and 'audience' in message.lower()


def test_a_csr_for_another_identity_than_the_token_is_refused(mesh_client, istiod, api):
    message = _refused(mesh_client, _certificate, mesh_client, istiod, _token(api, account='other-sa'), _csr()[1])
    assert 'rejected the request' in message
    assert IDENTITY in message and 'spiffe://cluster.local/ns/vm/sa/other-sa' in message


def test_a_token_claiming_another_cluster_is_refused(mesh_client, istiod, api):
    message = _refused(mesh_client, _certificate, mesh_client, istiod, _token(api), _csr()[1], cluster_id='cluster2')
    assert 'cluster2' in message and 'only know about local cluster "cluster1"' in message


def test_a_client_trusting_another_root_fails_tls_verification(mesh_client, istiod, api, tmp_path):
    other = istiod_testing.plug_in_ca_files(str(tmp_path / 'other'))
    with open(other['root-cert.pem'], encoding='ascii') as handle:
        wrong_root = handle.read()
    message = _refused(mesh_client, _certificate, mesh_client, istiod, _token(api), _csr()[1], root_pem=wrong_root)
    assert 'certificate verify failed' in message


def _bare_istiod_deployment(api):
    """istio-system with istiod's Deployment and nothing else: neither cacerts nor istio-ca-secret."""
    if api.get('/api/v1/namespaces/istio-system') is None:
        api.create('/api/v1/namespaces', {'metadata': {'name': 'istio-system'}})
    api.create('/apis/apps/v1/namespaces/istio-system/deployments', {
        'metadata': {'name': 'istiod'}, 'spec': {'selector': {'matchLabels': {'app': 'istiod'}}, 'template': {
            'metadata': {'labels': {'app': 'istiod'}},
            'spec': {'containers': [{'name': 'discovery', 'image': 'x'}]}}}})


def _not_available(api):
    deployment = api.get('/apis/apps/v1/namespaces/istio-system/deployments/istiod')
    return not any(c['type'] == 'Available' and c['status'] == 'True'
                   for c in (deployment.get('status') or {}).get('conditions') or [])


def test_no_ca_material_means_istiod_does_not_start(kube, api):
    # Neither cacerts nor istio-ca-secret, istiod's Deployment is not Available (the module's cluster has no node),
    # and istiod may read the cluster but not create secrets: it cannot make its own CA (lab.istio.istiod.ca makes
    # istio-ca-secret at start, as a real istiod does), so it has none to start with.
    _bare_istiod_deployment(api)
    api.create('/api/v1/namespaces/istio-system/serviceaccounts', {'metadata': {'name': 'istiod-reader'}})
    api.create('/apis/rbac.authorization.k8s.io/v1/namespaces/istio-system/roles', {
        'metadata': {'name': 'istiod-reader'},
        'rules': [{'apiGroups': ['', 'apps'], 'resources': ['deployments', 'configmaps', 'secrets'],
                   'verbs': ['get', 'list', 'watch']}]})
    api.create('/apis/rbac.authorization.k8s.io/v1/namespaces/istio-system/rolebindings', {
        'metadata': {'name': 'istiod-reader'},
        'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role', 'name': 'istiod-reader'},
        'subjects': [{'kind': 'ServiceAccount', 'name': 'istiod-reader', 'namespace': 'istio-system'}]})
    token = api.create('/api/v1/namespaces/istio-system/serviceaccounts/istiod-reader/token', {
        'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenRequest',
        'spec': {'expirationSeconds': 3600}})['status']['token']
    reader = types.SimpleNamespace(url=kube.url, ca_path=kube.ca_path, token=token)
    reader_api = istiod_testing.kube_api(reader)
    try:
        # The RoleBinding takes effect once the API server's authorizer has seen it.
        wait_for(lambda: _readable(reader_api), timeout=10, what='the reader to read istio-system')
    finally:
        reader_api.close()
    with pytest.raises(StartError, match=r'cannot create secret istio-system/istio-ca-secret: .*forbidden'):
        with istiod_testing.running_istiod(reader):
            pass
    assert api.get('/api/v1/namespaces/istio-system/secrets/istio-ca-secret') is None
    assert _not_available(api)


def _readable(reader_api):
    try:
        return reader_api.get('/api/v1/namespaces/istio-system/secrets/cacerts') is None and bool(
            reader_api.items('/apis/apps/v1/namespaces/istio-system/deployments'))
    except KubeError as exc:
        if exc.code != 403:
            raise
        return False


def test_no_plug_in_ca_means_istiod_makes_its_own(kube, api, tmp_path):
    # As a real istiod does at start: neither cacerts nor istio-ca-secret, so it creates istio-ca-secret (a
    # self-signed root) and signs with it; no controller made it (istiod's Deployment is not Available).
    _bare_istiod_deployment(api)
    with istiod_testing.running_istiod(kube) as istiod:
        secret = api.get('/api/v1/namespaces/istio-system/secrets/istio-ca-secret')
        assert secret['type'] == 'istio.io/ca-root'
        root_pem = base64.b64decode(secret['data']['ca-cert.pem']).decode()
        assert istiod.root_pem == root_pem
        root = x509.load_pem_x509_certificate(root_pem.encode())
        assert root.subject == root.issuer
        (tmp_path / 'root.pem').write_text(root_pem)
        host, port = istiod.address.split(':')
        shown = subprocess.run(['openssl', 's_client', '-connect', '%s:%s' % (host, port), '-servername',
                                SERVER_NAME, '-alpn', 'h2', '-CAfile', str(tmp_path / 'root.pem'),
                                '-verify_hostname', SERVER_NAME, '-verify_return_error'],
                               input='', capture_output=True, text=True, timeout=30, check=False)
        assert 'Verify return code: 0 (ok)' in shown.stdout, shown.stdout + shown.stderr
    assert _not_available(api)


# The xDS stream.

def _workload_group(api, probe=False, service_account=ACCOUNT):
    spec = {'metadata': {'labels': {'app': GROUP}, 'annotations': {'team': 'shop'}},
            'template': {'serviceAccount': service_account, 'ports': {'grpc': 3550}, 'labels': {'tier': 'backend'}}}
    if probe:
        spec['probe'] = {'periodSeconds': 5, 'tcpSocket': {'port': 3550}}
    return api.create('/apis/networking.istio.io/v1/namespaces/%s/workloadgroups' % NAMESPACE,
                      {'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup', 'metadata': {'name': GROUP},
                       'spec': spec})


def _metadata(**overrides):
    metadata = {'NAMESPACE': NAMESPACE, 'SERVICE_ACCOUNT': ACCOUNT, 'LABELS': {'version': 'v1'},
                'INSTANCE_IPS': VM_IP, 'WORKLOAD_NAME': GROUP, 'AUTO_REGISTER_GROUP': GROUP, 'CLUSTER_ID': CLUSTER,
                'MESH_ID': 'mesh1', 'NETWORK': ''}
    metadata.update(overrides)
    return {key: value for key, value in metadata.items() if value != ''}


def _session(mesh_client, istiod, api, metadata=None, with_certificate=True):
    key_pem, csr_pem = _csr()
    chain = _certificate(mesh_client, istiod, _token(api), csr_pem)
    node_id = 'sidecar~%s~vm-1.%s~%s.svc.cluster.local' % (VM_IP, NAMESPACE, NAMESPACE)
    if not with_certificate:
        return mesh_client.XdsSession(istiod.address, SERVER_NAME, istiod.root_pem, None, None, node_id,
                                      metadata or _metadata())
    return mesh_client.XdsSession(istiod.address, SERVER_NAME, istiod.root_pem, ''.join(chain[:-1]), key_pem, node_id,
                                  metadata or _metadata())


def _entry(api, name='%s-%s' % (GROUP, VM_IP)):
    return api.get('/apis/networking.istio.io/v1/namespaces/%s/workloadentries/%s' % (NAMESPACE, name))


def test_auto_registration_and_removal_after_the_grace_period(mesh_client, istiod, api):
    group = _workload_group(api)
    session = _session(mesh_client, istiod, api)
    try:
        assert session.start() == {'mtls_mode': 'PERMISSIVE'}
        entry = _entry(api)
        meta = entry['metadata']
        assert entry['spec'] == {'address': VM_IP, 'serviceAccount': ACCOUNT, 'ports': {'grpc': 3550},
                                 'labels': {'tier': 'backend', 'app': GROUP, 'version': 'v1'}}
        assert meta['labels'] == {'tier': 'backend', 'app': GROUP, 'version': 'v1'}
        assert meta['annotations']['istio.io/autoRegistrationGroup'] == GROUP
        assert meta['annotations']['team'] == 'shop'
        assert meta['annotations']['istio.io/workloadController'] == 'istiod-lab'
        assert 'istio.io/connectedAt' in meta['annotations'] and 'istio.io/disconnectedAt' not in meta['annotations']
        assert meta['ownerReferences'] == [{'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
                                            'name': GROUP, 'uid': group['metadata']['uid'], 'controller': True}]
    finally:
        session.close()
    wait_for(lambda: 'istio.io/disconnectedAt' in ((_entry(api) or {}).get('metadata', {}).get('annotations') or {})
             or _entry(api) is None, timeout=10, what='the entry to be marked disconnected')
    wait_for(lambda: _entry(api) is None, timeout=10, what='the entry to be deleted after the grace period')


def test_a_reconnect_within_the_grace_period_keeps_the_entry(mesh_client, kube, plug_in_ca, api):
    with istiod_testing.running_istiod(kube, grace_seconds=1.5) as istiod:
        _workload_group(api)
        first = _session(mesh_client, istiod, api)
        first.start()
        first.close()
        wait_for(lambda: 'istio.io/disconnectedAt' in _entry(api)['metadata']['annotations'], timeout=10,
                 what='the disconnect mark')
        second = _session(mesh_client, istiod, api)
        try:
            second.start()
            disconnected_at = time.monotonic()
            wait_for(lambda: time.monotonic() - disconnected_at > 2.0, timeout=10, what='the grace period to pass')
            annotations = _entry(api)['metadata']['annotations']
            assert 'istio.io/connectedAt' in annotations and 'istio.io/disconnectedAt' not in annotations
        finally:
            second.close()


def test_health_reports_set_the_healthy_condition_when_the_group_has_a_probe(mesh_client, istiod, api):
    _workload_group(api, probe=True)
    session = _session(mesh_client, istiod, api)
    try:
        session.start()
        assert _entry(api)['metadata']['annotations']['proxy.istio.io/health-checks-enabled'] == 'true'

        def healthy():
            conditions = (_entry(api).get('status') or {}).get('conditions') or []
            return [(c['status'], c.get('message')) for c in conditions if c['type'] == 'Healthy']

        session.report_health(False, 'tcp probe to port 3550 refused')
        wait_for(lambda: healthy() == [('False', 'tcp probe to port 3550 refused')], timeout=10, what='Healthy=False')
        session.report_health(True)
        wait_for(lambda: healthy() == [('True', None)], timeout=10, what='Healthy=True')
    finally:
        session.close()


def test_health_reports_are_ignored_without_a_probe(mesh_client, kube, plug_in_ca, api):
    logged = []
    with istiod_testing.running_istiod(kube, log=logged.append) as istiod:
        _workload_group(api)
        session = _session(mesh_client, istiod, api)
        try:
            session.start()
            session.report_health(False, 'down')
            wait_for(lambda: any('health checks are not enabled' in line for line in logged), timeout=10,
                     what='the report to be handled')
            entry = _entry(api)
            assert 'proxy.istio.io/health-checks-enabled' not in entry['metadata']['annotations']
            assert not (entry.get('status') or {}).get('conditions')
        finally:
            session.close()


def _peer_authentication(api, namespace, name, mode, selector=None):
    spec = {'mtls': {'mode': mode}}
    if selector:
        spec['selector'] = {'matchLabels': selector}
    api.create('/apis/security.istio.io/v1/namespaces/%s/peerauthentications' % namespace,
               {'apiVersion': 'security.istio.io/v1', 'kind': 'PeerAuthentication', 'metadata': {'name': name},
                'spec': spec})


def test_mesh_wide_strict_peer_authentication_reaches_the_client(mesh_client, istiod, api):
    _workload_group(api)
    _peer_authentication(api, 'istio-system', 'default', 'STRICT')
    session = _session(mesh_client, istiod, api)
    try:
        assert session.start() == {'mtls_mode': 'STRICT'}
    finally:
        session.close()


def test_the_most_specific_peer_authentication_wins_and_changes_are_pushed(mesh_client, istiod, api):
    _workload_group(api)
    _peer_authentication(api, 'istio-system', 'default', 'STRICT')
    _peer_authentication(api, NAMESPACE, 'namespace-wide', 'PERMISSIVE')
    session = _session(mesh_client, istiod, api)
    try:
        assert session.start() == {'mtls_mode': 'PERMISSIVE'}
        # A selector on the entry's labels (template label tier=backend) beats the namespace's policy.
        _peer_authentication(api, NAMESPACE, 'backend', 'STRICT', selector={'tier': 'backend'})
        wait_for(lambda: session.policy == {'mtls_mode': 'STRICT'}, timeout=10, what='the STRICT push')
    finally:
        session.close()


def test_a_stream_claiming_another_service_account_is_refused(mesh_client, istiod, api):
    _workload_group(api)
    session = _session(mesh_client, istiod, api, metadata=_metadata(SERVICE_ACCOUNT='other-sa'))
    message = _refused(mesh_client, session.start)
    assert 'authorization failed' in message and 'vm/other-sa' in message


def test_a_stream_without_the_workload_certificate_is_refused(mesh_client, istiod, api):
    session = _session(mesh_client, istiod, api, with_certificate=False)
    message = _refused(mesh_client, session.start)
    assert 'no client certificate' in message


def test_a_stream_for_a_missing_workload_group_is_refused(mesh_client, istiod, api):
    session = _session(mesh_client, istiod, api)
    message = _refused(mesh_client, session.start)
    assert 'cannot find WorkloadGroup vm/productcatalog' in message


def test_a_broken_stream_is_noticed(mesh_client, kube, plug_in_ca, api):
    with istiod_testing.running_istiod(kube) as istiod:
        _workload_group(api)
        session = _session(mesh_client, istiod, api)
        session.start()
    assert session.broken.wait(10), 'the session did not notice istiod going away'
    assert 'istiod' in session.error
    session.close()
