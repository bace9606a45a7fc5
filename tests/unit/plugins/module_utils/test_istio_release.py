"""module_utils/istio_release.py: version pins, download with checksum, the cache, refusals.

The release is the lab's (its real istioctl), served from a loopback HTTP server as the download site lays it out.
"""

import hashlib
import os
import re
import subprocess

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import istio_release as rel
from lab.istio import release
from lab.istio.testing import serving_releases

VERSION = release.RELEASE


@pytest.fixture
def served(tmp_path):
    with serving_releases(tmp_path / 'site', [VERSION]) as url:
        yield url


@pytest.mark.parametrize('version', ['1.24.2', '1.25.0-rc.1', '1.26.0-beta.0', '0.8.0'])
def test_release_versions_are_accepted(version):
    assert rel.validate_version(version) == version


@pytest.mark.parametrize('version', ['v1.24.2', '1.24', '1.24.2.1', 'latest', '1.024.2', '1.24.2-dev', '', None])
def test_malformed_versions_are_refused_with_the_fix(version):
    with pytest.raises(rel.ReleaseError, match='give MAJOR.MINOR.PATCH, for example 1.24.2'):
        rel.validate_version(version)


def test_real_url_pattern():
    assert rel.archive_url(rel.DEFAULT_RELEASE_URL, '1.24.2') == \
        'https://github.com/istio/istio/releases/download/1.24.2/istio-1.24.2-linux-amd64.tar.gz'


def test_download_verifies_and_caches_once(served, tmp_path):
    release = rel.IstioRelease(VERSION, served, str(tmp_path / 'cache'))
    path = release.istioctl()
    assert path == str(tmp_path / 'cache' / VERSION / 'istioctl')
    assert os.access(path, os.X_OK)
    version = subprocess.run([path, 'version', '--remote=false', '--short'], capture_output=True, text=True,
                             check=True).stdout
    assert version.strip() == 'client version: %s' % VERSION
    assert served.requests == ['/%s/istio-%s-linux-amd64.tar.gz.sha256' % (VERSION, VERSION),
                               '/%s/istio-%s-linux-amd64.tar.gz' % (VERSION, VERSION)]

    again = rel.IstioRelease(VERSION, served, str(tmp_path / 'cache')).istioctl()
    assert again == path
    assert len(served.requests) == 2, 'a cached release is not downloaded again'


def test_damaged_cache_is_fetched_again(served, tmp_path):
    release = rel.IstioRelease(VERSION, served, str(tmp_path / 'cache'))
    path = release.istioctl()
    with open(path, 'ab') as handle:
        handle.write(b'# tampered\n')
    assert not release.cached()
    release.istioctl()
    assert len(served.requests) == 4
    assert b'tampered' not in open(path, 'rb').read()


def test_unknown_version_is_a_404_naming_the_version(served, tmp_path):
    with pytest.raises(rel.ReleaseError, match=r'Istio 9\.9\.9 has no release at .* \(HTTP 404 for .*\): check version'):
        rel.IstioRelease('9.9.9', served, str(tmp_path / 'cache')).istioctl()
    assert not os.path.exists(tmp_path / 'cache' / '9.9.9' / 'istioctl')


def test_checksum_mismatch_is_refused_and_nothing_is_cached(served, tmp_path):
    site = tmp_path / 'site' / VERSION
    archive = site / ('istio-%s-linux-amd64.tar.gz' % VERSION)
    wrong = hashlib.sha256(b'something else').hexdigest()
    (site / (archive.name + '.sha256')).write_text('%s  %s\n' % (wrong, archive.name))
    with pytest.raises(rel.ReleaseError, match='checksum mismatch .* published SHA-256 is %s' % wrong):
        rel.IstioRelease(VERSION, served, str(tmp_path / 'cache')).istioctl()
    assert os.listdir(tmp_path / 'cache' / VERSION) == []


def test_unreachable_release_site_names_the_url(tmp_path):
    with pytest.raises(rel.ReleaseError, match=r'cannot download http://127\.0\.0\.1:9/%s/' % re.escape(VERSION)):
        rel.IstioRelease(VERSION, 'http://127.0.0.1:9', str(tmp_path / 'cache'), timeout=5).istioctl()


@pytest.mark.parametrize('text', ['%s  istio-1.24.2-linux-amd64.tar.gz\n', '%s\n', '%s *istio-1.24.2-linux-amd64.tar.gz'])
def test_checksum_file_formats(text):
    digest = 'ab' * 32
    assert rel.parse_checksum(text % digest, 'istio-1.24.2-linux-amd64.tar.gz') == digest


def test_checksum_file_for_another_archive_is_refused():
    with pytest.raises(rel.ReleaseError, match='holds no SHA-256'):
        rel.parse_checksum('%s  istio-1.24.1-linux-amd64.tar.gz\n' % ('ab' * 32), 'istio-1.24.2-linux-amd64.tar.gz')


def test_a_cache_dir_the_os_refuses_is_named_with_the_fix(served, tmp_path):
    (tmp_path / 'file').write_text('')
    cache_dir = tmp_path / 'file' / 'cache'
    with pytest.raises(rel.ReleaseError, match=r'cache_dir %s: cannot .*Not a directory.*set cache_dir to a directory '
                                               r'.* can write' % cache_dir):
        rel.IstioRelease(VERSION, served, str(cache_dir)).istioctl()


@pytest.mark.parametrize('system, machine, name', [
    ('Linux', 'x86_64', 'istio-1.24.2-linux-amd64.tar.gz'),
    ('Linux', 'aarch64', 'istio-1.24.2-linux-arm64.tar.gz'),
    ('Linux', 'arm64', 'istio-1.24.2-linux-arm64.tar.gz'),
    ('Darwin', 'x86_64', 'istio-1.24.2-osx.tar.gz'),
    ('Darwin', 'arm64', 'istio-1.24.2-osx-arm64.tar.gz'),
])
def test_the_archive_is_the_one_for_the_machine_that_runs_istioctl(system, machine, name):
    assert rel.archive_name('1.24.2', system, machine) == name
    release = rel.IstioRelease('1.24.2', cache_dir='/nonexistent', system=system, machine=machine)
    assert release.url == 'https://github.com/istio/istio/releases/download/1.24.2/' + name


@pytest.mark.parametrize('system, machine', [('Linux', 'armv7l'), ('Linux', 's390x'), ('Windows', 'AMD64'),
                                             ('FreeBSD', 'amd64')])
def test_other_machines_are_refused_naming_what_istio_publishes(system, machine):
    with pytest.raises(rel.ReleaseError, match='Istio publishes no istioctl for %s %s .*linux-amd64, linux-arm64, osx, '
                                               'osx-arm64.*istioctl_path' % (system, machine)):
        rel.IstioRelease('1.24.2', cache_dir='/nonexistent', system=system, machine=machine)
