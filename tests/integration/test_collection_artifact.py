"""The collection as a user gets it: built with ansible-galaxy, installed from the tarball into a collections path of
its own, and run by FQCN from a directory that is not this checkout. The playbooks resolve and parse, nothing of the
lab ships, and the validation stage refuses a bad input with the shipped example inventory's settings."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
STAGES = ['validate', 'cluster', 'control_plane', 'app', 'mesh', 'vms', 'verify']
PLAYBOOKS = ['site', 'teardown'] + STAGES
# What the artifact must not contain: the lab and what builds, tests or runs it, and the checkout's own README and
# site.yml (the artifact's README is docs/README-collection.md).
NOT_SHIPPED = ['lab/', 'inventories/lab/', 'tests/', 'molecule/', 'hack/', 'docs/dev/', 'changelogs/fragments/',
               '.lab/', '.venv/', '.build/']
NOT_SHIPPED_FILES = ['Makefile', 'README.md', 'site.yml', 'requirements-dev.txt', 'constraints.txt', 'pytest.ini']


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """Build the artifact, install it with ansible-galaxy into a fresh collections path, and give the environment
    that runs it from there: neither this checkout's collections tree (hack/env.sh's ANSIBLE_COLLECTIONS_PATH and
    PYTHONPATH) nor Galaxy (the dependencies are the venv's, from the Ansible package on sys.path)."""
    top = tmp_path_factory.mktemp('artifact')
    build = top / 'build'
    collections = top / 'collections'
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    env.update({'ANSIBLE_COLLECTIONS_PATH': str(collections), 'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'true',
                'ANSIBLE_NOCOLOR': 'true', 'ANSIBLE_FORCE_COLOR': 'false'})
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', str(build)], top, env)
    tarballs = sorted(build.glob('meshbridge-istio_vm-*.tar.gz'))
    assert len(tarballs) == 1, tarballs
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', str(tarballs[0]), '-p', str(collections),
          '--offline'], top, env)
    root = collections / 'ansible_collections' / 'meshbridge' / 'istio_vm'
    assert root.is_dir() and not root.is_symlink()
    # An inventory as a user makes it: the shipped example's group_vars, with a static host for the controller
    # (the example's dynamic source would call the Compute API).
    inventory = top / 'inventory'
    inventory.mkdir()
    (inventory / 'hosts').write_text('localhost ansible_connection=local\n')
    (inventory / 'group_vars').mkdir()
    (inventory / 'group_vars' / 'all.yml').write_text((root / 'inventories' / 'gcp' / 'group_vars' / 'all.yml').read_text())
    key = top / 'key.json'
    key.write_text('{}')
    env.update({'GCP_AUTH_KIND': 'serviceaccount', 'GCP_SERVICE_ACCOUNT_FILE': str(key), 'HOME': str(top / 'home')})
    return {'tarball': tarballs[0], 'root': root, 'inventory': str(inventory), 'env': env, 'cwd': top}


def _run(command, cwd, env, expect_failure=False):
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if expect_failure:
        assert completed.returncode != 0, completed.stdout
    else:
        assert completed.returncode == 0, '%s failed (%d):\n%s\n%s' % (
            ' '.join(command), completed.returncode, completed.stdout[-3000:], completed.stderr[-3000:])
    return completed


def _playbook(installed, *args, expect_failure=False, json_output=False):
    env = dict(installed['env'])
    if json_output:
        env['ANSIBLE_STDOUT_CALLBACK'] = 'ansible.posix.json'
    return _run([os.path.join(BIN, 'ansible-playbook'), '-i', installed['inventory']] + list(args),
                installed['cwd'], env, expect_failure=expect_failure)


def test_nothing_of_the_lab_ships(installed):
    with tarfile.open(installed['tarball']) as tarball:
        names = tarball.getnames()
        manifest = json.load(tarball.extractfile('MANIFEST.json'))
    leaked = [name for name in names if any(name.startswith(prefix) or name == prefix.rstrip('/')
                                            for prefix in NOT_SHIPPED) or name in NOT_SHIPPED_FILES]
    assert not leaked, leaked
    for shipped in ['playbooks/site.yml', 'playbooks/teardown.yml', 'inventories/gcp/group_vars/all.yml',
                    'inventories/gcp/meshbridge.gcp_compute.yml', 'docs/README-collection.md', 'requirements.txt',
                    'meta/runtime.yml', 'LICENSE', 'CHANGELOG.md', 'changelogs/changelog.yaml',
                    # The docsite's guides, where antsibull-docs and Galaxy look for them, and the execution
                    # environment with the files it names relative to the collection's root.
                    'docs/docsite/links.yml', 'docs/docsite/extra-docs.yml', 'docs/docsite/rst/guide_user.rst',
                    'docs/docsite/rst/guide_execution_environment.rst', 'meta/execution-environment.yml',
                    'bindep.txt']:
        assert shipped in names, shipped
    assert manifest['collection_info']['readme'] == 'docs/README-collection.md'
    readme = (installed['root'] / 'docs' / 'README-collection.md').read_text()
    assert 'make lab' not in readme
    assert 'ansible-playbook meshbridge.istio_vm.site -i' in readme
    assert 'ansible-playbook meshbridge.istio_vm.teardown -i' in readme


def test_the_collection_playbooks_resolve_by_name_from_the_installed_collection(installed):
    names = ['meshbridge.istio_vm.' + name for name in PLAYBOOKS]
    checked = _playbook(installed, '--syntax-check', *names)
    found = [line.split(':', 1)[1].strip() for line in checked.stdout.splitlines() if line.startswith('playbook: ')]
    assert found == [str(installed['root'] / 'playbooks' / (name + '.yml')) for name in PLAYBOOKS], checked.stdout

    listed = _playbook(installed, '--list-tasks', *names).stdout
    sections = dict(zip(PLAYBOOKS, listed.split('\nplaybook: ')[1:]))
    assert sorted(sections) == sorted(PLAYBOOKS), listed
    # site is every stage in order; teardown deletes what they made.
    plays = [line.strip() for line in sections['site'].splitlines() if line.strip().startswith('play #')]
    assert [play.split('(', 1)[1].split(')', 1)[0] for play in plays] == ['localhost'] * 5 + ['mesh_vms', 'localhost'], plays
    assert 'Check the settings of every stage' in plays[0]
    assert 'Verify the mesh' in plays[-1]
    for stage in STAGES:
        first_play = sections[stage].split('play #1 ')[1].split('\n')[0]
        assert first_play in sections['site'], stage
    assert 'Tear down the cluster and the VMs' in sections['teardown']
    assert 'Start deleting the VMs' in sections['teardown']


def test_the_validation_stage_passes_the_example_inventory_and_refuses_a_bad_vm(installed):
    passed = json.loads(_playbook(installed, 'meshbridge.istio_vm.validate', json_output=True).stdout)
    assert passed['stats']['localhost']['failures'] == 0 and passed['stats']['localhost']['changed'] == 0

    bad_vms = [{'name': 'Istio_GCE', 'services': [{'name': 'productcatalogservice', 'port': 3550}]}]
    refused = _playbook(installed, 'meshbridge.istio_vm.validate', '-e', json.dumps({'gce_vm_instances': bad_vms}),
                        json_output=True, expect_failure=True)
    report = json.loads(refused.stdout)
    failed = [(task['task']['name'], task['hosts']['localhost']) for play in report['plays'] for task in play['tasks']
              if task['hosts'].get('localhost', {}).get('failed')]
    assert len(failed) == 1, failed
    name, outcome = failed[0]
    assert name.startswith('meshbridge.istio_vm.gce_vm : '), name
    # The check loops over the VMs: the refusal is the failed item's message, one setting and one rule. ansible-core
    # 2.21 leaves `failed` out of a loop item's result as callbacks get it; the assert's own `evaluated_to` remains.
    messages = [message for item in outcome.get('results', [outcome])
                if item.get('failed') or item.get('evaluated_to') is False for message in item['msg']]
    assert messages == ['gce_vm_instances[0].name: "Istio_GCE" has characters other than lowercase letters, digits and '
                        'hyphens; use only a-z, 0-9 and -'], messages
    assert report['stats']['localhost']['changed'] == 0


def test_the_checkouts_site_yml_runs_the_shipped_playbook(installed):
    """`ansible-playbook site.yml` in the checkout (as `make lab` and molecule run it) lists the same plays and tasks
    as meshbridge.istio_vm.site from the artifact."""
    def tasks(stdout):
        return [line.strip() for line in stdout.splitlines()[1:] if line.strip() and not line.startswith('playbook: ')]

    installed_site = _playbook(installed, '--list-tasks', 'meshbridge.istio_vm.site').stdout
    env = dict(installed['env'])
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(REPO, '.build', 'collections')
    checkout_site = _run([os.path.join(BIN, 'ansible-playbook'), '-i', installed['inventory'], '--list-tasks',
                          'site.yml'], REPO, env).stdout
    assert tasks(checkout_site) == tasks(installed_site)
    assert len(tasks(installed_site)) > 20
