"""cert_issue through real ansible-playbook: a root, the intermediate of one cluster and two workloads, checked with
openssl; idempotence, renewal, check mode and diff as a playbook user sees them."""

import os
import subprocess

HIERARCHY = """
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: Root CA
          meshbridge.istio_vm.cert_issue:
            kind: root
            dest: "{{ base }}/root"
            key_type: "{{ key_type | default('rsa') }}"
        - name: Intermediate CA of cluster west
          meshbridge.istio_vm.cert_issue:
            kind: intermediate
            dest: "{{ base }}/west"
            signer: "{{ base }}/root"
            cluster_name: west
            key_type: "{{ key_type | default('rsa') }}"
        - name: Workload certificates
          meshbridge.istio_vm.cert_issue:
            kind: workload
            dest: "{{ base }}/sa-{{ item }}"
            signer: "{{ base }}/west"
            namespace: default
            service_account: "{{ item }}"
          loop: [a, b]
"""

WORKLOAD = """
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: Workload certificate
          meshbridge.istio_vm.cert_issue:
            kind: workload
            dest: "{{ base }}/sa-{{ sa }}"
            signer: "{{ base }}/west"
            namespace: default
            service_account: "{{ sa }}"
            ttl: "{{ ttl | default(omit) }}"
            renew_before: "{{ renew_before | default(omit) }}"
            force: "{{ force | default(false) }}"
"""


def openssl(*args):
    return subprocess.run(['openssl'] + list(args), capture_output=True, text=True, check=False)


def test_hierarchy_verifies_with_openssl_and_is_idempotent(run_playbook, tmp_path):
    base = str(tmp_path)
    first = run_playbook(HIERARCHY, extra_vars={'base': base})
    assert first.changed() == 3  # root, intermediate, the workload loop

    for sa in ('a', 'b'):
        chain = os.path.join(base, 'sa-' + sa, 'cert-chain.pem')
        for purpose in ('sslserver', 'sslclient'):
            verify = openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', os.path.join(base, 'sa-' + sa, 'root-cert.pem'),
                             '-untrusted', chain, chain)
            assert verify.returncode == 0 and verify.stdout.strip().endswith(': OK'), verify.stdout + verify.stderr
        san = openssl('x509', '-in', chain, '-noout', '-ext', 'subjectAltName').stdout
        assert 'critical' in san and 'URI:spiffe://cluster.local/ns/default/sa/' + sa in san

    # The intermediate verifies against the root, and its chain file is what Istio's cacerts needs.
    west = os.path.join(base, 'west')
    verify = openssl('verify', '-x509_strict', '-CAfile', os.path.join(west, 'root-cert.pem'), os.path.join(west, 'ca-cert.pem'))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    pair = openssl('x509', '-in', os.path.join(west, 'ca-cert.pem'), '-noout', '-pubkey').stdout
    assert pair == openssl('pkey', '-in', os.path.join(west, 'ca-key.pem'), '-pubout').stdout

    second = run_playbook(HIERARCHY, extra_vars={'base': base})
    assert second.changed() == 0
    results = second.task('Workload certificates')['results']
    spiffe_ids = [result['spiffe_id'] for result in results]
    assert spiffe_ids == ['spiffe://cluster.local/ns/default/sa/a', 'spiffe://cluster.local/ns/default/sa/b']
    assert all(result['written'] == [] for result in results)


def test_certificate_near_expiry_is_renewed(run_playbook, tmp_path):
    base = str(tmp_path)
    run_playbook(HIERARCHY, extra_vars={'base': base, 'key_type': 'ecdsa'})
    short = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'c', 'ttl': '1h', 'renew_before': '10m'})
    assert short.changed() == 1  # a certificate that expires in 1 h
    old = short.task('Workload certificate')
    assert not run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'c', 'renew_before': '30m'}).changed()

    renewed = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'c', 'renew_before': '2h'})
    result = renewed.task('Workload certificate')
    assert renewed.changed() == 1 and result['issued']
    assert 'within renew_before (2h)' in result['reasons'][0]
    assert result['not_after'] > old['not_after'] and result['fingerprints'] != old['fingerprints']

    again = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'c', 'renew_before': '2h'})
    assert again.changed() == 0


def test_check_mode_reports_and_writes_nothing(run_playbook, tmp_path):
    base = str(tmp_path)
    run_playbook(HIERARCHY, extra_vars={'base': base, 'key_type': 'ecdsa'})
    checked = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'c'}, check=True)
    result = checked.task('Workload certificate')
    assert checked.changed() == 1 and result['issued'] and result['spiffe_id'].endswith('/sa/c')
    assert not os.path.exists(os.path.join(base, 'sa-c'))


def test_diff_shows_before_and_after(run_playbook, tmp_path):
    base = str(tmp_path)
    run_playbook(HIERARCHY, extra_vars={'base': base, 'key_type': 'ecdsa'})
    old = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'a'}, diff=True).task('Workload certificate')
    unchanged = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'a'}, diff=True).task('Workload certificate')
    assert unchanged['diff'][0]['before'] == unchanged['diff'][0]['after']
    diffed = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'a', 'ttl': '2h', 'force': True}, diff=True)
    diff = diffed.task('Workload certificate')['diff'][0]
    assert diff['before']['sha256_fingerprint'] == old['fingerprints']['sha256']
    assert diff['before']['not_after'] == old['not_after']
    assert diff['after']['sha256_fingerprint'] == diffed.task('Workload certificate')['fingerprints']['sha256']
    assert diff['after']['sha256_fingerprint'] != diff['before']['sha256_fingerprint']
    assert diff['after']['not_after'] < diff['before']['not_after']
    assert diff['before']['sans'] == diff['after']['sans'] == ['URI:spiffe://cluster.local/ns/default/sa/a']


def test_bad_input_fails_the_task_and_names_the_parameter(run_playbook, tmp_path):
    base = str(tmp_path)
    run_playbook(HIERARCHY, extra_vars={'base': base, 'key_type': 'ecdsa'})
    failed = run_playbook(WORKLOAD, extra_vars={'base': base, 'sa': 'Bad_Name'}, expect_failure=True)
    result = failed.task('Workload certificate')
    assert result['failed'] and result['msg'].startswith('service_account:')
    assert not os.path.exists(os.path.join(base, 'sa-Bad_Name'))
