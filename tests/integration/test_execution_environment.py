"""The execution environment: hack/ee-context.sh runs `ansible-builder create` on meta/execution-environment.yml, and
the build context it writes holds what the collection needs (its collections at versions galaxy.yml allows, the Python
requirements, the system packages with the repository they come from); ansible-builder's own introspection finds the
same files through the definition when the collection is part of another execution environment. No container
engine, no network: the image itself is not built here."""

import os
import subprocess
import sys

import ansible_collections
import pytest
import yaml
from ansible_builder._target_scripts import introspect
from bindep.depends import Depends
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import kubeconfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _read(*parts):
    with open(os.path.join(*parts), encoding='utf-8') as handle:
        return handle.read()


def _requirement_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith('#')]


@pytest.fixture(scope='module')
def definition():
    return yaml.safe_load(_read(REPO, 'meta', 'execution-environment.yml'))


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp('ee')
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'])
    completed = subprocess.run([os.path.join(REPO, 'hack', 'ee-context.sh'), str(out)], env=env, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out / 'context'


def test_the_definition_is_version_3_with_a_base_image_pinned_by_tag(definition):
    assert definition['version'] == 3
    image = definition['images']['base_image']['name']
    name, colon, tag = image.rpartition(':')
    assert name and colon and '/' not in tag and tag not in ('', 'latest'), image


def test_the_collections_are_the_collection_and_its_dependencies_at_versions_galaxy_yml_allows(definition):
    galaxy = yaml.safe_load(_read(REPO, 'galaxy.yml'))
    pinned = {entry['name']: entry['version'] for entry in definition['dependencies']['galaxy']['collections']}
    own = '%s.%s' % (galaxy['namespace'], galaxy['name'])
    assert sorted(pinned) == sorted([own] + list(galaxy['dependencies'])), pinned
    assert pinned[own] == galaxy['version']
    for name, allowed in galaxy['dependencies'].items():
        assert Version(pinned[name]) in SpecifierSet(allowed), (name, pinned[name], allowed)


def test_the_image_runs_the_ansible_core_and_collections_the_tests_run_with(definition):
    # The EE is what a user runs in production: the same ansible-core as .venv (requirements-dev.txt) and the
    # dependency collections of .venv's Ansible package, not versions no test ran.
    dev_pins = dict(line.split('==') for line in _requirement_lines(_read(REPO, 'requirements-dev.txt')))
    assert definition['dependencies']['ansible_core']['package_pip'] == 'ansible-core==' + dev_pins['ansible-core']
    installed = {}
    for root in ansible_collections.__path__:
        for name in ('google.cloud', 'kubernetes.core', 'ansible.posix', 'community.crypto'):
            manifest = os.path.join(root, *name.split('.'), 'MANIFEST.json')
            if name not in installed and os.path.exists(manifest):
                installed[name] = yaml.safe_load(_read(manifest))['collection_info']['version']
    pinned = {entry['name']: entry['version'] for entry in definition['dependencies']['galaxy']['collections']}
    assert {name: pinned[name] for name in installed} == installed and len(installed) == 4, installed


def test_the_system_packages_match_each_platform_and_include_the_kubeconfig_auth_plugin():
    depends = Depends(_read(REPO, 'bindep.txt'))

    def packages(*profiles):
        return sorted(rule[0] for rule in depends.active_rules(list(profiles) + ['default']))

    # The command kubeconfig_entry writes into the kubeconfig, in the package Google ships it in.
    plugin_package = 'google-cloud-cli-' + kubeconfig.GKE_AUTH_PLUGIN
    assert packages('platform:rpm', 'platform:centos') == sorted(['openssh-clients', plugin_package])
    assert packages('platform:dpkg', 'platform:debian') == sorted(['openssh-client', plugin_package])
    # No guessed names on platforms the file does not know.
    assert packages('platform:apk', 'platform:alpine') == []


def test_the_build_context_holds_the_collections_requirements_and_system_packages(definition, context):
    containerfile = (context / 'Containerfile').read_text()
    assert 'ARG EE_BASE_IMAGE="%s"' % definition['images']['base_image']['name'] in containerfile
    assert definition['dependencies']['ansible_core']['package_pip'] in containerfile
    build = context / '_build'
    assert yaml.safe_load((build / 'requirements.yml').read_text()) == {
        'collections': definition['dependencies']['galaxy']['collections']}
    assert _requirement_lines((build / 'requirements.txt').read_text()) == _requirement_lines(
        _read(REPO, 'requirements.txt'))
    assert (build / 'bindep.txt').read_text() == _read(REPO, 'bindep.txt')
    # The plugin's package comes from Google's repository: the final stage knows it before it installs the packages.
    repository = containerfile.index('/etc/yum.repos.d/google-cloud-cli.repo')
    assert 'baseurl=https://packages.cloud.google.com/yum/repos/cloud-sdk-el9-x86_64' in containerfile
    assert containerfile.index('FROM base AS final') < repository < containerfile.index(
        'RUN /output/scripts/install-from-bindep')


def test_an_execution_environment_that_includes_the_collection_gets_its_requirements():
    # What ansible-builder runs in the image on every collection it installed: file names relative to its root.
    python, system = introspect.process_collection(REPO)
    assert python == _requirement_lines(_read(REPO, 'requirements.txt'))
    assert system == _requirement_lines(_read(REPO, 'bindep.txt'))
