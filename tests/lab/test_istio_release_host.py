"""istio_install's own download code fetches the lab's Istio release from the real URL through the lab internet; the
release is laid out as Istio lays out one."""

import re
import subprocess
import tarfile

import pytest
import requests
import yaml

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.istio_release import IstioRelease, ReleaseError
from lab.istio import release
from lab.internet.client import client_env
from lab.istio.release_host import ReleaseHost

VERSION = release.RELEASE
DOWNLOADS = 'https://github.com/istio/istio/releases/download/'


@pytest.fixture
def release_host(lab_ca, internet, tmp_path, monkeypatch):
    registry, proxy = internet
    host = ReleaseHost(lab_ca, str(tmp_path / 'releases'), [VERSION])
    host.register(registry)
    host.start()
    for name in ('HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    for name, value in client_env(proxy.url, lab_ca.cert_path).items():
        monkeypatch.setenv(name, value)
    yield host
    host.stop()


def test_release_downloads_through_the_proxy_with_its_checksum_checked(release_host, tmp_path):
    istioctl = IstioRelease(VERSION, cache_dir=str(tmp_path / 'cache')).istioctl()
    assert istioctl == str(tmp_path / 'cache' / VERSION / 'istioctl')
    version = subprocess.run([istioctl, 'version', '--remote=false'], capture_output=True, text=True, timeout=60,
                             check=False)
    assert version.returncode == 0, version.stderr
    assert VERSION in version.stdout


def test_a_version_never_published_is_a_404(release_host, tmp_path):
    with pytest.raises(ReleaseError, match='HTTP 404'):
        IstioRelease('1.24.99', cache_dir=str(tmp_path / 'cache')).istioctl()


@pytest.mark.parametrize('path', ['%s%s/../../../../etc/passwd' % ('', VERSION), '%s' % VERSION, 'x/y/z'])
def test_paths_outside_the_release_files_are_404(release_host, path):
    answer = requests.get(DOWNLOADS + path, timeout=10)
    assert answer.status_code == 404


def test_the_release_is_laid_out_as_istio_lays_out_one_and_is_reproducible(tmp_path):
    first = release.build(str(tmp_path / 'one'))
    second = release.build(str(tmp_path / 'two'))
    with open(first + '.sha256', encoding='ascii') as one, open(second + '.sha256', encoding='ascii') as two:
        assert one.read() == two.read()
    top = 'istio-%s/' % VERSION
    with tarfile.open(first) as tar:
        members = {member.name: member for member in tar.getmembers()}
        manifest = yaml.safe_load(tar.extractfile(top + 'manifest.yaml'))
    assert members[top + 'bin/istioctl'].mode == 0o755
    assert members[top + 'samples/multicluster/gen-eastwest-gateway.sh'].mode == 0o755
    for path in ('samples/multicluster/expose-istiod.yaml', 'manifests/profiles/default.yaml',
                 'manifests/charts/base/files/crd-all.gen.yaml', 'manifests/charts/gateways/istio-ingress/Chart.yaml',
                 'LICENSE'):
        assert top + path in members, path
    assert not [name for name in members if name.endswith('.go')]
    assert manifest['version'] == VERSION


def test_another_version_than_the_one_built_is_refused(tmp_path):
    with pytest.raises(ValueError, match='the lab has Istio %s only' % re.escape(VERSION)):
        release.build(str(tmp_path), '1.24.99')
