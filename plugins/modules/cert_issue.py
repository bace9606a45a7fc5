#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_issue
short_description: Issue the Istio mesh CA hierarchy and workload certificates
version_added: 0.1.0
description:
  - Issues one level of an Istio mesh certificate hierarchy into a directory, laid out the way Istio expects it.
  - V(root) makes a self-signed root CA (C(root-cert.pem), C(root-key.pem)), with the defaults of Istio's reference
    hierarchy (C(tools/certs)) - RSA 4096, 3650 days, C(CA:true).
  - V(intermediate) makes a per-cluster intermediate CA signed by a root, written as Istio's plug-in CA bundle
    C(ca-cert.pem), C(ca-key.pem), C(root-cert.pem), C(cert-chain.pem) (intermediate then root), exactly the keys of
    the C(cacerts) secret in C(istio-system). It has C(CA:true, pathlen:0), the SAN C(DNS:istiod.istio-system.svc)
    and the cluster name as locality (C(L)).
  - V(workload) makes a leaf for one workload identity the way istiod issues them - empty subject, a critical URI SAN
    C(spiffe://<trust_domain>/ns/<namespace>/sa/<service_account>), key usages digitalSignature and keyEncipherment,
    extended key usages serverAuth and clientAuth, C(CA:false), valid from two minutes ago - and writes C(key.pem),
    C(cert-chain.pem) (the leaf, then the intermediates, without the root) and C(root-cert.pem), the files a VM
    sidecar reads from C(/etc/certs).
  - A certificate is issued, with a new private key, only when a file is missing or unreadable, the key does not
    match the certificate, the certificate is not signed by the given CA, the requested identity, key or extensions
    changed, the certificate is within O(renew_before) of its expiry, or O(force=true). Chain and root files that
    merely differ from what they must hold are rewritten without issuing anew.
  - Every option is checked before anything is written. Private keys are written with mode C(0600) and O(dest) is
    kept at mode C(0700), whatever O(mode) says. Files are replaced atomically; O(unsafe_writes) is not used.
author:
  - meshbridge maintainers (@meshbridge)
requirements:
  - cryptography >= 41.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - meshbridge.istio_vm.attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - Reports which files would be written and why; nothing is generated or written.
  diff_mode:
    support: full
    details:
      - Shows subject, SANs, C(not_after) and SHA-256 fingerprint of the certificate before and after, and changes
        to owner, group and mode.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  kind:
    description:
      - Which level of the hierarchy to issue.
    type: str
    required: true
    choices: [root, intermediate, workload]
  dest:
    description:
      - Directory to write the files to. Created with mode C(0700) when missing.
    type: path
    required: true
  signer:
    description:
      - Directory of the CA that signs the certificate, as this module writes it - an intermediate
        (C(cert-chain.pem), C(ca-key.pem)) or a root (C(root-cert.pem), C(root-key.pem)). The intermediate's
        directory wins when both are present.
      - For O(kind=intermediate) and O(kind=workload) one of O(signer) or O(signer_cert_path) is required;
        not used for O(kind=root).
    type: path
  signer_cert_path:
    description:
      - PEM file with the signing CA's certificate followed by its issuers up to and including the self-signed
        root, like Istio's C(cert-chain.pem). A root CA's C(root-cert.pem) qualifies on its own.
      - Use together with O(signer_key_path), instead of O(signer).
    type: path
  signer_key_path:
    description:
      - Unencrypted PEM private key of the signing CA. Must match the first certificate of O(signer_cert_path).
    type: path
  key_type:
    description:
      - Type of the new private key.
    type: str
    default: rsa
    choices: [rsa, ecdsa]
  key_size:
    description:
      - RSA key size in bits. Only for O(key_type=rsa).
      - Default V(4096) for O(kind=root) and O(kind=intermediate), V(2048) for O(kind=workload) (as istiod).
    type: int
    choices: [2048, 3072, 4096]
  curve:
    description:
      - Elliptic curve. Only for O(key_type=ecdsa). Default V(secp256r1).
    type: str
    choices: [secp256r1, secp384r1]
  ttl:
    description:
      - Lifetime of a newly issued certificate, as a number with a unit V(s), V(m), V(h), V(d) or V(w), or several
        (V(24h), V(3650d), V(1d12h)). Must be positive.
      - Default V(3650d) for O(kind=root), V(730d) for O(kind=intermediate) (Istio's reference hierarchy) and
        V(24h) for O(kind=workload) (istiod's default).
      - A signed certificate never outlives its signer; its lifetime is cut to the signer's C(not_after), with
        a warning.
      - Changing O(ttl) does not by itself issue a new certificate; the next renewal uses it.
    type: str
  renew_before:
    description:
      - Issue a new certificate when the existing one expires within this duration (same format as O(ttl)).
      - Must be shorter than O(ttl).
      - Default a third of the existing certificate's lifetime.
    type: str
  force:
    description:
      - Issue a new key and certificate even when the existing ones are still right.
    type: bool
    default: false
  common_name:
    description:
      - Common name (C(CN)) of a CA. Default V(Root CA) for O(kind=root), V(Intermediate CA) for
        O(kind=intermediate). Workload certificates have an empty subject.
    type: str
  organization:
    description:
      - Organization (C(O)) of a CA. Default V(Istio), as Istio's reference hierarchy.
    type: str
  cluster_name:
    description:
      - Name of the cluster the intermediate CA is for; its locality (C(L)). Required for O(kind=intermediate).
    type: str
  trust_domain:
    description:
      - Trust domain of the workload's SPIFFE ID, a DNS-1123 subdomain. Default V(cluster.local), Istio's.
      - Only for O(kind=workload).
    type: str
  namespace:
    description:
      - Kubernetes namespace of the workload, a DNS-1123 label. Required for O(kind=workload).
    type: str
  service_account:
    description:
      - Kubernetes service account of the workload, a DNS-1123 subdomain. Required for O(kind=workload).
    type: str
  mode:
    description:
      - Mode of the certificate files. Default C(0644). Private keys are always C(0600) and O(dest) C(0700).
  owner:
    description:
      - Owner of O(dest) and of every file written there.
  group:
    description:
      - Group of O(dest) and of every file written there.
notes:
  - Keys and certificates are never returned; only paths, dates, serial numbers, fingerprints and names are.
  - Store the root CA's key offline once the intermediates are issued; only the C(cacerts) bundle belongs in a cluster.
seealso:
  - name: Plug in CA certificates
    description: How Istio uses the C(cacerts) secret this module's O(kind=intermediate) output is made for.
    link: https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/
  - module: community.crypto.x509_certificate
"""

EXAMPLES = r"""
- name: Issue the mesh root CA
  meshbridge.istio_vm.cert_issue:
    kind: root
    dest: /srv/mesh-ca/root

- name: Issue the intermediate CA of cluster west, the contents of secret cacerts
  meshbridge.istio_vm.cert_issue:
    kind: intermediate
    dest: /srv/mesh-ca/west
    signer: /srv/mesh-ca/root
    cluster_name: west

- name: Issue a certificate for the VM workload default/productcatalogservice
  meshbridge.istio_vm.cert_issue:
    kind: workload
    dest: /srv/mesh-ca/vm/productcatalogservice
    signer: /srv/mesh-ca/west
    namespace: default
    service_account: productcatalogservice
    key_type: ecdsa
    ttl: 48h
    renew_before: 12h

- name: Issue a workload certificate with a CA kept elsewhere, readable by the sidecar's user
  meshbridge.istio_vm.cert_issue:
    kind: workload
    dest: /etc/certs
    signer_cert_path: /secure/west/cert-chain.pem
    signer_key_path: /secure/west/ca-key.pem
    trust_domain: example.org
    namespace: shop
    service_account: catalog
    owner: istio-proxy
    group: istio-proxy
"""

RETURN = r"""
files:
  description: Paths of the files in O(dest), by role (C(key), C(cert), C(chain), C(root)); the roles of O(kind) only.
  returned: success
  type: dict
  sample:
    key: /srv/mesh-ca/west/ca-key.pem
    cert: /srv/mesh-ca/west/ca-cert.pem
    chain: /srv/mesh-ca/west/cert-chain.pem
    root: /srv/mesh-ca/west/root-cert.pem
issued:
  description: Whether a new key and certificate were (or, in check mode, would be) issued.
  returned: success
  type: bool
reasons:
  description: Why a new certificate was (or would be) issued; empty when the existing one was kept.
  returned: success
  type: list
  elements: str
  sample: ["the certificate expires at 2026-11-25T20:00:00Z, within renew_before (2h)"]
written:
  description: Paths of the files that were (or would be) written.
  returned: success
  type: list
  elements: str
subject:
  description: Subject of the certificate, RFC 4514; empty for workload certificates.
  returned: success
  type: str
  sample: L=west,CN=Intermediate CA,O=Istio
sans:
  description: Subject alternative names of the certificate.
  returned: success
  type: list
  elements: str
  sample: ["URI:spiffe://cluster.local/ns/default/sa/productcatalogservice"]
spiffe_id:
  description: The workload's SPIFFE ID.
  returned: O(kind=workload)
  type: str
  sample: spiffe://cluster.local/ns/default/sa/productcatalogservice
not_before:
  description: Start of the certificate's validity, UTC. V(null) in check mode when a certificate would be issued.
  returned: success
  type: str
  sample: "2026-11-24T20:58:00Z"
not_after:
  description: End of the certificate's validity, UTC; predicted in check mode when a certificate would be issued.
  returned: success
  type: str
  sample: "2026-11-25T21:00:00Z"
serial_number:
  description: Serial number of the certificate. V(null) in check mode when a certificate would be issued.
  returned: success
  type: int
  sample: 467711914113284738431547264936148434126906442213
fingerprints:
  description: Fingerprints of the certificate by hash; empty in check mode when a certificate would be issued.
  returned: success
  type: dict
  sample:
    sha256: "3A:1F:...:9C"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.cert_issuer import CertIssuer, ParameterError
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    CURVES,
    HAS_CRYPTOGRAPHY,
    RSA_KEY_SIZES,
    CertificateError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kind=dict(type='str', required=True, choices=['root', 'intermediate', 'workload']),
            dest=dict(type='path', required=True),
            signer=dict(type='path'),
            signer_cert_path=dict(type='path'),
            signer_key_path=dict(type='path', no_log=False),
            key_type=dict(type='str', default='rsa', choices=['rsa', 'ecdsa'], no_log=False),
            key_size=dict(type='int', choices=list(RSA_KEY_SIZES), no_log=False),
            curve=dict(type='str', choices=list(CURVES)),
            ttl=dict(type='str'),
            renew_before=dict(type='str'),
            force=dict(type='bool', default=False),
            common_name=dict(type='str'),
            organization=dict(type='str'),
            cluster_name=dict(type='str'),
            trust_domain=dict(type='str'),
            namespace=dict(type='str'),
            service_account=dict(type='str'),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
        mutually_exclusive=[('signer', 'signer_cert_path'), ('signer', 'signer_key_path')],
        required_together=[('signer_cert_path', 'signer_key_path')],
        required_if=[
            ('kind', 'intermediate', ('signer', 'signer_cert_path'), True),
            ('kind', 'intermediate', ('cluster_name',)),
            ('kind', 'workload', ('signer', 'signer_cert_path'), True),
            ('kind', 'workload', ('namespace', 'service_account')),
        ],
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        result = CertIssuer(module).run()
    except (ParameterError, CertificateError) as error:
        module.fail_json(msg=str(error))
    except OSError as error:
        module.fail_json(msg='cannot write to %s: %s' % (module.params['dest'], error))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
