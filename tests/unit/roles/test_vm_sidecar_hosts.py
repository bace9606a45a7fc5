"""The vm_sidecar role's /etc/hosts expressions, taken from its task files and rendered by Ansible's templar, applied
line by line as ansible.builtin.lineinfile applies a regexp (re.search on each line)."""

import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TASKS = os.path.join(REPO, 'roles', 'vm_sidecar', 'tasks')
LINE = '10.168.8.2 istiod.istio-system.svc'
GCE_HOSTS = ['127.0.0.1\tlocalhost', '10.168.0.20\tistio-gce.us-west2-a.c.lab-project.internal istio-gce  # Added by Google',
             '169.254.169.254\tmetadata.google.internal  # Added by Google']


def _task(file_name, name):
    with open(os.path.join(TASKS, file_name), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)
    for task in tasks:
        for inner in [task] + task.get('block', []):
            if inner.get('name') == name:
                return inner
    raise KeyError(name)


def _render(text, **variables):
    # Imported here, not at collection: importing Ansible's controller-side templating changes how module_utils
    # report warnings, which other unit tests (cert_issuer's) read from module results.
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))


def _stale_regexp(hosts_line):
    task = _task('bundle.yml', 'Remove stale istiod lines from /etc/hosts')
    variables = {'vm_sidecar_hosts_line': hosts_line, 'vm_sidecar_istiod_host': hosts_line.split(' ')[1]}
    return _render(task['ansible.builtin.lineinfile']['regexp'], **variables)


def _kept(regexp, lines):
    return [line for line in lines if not re.search(regexp, line + '\n')]


def test_stale_lines_for_istiods_host_go_and_everything_else_stays():
    lines = GCE_HOSTS + ['10.168.8.9 istiod.istio-system.svc', '10.168.8.9   istiod.istio-system.svc  other-name',
                         '10.168.8.9 alias istiod.istio-system.svc', LINE, '# 10.168.8.9 istiod.istio-system.svc',
                         '10.168.8.9 istiod.istio-system.svc.example', '10.168.8.9 istiod-canary.istio-system.svc']
    assert _kept(_stale_regexp(LINE), lines) == GCE_HOSTS + [LINE, '# 10.168.8.9 istiod.istio-system.svc',
                                                             '10.168.8.9 istiod.istio-system.svc.example',
                                                             '10.168.8.9 istiod-canary.istio-system.svc']


def test_the_wanted_line_is_not_stale():
    assert _kept(_stale_regexp(LINE), [LINE]) == [LINE]
    revisioned = '10.168.8.3 istiod-canary.istio-system.svc'
    assert _kept(_stale_regexp(revisioned), [revisioned, '10.168.8.2 istiod-canary.istio-system.svc', LINE]) == [revisioned, LINE]


def test_absent_removes_every_istiod_line_and_nothing_else():
    regexp = _task('absent.yml', 'Remove the istiod lines from /etc/hosts')['ansible.builtin.lineinfile']['regexp']
    lines = GCE_HOSTS + [LINE, '10.168.8.3 istiod-canary.istio-system.svc', '10.1.1.1 istiod.custom-ns.svc',
                         '# 10.168.8.9 istiod.istio-system.svc', '10.1.1.2 istiodx.istio-system.svc']
    assert _kept(regexp, lines) == GCE_HOSTS + ['# 10.168.8.9 istiod.istio-system.svc', '10.1.1.2 istiodx.istio-system.svc']


@pytest.mark.parametrize('content, accepted', [
    ('10.168.8.2 istiod.istio-system.svc\n', True),
    ('10.168.8.2\tistiod-canary.istio-system.svc', True),
    ('fd00::2 istiod.istio-system.svc', True),
    ('istiod.istio-system.svc', False),
    ('10.168.8.2 istiod.istio-system.svc\n10.168.8.3 istiod.istio-system.svc', False),
    ('10.168.8.2 evil.example.com', False),
    ('10.168.8.2 istiod.istio-system.svc; rm -rf /', False),
])
def test_the_bundle_hosts_file_is_checked(content, accepted):
    line_fact = _task('validate.yml', "Read istiod's address line from the bundle")['ansible.builtin.set_fact']['vm_sidecar_hosts_line']
    # The role reads the file with the file lookup (which strips the trailing newline); the same expression follows.
    line = _render(line_fact.replace("lookup('ansible.builtin.file', vm_sidecar_bundle_path ~ '/hosts')", 'content'),
                   content=content.rstrip('\n'))
    check = _task('validate.yml', "Check the bundle's hosts line, root certificate and token")['ansible.builtin.assert']['that'][0]
    assert _render('{{ %s }}' % check, vm_sidecar_hosts_line=line) is accepted
