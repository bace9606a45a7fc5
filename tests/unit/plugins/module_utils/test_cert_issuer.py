"""CertIssuer, driven through the cert_issue module's own entry point with real AnsibleModule argument handling."""

import contextlib
import datetime
import grp
import io
import json
import os
import pwd
import stat
from unittest import mock

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import certificates as certs
from ansible_collections.meshbridge.istio_vm.plugins.modules import cert_issue

SKEW = datetime.timedelta(seconds=30)  # slack for the time the test itself takes


def run(check=False, diff=False, **params):
    """Run the module; return its result dict (``failed`` set when it failed)."""
    args = dict(params, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    # Importing controller code (the filter plugins' tests do, at collection) marks the process as the controller,
    # and AnsibleModule.warn then prints instead of returning the warning with the result, as it does on a target.
    with patch_module_args(args), mock.patch.object(module_utils_internal, 'is_controller', False), \
            contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cert_issue.main()
    return json.loads(out.getvalue())


def ok(**params):
    result = run(**params)
    assert not result.get('failed'), result['msg']
    return result


def fails(**params):
    result = run(**params)
    assert result.get('failed'), result
    return result['msg']


def read_certs(path):
    with open(path, 'rb') as handle:
        return x509.load_pem_x509_certificates(handle.read())


def ext(cert, extension_class):
    return cert.extensions.get_extension_for_class(extension_class)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def issue_hierarchy(base, **key_params):
    root = ok(kind='root', dest=str(base / 'root'), **key_params)
    west = ok(kind='intermediate', dest=str(base / 'west'), signer=str(base / 'root'), cluster_name='west', **key_params)
    return {'base': base, 'root': root, 'west': west}


@pytest.fixture(scope='module')
def default_hierarchy(tmp_path_factory):
    """A root and the intermediate of cluster west with every default, for the tests about those defaults."""
    return issue_hierarchy(tmp_path_factory.mktemp('default-ca'))


@pytest.fixture(scope='module')
def hierarchy(tmp_path_factory):
    """The signers the workload tests share, with RSA 2048 keys: every run loads the signer key, and loading
    (validating) a default 4096-bit key takes about 0.3 s, a 2048-bit one a tenth of that."""
    return issue_hierarchy(tmp_path_factory.mktemp('ca'), key_type='rsa', key_size=2048)


def workload(hierarchy, dest, **params):
    defaults = dict(kind='workload', dest=str(dest), signer=str(hierarchy['base'] / 'west'),
                    namespace='default', service_account='a', key_type='ecdsa')
    defaults.update(params)
    return ok(**defaults)


# ---- root ---------------------------------------------------------------------------------------------------------

def test_root_has_istio_reference_defaults(default_hierarchy):
    result = default_hierarchy['root']
    [cert] = read_certs(result['files']['cert'])
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 4096
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == 'Istio'
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == 'Root CA'
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=3650, minutes=2)
    assert certs.is_self_signed(cert)
    assert sorted(os.listdir(result['files']['cert'].rsplit('/', 1)[0])) == ['root-cert.pem', 'root-key.pem']


def test_files_and_directory_modes(default_hierarchy):
    west = default_hierarchy['west']['files']
    assert mode_of(default_hierarchy['base'] / 'west') == 0o700
    assert mode_of(west['key']) == 0o600
    assert mode_of(default_hierarchy['root']['files']['key']) == 0o600
    for role in ('cert', 'chain', 'root'):
        assert mode_of(west[role]) == 0o644


def test_result_never_holds_key_material(hierarchy, tmp_path):
    result = workload(hierarchy, tmp_path / 'a', diff=True)
    text = json.dumps(result)
    assert 'PRIVATE KEY' not in text and 'BEGIN' not in text


# ---- intermediate -------------------------------------------------------------------------------------------------

def test_intermediate_is_istio_plugin_ca_bundle(default_hierarchy):
    files = default_hierarchy['west']['files']
    assert sorted(os.listdir(default_hierarchy['base'] / 'west')) == ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']
    [cert] = read_certs(files['cert'])
    [root] = read_certs(default_hierarchy['root']['files']['cert'])
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ext(cert, x509.KeyUsage).value.key_cert_sign
    sans = ext(cert, x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == ['istiod.istio-system.svc'] and not sans.critical
    assert cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == 'west'
    assert cert.public_key().key_size == 4096
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=730, minutes=2)
    assert certs.is_issued_by(cert, root)
    assert read_certs(files['chain']) == [cert, root]  # intermediate, then root
    assert read_certs(files['root']) == [root]


def test_intermediate_refuses_pathlen_zero_signer(hierarchy, tmp_path):
    message = fails(kind='intermediate', dest=str(tmp_path / 'sub'), signer=str(hierarchy['base'] / 'west'),
                    cluster_name='east')
    assert message.startswith('signer:') and 'pathlen:0' in message
    assert not (tmp_path / 'sub').exists()


# ---- workload -----------------------------------------------------------------------------------------------------

def test_workload_is_shaped_like_istiod_certificates(hierarchy, tmp_path):
    before = certs.utc_now()
    result = workload(hierarchy, tmp_path / 'a', key_type='rsa')
    after = certs.utc_now()
    assert sorted(os.listdir(tmp_path / 'a')) == ['cert-chain.pem', 'key.pem', 'root-cert.pem']
    leaf, intermediate = read_certs(result['files']['chain'])
    [root] = read_certs(result['files']['root'])
    assert intermediate == read_certs(hierarchy['west']['files']['cert'])[0]
    assert root == read_certs(hierarchy['root']['files']['cert'])[0]
    assert certs.is_issued_by(leaf, intermediate)

    assert len(leaf.subject) == 0
    sans = ext(leaf, x509.SubjectAlternativeName)
    assert sans.critical
    assert sans.value.get_values_for_type(x509.UniformResourceIdentifier) == ['spiffe://cluster.local/ns/default/sa/a']
    assert len(sans.value) == 1
    usage = ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.content_commitment)
    extended = ext(leaf, x509.ExtendedKeyUsage)
    assert list(extended.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    constraints = ext(leaf, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert leaf.public_key().key_size == 2048

    start = leaf.not_valid_before_utc
    assert before - datetime.timedelta(minutes=2) - SKEW <= start <= after - datetime.timedelta(minutes=2)
    assert leaf.not_valid_after_utc - start == datetime.timedelta(hours=24, minutes=2)
    assert result['spiffe_id'] == 'spiffe://cluster.local/ns/default/sa/a'
    assert result['subject'] == '' and result['sans'] == ['URI:spiffe://cluster.local/ns/default/sa/a']
    assert result['serial_number'] == leaf.serial_number
    assert result['fingerprints']['sha256'] == certs.sha256_fingerprint(leaf)
    assert mode_of(result['files']['key']) == 0o600


def test_workload_trust_domain_and_names(hierarchy, tmp_path):
    result = workload(hierarchy, tmp_path / 'b', trust_domain='example.org', namespace='shop', service_account='cat.v2')
    assert result['spiffe_id'] == 'spiffe://example.org/ns/shop/sa/cat.v2'


def test_workload_never_outlives_its_signer(tmp_path):
    ok(kind='root', dest=str(tmp_path / 'root'), key_type='ecdsa')
    ok(kind='intermediate', dest=str(tmp_path / 'ca'), signer=str(tmp_path / 'root'), cluster_name='c',
       key_type='ecdsa', ttl='10h')
    result = ok(kind='workload', dest=str(tmp_path / 'w'), signer=str(tmp_path / 'ca'), namespace='n',
                service_account='s', key_type='ecdsa')
    leaf, intermediate = read_certs(str(tmp_path / 'w' / 'cert-chain.pem'))
    assert leaf.not_valid_after_utc == intermediate.not_valid_after_utc
    assert 'renew the signer' in json.dumps(result['warnings'])
    again = ok(kind='workload', dest=str(tmp_path / 'w'), signer=str(tmp_path / 'ca'), namespace='n',
               service_account='s', key_type='ecdsa', renew_before='12h', ttl='24h')
    assert again['issued'] and 'every run issues a new certificate' in json.dumps(again['warnings'])


def test_workload_signed_directly_by_root_has_leaf_only_chain(hierarchy, tmp_path):
    result = workload(hierarchy, tmp_path / 'w', signer=str(hierarchy['base'] / 'root'))
    [leaf] = read_certs(result['files']['chain'])
    assert certs.is_issued_by(leaf, read_certs(result['files']['root'])[0])


def test_explicit_signer_paths(hierarchy, tmp_path):
    west = hierarchy['west']['files']
    result = ok(kind='workload', dest=str(tmp_path / 'w'), signer_cert_path=west['chain'], signer_key_path=west['key'],
                namespace='default', service_account='a', key_type='ecdsa')
    assert len(read_certs(result['files']['chain'])) == 2


@pytest.mark.parametrize('key_type, extra, expected', [
    ('rsa', {'key_size': 3072}, 'rsa-3072'),
    ('rsa', {'key_size': 4096}, 'rsa-4096'),
    ('ecdsa', {}, 'ecdsa-secp256r1'),
    ('ecdsa', {'curve': 'secp384r1'}, 'ecdsa-secp384r1'),
])
def test_key_types(hierarchy, tmp_path, key_type, extra, expected):
    result = workload(hierarchy, tmp_path / 'w', key_type=key_type, **extra)
    [leaf, _intermediate] = read_certs(result['files']['chain'])
    assert certs.describe_public_key(leaf.public_key()) == expected
    with open(result['files']['key'], 'rb') as handle:
        key = certs.load_private_key(handle.read())
    assert isinstance(key, rsa.RSAPrivateKey if key_type == 'rsa' else ec.EllipticCurvePrivateKey)
    assert certs.key_matches(key, leaf)


def test_owner_group_and_mode_options(hierarchy, tmp_path):
    result = workload(hierarchy, tmp_path / 'w', mode='0640')
    assert mode_of(result['files']['chain']) == 0o640 and mode_of(result['files']['root']) == 0o640
    assert mode_of(result['files']['key']) == 0o600 and mode_of(tmp_path / 'w') == 0o700
    # a symbolic mode is applied after the write
    again = workload(hierarchy, tmp_path / 'w', mode='u=rw,g=,o=')
    assert again['changed'] and not again['issued'] and mode_of(result['files']['chain']) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason='changing the owner of a file needs root')
def test_owner_and_group_apply_to_directory_and_every_file(hierarchy, tmp_path):
    nobody = pwd.getpwnam('nobody')
    result = workload(hierarchy, tmp_path / 'w', owner='nobody', group=grp.getgrgid(nobody.pw_gid).gr_name)
    for path in [tmp_path / 'w'] + list(result['files'].values()):
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (nobody.pw_uid, nobody.pw_gid), path
    assert mode_of(result['files']['key']) == 0o600
    assert not workload(hierarchy, tmp_path / 'w', owner='nobody', group=grp.getgrgid(nobody.pw_gid).gr_name)['changed']


# ---- idempotence and renewal --------------------------------------------------------------------------------------

def test_second_run_changes_nothing(hierarchy, tmp_path):
    first = workload(hierarchy, tmp_path / 'w')
    second = workload(hierarchy, tmp_path / 'w')
    assert first['changed'] and not second['changed'] and second['reasons'] == [] and second['written'] == []
    assert second['fingerprints'] == first['fingerprints']


def test_directory_mode_is_restored(hierarchy, tmp_path):
    workload(hierarchy, tmp_path / 'w')
    os.chmod(tmp_path / 'w', 0o755)
    result = workload(hierarchy, tmp_path / 'w', diff=True)
    assert result['changed'] and not result['issued'] and mode_of(tmp_path / 'w') == 0o700
    assert {'before': {'mode': '0755'}, 'after': {'mode': '0700'},
            'before_header': str(tmp_path / 'w'), 'after_header': str(tmp_path / 'w')} in result['diff']


@pytest.mark.parametrize('damage, reason', [
    (lambda d: os.remove(d / 'key.pem'), 'key.pem is missing'),
    (lambda d: os.remove(d / 'cert-chain.pem'), 'cert-chain.pem is missing'),
    (lambda d: (d / 'cert-chain.pem').write_text('garbage'), 'cert-chain.pem is unreadable'),
    (lambda d: (d / 'key.pem').write_bytes(certs.private_key_pem(certs.generate_key('ecdsa-secp256r1'))),
     'the key does not match the certificate'),
])
def test_damaged_files_are_reissued(hierarchy, tmp_path, damage, reason):
    first = workload(hierarchy, tmp_path / 'w')
    damage(tmp_path / 'w')
    second = workload(hierarchy, tmp_path / 'w')
    assert second['issued'] and second['changed'] and any(reason in text for text in second['reasons']), second['reasons']
    assert second['fingerprints'] != first['fingerprints']
    leaf = read_certs(second['files']['chain'])[0]
    with open(second['files']['key'], 'rb') as handle:
        assert certs.key_matches(certs.load_private_key(handle.read()), leaf)


def test_missing_root_file_is_rewritten_without_reissuing(hierarchy, tmp_path):
    first = workload(hierarchy, tmp_path / 'w')
    os.remove(tmp_path / 'w' / 'root-cert.pem')
    second = workload(hierarchy, tmp_path / 'w')
    assert second['changed'] and not second['issued'] and second['written'] == [str(tmp_path / 'w' / 'root-cert.pem')]
    assert second['fingerprints'] == first['fingerprints']
    assert read_certs(second['files']['root']) == read_certs(hierarchy['root']['files']['cert'])


@pytest.mark.parametrize('change, reason', [
    ({'service_account': 'b'}, 'sans changed'),
    ({'namespace': 'other'}, 'sans changed'),
    ({'curve': 'secp384r1'}, 'key changed'),
    ({'force': True}, 'force=true'),
])
def test_changed_request_reissues(hierarchy, tmp_path, change, reason):
    workload(hierarchy, tmp_path / 'w')
    second = workload(hierarchy, tmp_path / 'w', **change)
    assert second['issued'] and reason in second['reasons']


def test_changed_intermediate_identity_reissues(hierarchy, tmp_path):
    signer = str(hierarchy['base'] / 'root')
    ok(kind='intermediate', dest=str(tmp_path / 'ca'), signer=signer, cluster_name='west', key_type='ecdsa')
    result = ok(kind='intermediate', dest=str(tmp_path / 'ca'), signer=signer, cluster_name='east', key_type='ecdsa')
    assert result['issued'] and result['reasons'] == ['subject changed']


def test_certificate_from_another_ca_is_reissued(hierarchy, tmp_path):
    ok(kind='root', dest=str(tmp_path / 'other-root'), key_type='ecdsa')
    workload(hierarchy, tmp_path / 'w', signer=str(tmp_path / 'other-root'))
    result = workload(hierarchy, tmp_path / 'w')
    assert result['issued'] and any('not signed by the given CA' in reason for reason in result['reasons'])


def test_new_root_cascades_down_the_hierarchy(tmp_path):
    root, ca, leaf = str(tmp_path / 'root'), str(tmp_path / 'ca'), str(tmp_path / 'w')

    def issue_all(**root_params):
        return [ok(kind='root', dest=root, key_type='ecdsa', **root_params),
                ok(kind='intermediate', dest=ca, signer=root, cluster_name='c', key_type='ecdsa'),
                ok(kind='workload', dest=leaf, signer=ca, namespace='n', service_account='s', key_type='ecdsa')]

    issue_all()
    assert [result['changed'] for result in issue_all()] == [False, False, False]
    rotated = issue_all(force=True)
    assert [result['issued'] for result in rotated] == [True, True, True]
    assert 'not signed by the given CA' in rotated[1]['reasons'][0] and 'not signed by the given CA' in rotated[2]['reasons'][0]
    assert read_certs(str(tmp_path / 'w' / 'root-cert.pem')) == read_certs(str(tmp_path / 'root' / 'root-cert.pem'))


def test_renewal_window(hierarchy, tmp_path):
    workload(hierarchy, tmp_path / 'w', ttl='1h')
    kept = workload(hierarchy, tmp_path / 'w', ttl='24h', renew_before='30m')
    assert not kept['changed']
    renewed = workload(hierarchy, tmp_path / 'w', ttl='24h', renew_before='2h')
    assert renewed['issued'] and 'within renew_before (2h)' in renewed['reasons'][0]
    leaf = read_certs(renewed['files']['chain'])[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(hours=24, minutes=2)


def test_default_renewal_is_a_third_of_the_lifetime(hierarchy, tmp_path, monkeypatch):
    # Without renew_before a certificate is kept while more than a third of its lifetime remains.
    workload(hierarchy, tmp_path / 'fresh', ttl='3h')
    assert not workload(hierarchy, tmp_path / 'fresh')['changed']
    workload(hierarchy, tmp_path / 'old', ttl='30m')
    leaf = read_certs(str(tmp_path / 'old' / 'cert-chain.pem'))[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(minutes=32)
    # 30m left of 32m: not within a third yet
    assert not workload(hierarchy, tmp_path / 'old')['changed']

    # Later runs, on the module's clock: a third of 32m is 10m40s. With a second more left the certificate is kept,
    # with a second less it is renewed.
    third = datetime.timedelta(minutes=32) / 3
    monkeypatch.setattr(certs, 'utc_now', lambda: leaf.not_valid_after_utc - third - datetime.timedelta(seconds=1))
    assert not workload(hierarchy, tmp_path / 'old')['changed']
    monkeypatch.setattr(certs, 'utc_now', lambda: leaf.not_valid_after_utc - third + datetime.timedelta(seconds=1))
    renewed = workload(hierarchy, tmp_path / 'old')
    assert renewed['issued'] and renewed['reasons'] == [
        'the certificate expires at %s, within renew_before (10m40s)' % leaf.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')]
    assert read_certs(str(tmp_path / 'old' / 'cert-chain.pem'))[0].serial_number != leaf.serial_number


# ---- check mode and diff ------------------------------------------------------------------------------------------

def test_check_mode_predicts_and_writes_nothing(hierarchy, tmp_path):
    result = workload(hierarchy, tmp_path / 'w', check=True, diff=True)
    assert result['changed'] and result['issued'] and not (tmp_path / 'w').exists()
    assert result['written'] == [str(tmp_path / 'w' / name) for name in ('key.pem', 'cert-chain.pem', 'root-cert.pem')]
    assert result['serial_number'] is None and result['fingerprints'] == {}
    predicted = datetime.datetime.strptime(result['not_after'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    assert abs(predicted - certs.utc_now() - datetime.timedelta(hours=24)) < SKEW
    assert result['diff'][0]['before'] == {}
    assert result['diff'][0]['after']['sans'] == ['URI:spiffe://cluster.local/ns/default/sa/a']


def test_check_mode_on_current_certificate_reports_no_change(hierarchy, tmp_path):
    workload(hierarchy, tmp_path / 'w')
    assert not workload(hierarchy, tmp_path / 'w', check=True)['changed']


def test_check_mode_on_renewal_keeps_old_files(hierarchy, tmp_path):
    first = workload(hierarchy, tmp_path / 'w')
    predicted = workload(hierarchy, tmp_path / 'w', service_account='b', check=True)
    assert predicted['changed'] and predicted['issued']
    assert workload(hierarchy, tmp_path / 'w', check=True)['fingerprints'] == first['fingerprints']


def test_diff_shows_before_and_after(hierarchy, tmp_path):
    first = workload(hierarchy, tmp_path / 'w')
    second = workload(hierarchy, tmp_path / 'w', service_account='b', diff=True)
    cert_diff = second['diff'][0]
    assert cert_diff['before'] == {'subject': '', 'sans': ['URI:spiffe://cluster.local/ns/default/sa/a'],
                                   'not_after': first['not_after'], 'sha256_fingerprint': first['fingerprints']['sha256']}
    assert cert_diff['after'] == {'subject': '', 'sans': ['URI:spiffe://cluster.local/ns/default/sa/b'],
                                  'not_after': second['not_after'], 'sha256_fingerprint': second['fingerprints']['sha256']}


# ---- bad input: refused with the parameter's name, before anything is written -------------------------------------

@pytest.mark.parametrize('params, parameter, words', [
    ({'trust_domain': 'Cluster.Local'}, 'trust_domain', 'lower case'),
    ({'trust_domain': 'cluster..local'}, 'trust_domain', 'dot-separated'),
    ({'namespace': 'Default'}, 'namespace', 'lower case'),
    ({'namespace': 'a.b'}, 'namespace', 'lower case'),
    ({'namespace': 'n' * 64}, 'namespace', 'at most 63'),
    ({'service_account': 'my_sa'}, 'service_account', 'lower case'),
    ({'service_account': '-sa'}, 'service_account', 'start and end'),
    ({'ttl': '0h'}, 'ttl', 'not a positive duration'),
    ({'ttl': '-1h'}, 'ttl', 'not a positive duration'),
    ({'ttl': '24'}, 'ttl', 'not a duration'),
    ({'renew_before': '24h'}, 'renew_before', 'shorter than ttl'),
    ({'renew_before': '-1h'}, 'renew_before', 'at least 0s'),
    ({'key_type': 'rsa', 'curve': 'secp384r1'}, 'curve', 'key_type=ecdsa only'),
    ({'key_size': 2048}, 'key_size', 'key_type=rsa only'),
    ({'cluster_name': 'west'}, 'cluster_name', 'does not apply to kind=workload'),
])
def test_bad_workload_input(hierarchy, tmp_path, params, parameter, words):
    base = dict(kind='workload', dest=str(tmp_path / 'w'), signer=str(hierarchy['base'] / 'west'),
                namespace='default', service_account='a', key_type='ecdsa')
    base.update(params)
    message = fails(**base)
    assert message.startswith(parameter + ':') and words in message, message
    assert not (tmp_path / 'w').exists()


def test_options_of_other_kinds_are_refused(tmp_path):
    message = fails(kind='root', dest=str(tmp_path / 'r'), namespace='default')
    assert message.startswith('namespace:') and 'kind=workload' in message
    message = fails(kind='root', dest=str(tmp_path / 'r'), signer=str(tmp_path))
    assert message.startswith('signer:')
    assert not (tmp_path / 'r').exists()


def test_required_options_are_named(tmp_path):
    assert 'cluster_name' in fails(kind='intermediate', dest=str(tmp_path / 'i'), signer=str(tmp_path))
    assert 'signer, signer_cert_path' in fails(kind='workload', dest=str(tmp_path / 'w'), namespace='n', service_account='s')


def test_ca_key_must_match_ca_cert(hierarchy, tmp_path):
    stray = tmp_path / 'stray-key.pem'
    stray.write_bytes(certs.private_key_pem(certs.generate_key('ecdsa-secp256r1')))
    message = fails(kind='intermediate', dest=str(tmp_path / 'i'), cluster_name='c',
                    signer_cert_path=hierarchy['root']['files']['cert'], signer_key_path=str(stray))
    assert message.startswith('signer_key_path:') and 'does not match' in message
    assert not (tmp_path / 'i').exists()


def test_signer_must_be_a_ca(hierarchy, tmp_path):
    leaf = workload(hierarchy, tmp_path / 'leaf')
    # the workload's chain plus the root makes a complete path whose first certificate is no CA
    full = tmp_path / 'leaf-full-chain.pem'
    with open(leaf['files']['chain'], 'rb') as chain, open(leaf['files']['root'], 'rb') as root:
        full.write_bytes(chain.read() + root.read())
    message = fails(kind='workload', dest=str(tmp_path / 'w'), namespace='n', service_account='s',
                    signer_cert_path=str(full), signer_key_path=leaf['files']['key'])
    assert message.startswith('signer_cert_path:') and 'is not a CA' in message
    assert not (tmp_path / 'w').exists()


def test_signer_chain_must_reach_a_root(hierarchy, tmp_path):
    west = hierarchy['west']['files']
    message = fails(kind='workload', dest=str(tmp_path / 'w'), namespace='n', service_account='s',
                    signer_cert_path=west['cert'], signer_key_path=west['key'])
    assert message.startswith('signer_cert_path:') and 'not self-signed' in message


def test_signer_directory_must_hold_a_ca(tmp_path):
    (tmp_path / 'empty').mkdir()
    message = fails(kind='workload', dest=str(tmp_path / 'w'), namespace='n', service_account='s',
                    signer=str(tmp_path / 'empty'))
    assert message.startswith('signer:') and 'neither an intermediate' in message


@pytest.mark.parametrize('ttl', ['3000000d', '999999999999d', '99999999999999999999w'])
def test_a_ttl_past_what_a_certificate_can_carry_is_refused_with_the_maximum(tmp_path, ttl):
    message = fails(kind='root', dest=str(tmp_path / 'root'), ttl=ttl)
    assert message.startswith('ttl: %s is too long' % ttl), message
    assert '9999-12-31T23:59:59Z' in message and 'at most' in message
    assert not (tmp_path / 'root').exists()


def test_a_renew_before_too_large_for_a_duration_is_refused(tmp_path):
    message = fails(kind='root', dest=str(tmp_path / 'root'), renew_before='99999999999999999999w')
    assert message.startswith('renew_before: ') and 'too long' in message, message
