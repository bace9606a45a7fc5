"""istio_install's own download code fetches the stand-in release from the real URL through the lab internet."""

import subprocess

import pytest
import requests

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.istio_release import IstioRelease, ReleaseError
from lab.internet.client import client_env
from lab.istio.release_host import ReleaseHost

VERSION = '1.24.2'
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
