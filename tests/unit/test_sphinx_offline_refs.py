"""hack/sphinx_offline_refs.py: which references of the docsite become links to docs.ansible.com, and which are left
for Sphinx to report."""

from docutils import nodes
from sphinx.addnodes import pending_xref

from hack import sphinx_offline_refs as offline

DOCS = 'https://docs.ansible.com/projects/ansible/devel/'


def _xref(target, explicit=True, domain='std', kind='ref'):
    node = pending_xref('', refdomain=domain, reftype=kind, reftarget=target, refexplicit=explicit)
    return node, nodes.inline(target, 'shown')


def test_another_collections_plugin_links_to_its_page_and_label():
    assert offline.external_uri('ansible_collections.kubernetes.core.k8s_module') == (
        DOCS + 'collections/kubernetes/core/k8s_module.html#ansible-collections-kubernetes-core-k8s-module')
    assert offline.external_uri('ansible_collections.community.crypto.x509_certificate_module__parameter-path') == (
        DOCS + 'collections/community/crypto/x509_certificate_module.html'
        '#ansible-collections-community-crypto-x509-certificate-module-parameter-path')


def test_ansible_pages_of_the_templates_link_to_the_reference_appendices():
    assert offline.external_uri('common_return_values') == DOCS + 'reference_appendices/common_return_values.html'
    assert offline.external_uri('ansible_configuration_settings') == DOCS + 'reference_appendices/config.html'


def test_this_collections_own_and_unknown_labels_are_left_for_sphinx_to_report():
    assert offline.external_uri('ansible_collections.meshbridge.istio_vm.gce_vm_role') is None
    assert offline.external_uri('ansible_collections.meshbridge.istio_vm.docsite.guide_user') is None
    assert offline.external_uri('some_label_of_ansible') is None
    assert offline.external_uri('ansible_collections.kubernetes.core') is None


def test_resolve_keeps_an_explicit_title_and_gives_a_bare_ansible_label_its_page_title():
    reference = offline.resolve(None, None, *_xref('ansible_collections.kubernetes.core.k8s_module'))
    assert reference['refuri'].endswith('k8s_module.html#ansible-collections-kubernetes-core-k8s-module')
    assert reference.astext() == 'shown'
    reference = offline.resolve(None, None, *_xref('ansible_configuration_settings', explicit=False))
    assert reference.astext() == 'Ansible Configuration Settings'


def test_resolve_leaves_other_domains_and_own_labels_alone():
    assert offline.resolve(None, None, *_xref('ansible_collections.meshbridge.istio_vm.gce_vm_role')) is None
    assert offline.resolve(None, None, *_xref('common_return_values', domain='py', kind='class')) is None
