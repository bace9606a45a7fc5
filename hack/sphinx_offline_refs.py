"""Sphinx extension for building the docsite offline (hack/docs.sh).

The pages antsibull-docs writes refer to Ansible's docsite by label: other collections' plugins
(``ansible_collections.kubernetes.core.k8s_module``) and a few of Ansible's own pages (``common_return_values``).
Sphinx resolves those through the intersphinx inventory of docs.ansible.com, which cannot be fetched here. This
extension turns them into links to the same pages, by docs.ansible.com's URL scheme, and leaves every other
reference alone: a broken reference within this collection's own pages still fails ``sphinx-build -W``, and so does
a label of Ansible's that is not listed in ANSIBLE_PAGES.
"""

from docutils import nodes
from docutils.nodes import make_id

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
OWN_PREFIX = 'ansible_collections.meshbridge.istio_vm.'
# Ansible's own labels the antsibull-docs templates use: page, and the title shown for a reference without one.
ANSIBLE_PAGES = {
    'common_return_values': ('reference_appendices/common_return_values.html', 'Return Values'),
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible Configuration Settings'),
}


def external_uri(target):
    """The docs.ansible.com address of a label, or None when it is not one of Ansible's docsite."""
    if target in ANSIBLE_PAGES:
        return ANSIBLE_DOCS + ANSIBLE_PAGES[target][0]
    if not target.startswith('ansible_collections.') or target.startswith(OWN_PREFIX):
        return None
    # ansible_collections.NAMESPACE.NAME.PLUGIN_TYPE[__ANCHOR]: the plugin's page, at the label's element.
    page = target.split('__', 1)[0].split('.')
    if len(page) != 4:
        return None
    return '%scollections/%s/%s/%s.html#%s' % (ANSIBLE_DOCS, page[1], page[2], page[3], make_id(target))


def resolve(app, env, node, contnode):
    """Sphinx's missing-reference handler: a link for a label of Ansible's docsite, else None (Sphinx warns)."""
    if node.get('refdomain') != 'std' or node.get('reftype') != 'ref':
        return None
    target = node['reftarget']
    uri = external_uri(target)
    if uri is None:
        return None
    reference = nodes.reference('', '', internal=False, refuri=uri)
    if node.get('refexplicit') or target not in ANSIBLE_PAGES:
        reference += contnode
    else:
        reference += nodes.inline(ANSIBLE_PAGES[target][1], ANSIBLE_PAGES[target][1])
    return reference


def setup(app):
    app.connect('missing-reference', resolve)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
