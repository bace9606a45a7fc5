"""The lab's istio-sidecar.deb: a real Debian package with the real package's paths, reproducible, that runs on
the VM's Debian 12, served at Istio's real download URL through the lab internet."""

import hashlib
import os
import re
import subprocess

import pytest
import requests

from lab.istio.release_host import ReleaseHost
from lab.istio.sidecar import build
from lab.internet.client import client_env
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.pki import LabCA

VERSION = '1.24.2'
DEB_URL = 'https://storage.googleapis.com/istio-release/releases/%s/deb/istio-sidecar.deb'
# Debian 12's glibc: Envoy may need no newer symbol version.
BOOKWORM_GLIBC = (2, 36)


@pytest.fixture(scope='module')
def deb(tmp_path_factory):
    return build.build(str(tmp_path_factory.mktemp('deb')), VERSION)


def _dpkg_deb(*args):
    return subprocess.run(['dpkg-deb'] + list(args), capture_output=True, text=True, check=True, timeout=120).stdout


def test_control_fields(deb):
    fields = dict(line.split(': ', 1) for line in _dpkg_deb('--field', deb).splitlines() if ': ' in line)
    assert fields['Package'] == 'istio-sidecar'
    assert fields['Version'] == VERSION
    assert fields['Architecture'] == 'amd64'
    assert {'openssl', 'iptables'} <= {item.split()[0] for item in fields['Depends'].split(', ')}


def test_contents_have_the_real_package_paths_owned_by_root(deb):
    listing = {}
    for line in _dpkg_deb('--contents', deb).splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        listing[path] = (mode, owner)
    expected = {
        './usr/local/bin/envoy': '-rwxr-xr-x', './usr/local/bin/pilot-agent': '-rwxr-xr-x',
        './usr/local/bin/istio-start.sh': '-rwxr-xr-x', './lib/systemd/system/istio.service': '-rw-r--r--',
        './var/lib/istio/envoy/sidecar.env': '-rw-r--r--', './var/lib/istio/envoy/envoy_bootstrap_tmpl.json': '-rw-r--r--',
    }
    for path, mode in expected.items():
        assert listing[path] == (mode, 'root/root'), path
    assert {owner for _mode, owner in listing.values()} == {'root/root'}
    assert any(path.startswith('./usr/local/lib/pilot-agent/vendor/grpc/_cython/') for path in listing)


def test_postinst_and_unit_do_what_the_real_ones_do(deb, tmp_path):
    _dpkg_deb('--control', deb, str(tmp_path / 'control'))
    postinst = (tmp_path / 'control' / 'postinst').read_text()
    assert os.access(tmp_path / 'control' / 'postinst', os.X_OK)
    assert 'useradd --system --gid istio-proxy --home-dir /var/lib/istio' in postinst
    assert 'ln -s /var/lib/istio /etc/istio' in postinst
    _dpkg_deb('-x', deb, str(tmp_path / 'root'))
    unit = (tmp_path / 'root' / 'lib/systemd/system/istio.service').read_text()
    for line in ('ExecStart=/usr/local/bin/istio-start.sh', 'ExecStopPost=/usr/local/bin/istio-start.sh clean',
                 'Restart=always'):
        assert line in unit.splitlines()
    syntax = subprocess.run(['bash', '-n', str(tmp_path / 'root/usr/local/bin/istio-start.sh')], capture_output=True,
                            text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_envoy_needs_only_glibc_of_debian_12(deb, tmp_path):
    _dpkg_deb('-x', deb, str(tmp_path))
    envoy = str(tmp_path / 'usr/local/bin/envoy')
    headers = subprocess.run(['objdump', '-p', envoy], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r'NEEDED\s+(\S+)', headers))
    assert needed <= {'libc.so.6', 'libm.so.6', 'librt.so.1', 'libdl.so.2', 'libpthread.so.0', 'ld-linux-x86-64.so.2'}
    symbols = subprocess.run(['objdump', '-T', envoy], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(part) for part in found.split('.')) for found in re.findall(r'GLIBC_(\d+\.\d+)', symbols)}
    assert max(versions) <= BOOKWORM_GLIBC
    assert 'version: ' in subprocess.run([envoy, '--version'], capture_output=True, text=True, check=True).stdout


def test_the_agent_runs_on_the_system_python3_with_only_vendored_libraries(deb, tmp_path):
    _dpkg_deb('-x', deb, str(tmp_path))
    agent = str(tmp_path / 'usr/local/bin/pilot-agent')
    helped = subprocess.run(['/usr/bin/python3', agent, '--help'], capture_output=True, text=True, timeout=60, check=False)
    assert helped.returncode == 0 and 'istio-iptables' in helped.stdout, helped.stderr
    lib = str(tmp_path / 'usr/local/lib/pilot-agent')
    probe = ('import sys; sys.path[0:0] = [%r, %r, %r]; from lab.istio.sidecar.agent import proxy; import grpc, yaml; '
             'print(grpc.__file__); print(yaml.__file__)' % (lib, lib + '/stubs', lib + '/vendor'))
    loaded = subprocess.run(['/usr/bin/python3', '-IB', '-c', probe], capture_output=True, text=True, timeout=60, check=False)
    assert loaded.returncode == 0, loaded.stderr
    assert all(path.startswith(lib + '/vendor/') for path in loaded.stdout.split())


def test_rebuilding_gives_the_same_bytes(deb, tmp_path):
    again = build.build(str(tmp_path / 'out'), VERSION, cache_dir=str(tmp_path / 'cache'))
    with open(deb, 'rb') as first, open(again, 'rb') as second:
        assert hashlib.file_digest(first, 'sha256').hexdigest() == hashlib.file_digest(second, 'sha256').hexdigest()


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    """The release host behind a lab internet of its own (module-scoped: building the release tree takes
    seconds); yields the requests settings that go through it."""
    ca = LabCA(str(tmp_path_factory.mktemp('pki')))
    registry = HostRegistry()
    proxy = ConnectProxy(registry, port=0).start()
    host = ReleaseHost(ca, str(tmp_path_factory.mktemp('releases')), [VERSION])
    host.register(registry)
    host.start()
    env = client_env(proxy.url, ca.cert_path)
    yield {'proxies': {'https': env['HTTPS_PROXY']}, 'verify': ca.cert_path}
    host.stop()
    proxy.stop()


def test_served_at_the_real_url_with_a_matching_checksum(served, deb):
    package = requests.get(DEB_URL % VERSION, timeout=60, **served)
    checksum = requests.get(DEB_URL % VERSION + '.sha256', timeout=10, **served)
    assert package.status_code == 200 and checksum.status_code == 200
    digest = hashlib.sha256(package.content).hexdigest()
    assert checksum.text == '%s  istio-sidecar.deb\n' % digest
    with open(deb, 'rb') as handle:
        assert hashlib.file_digest(handle, 'sha256').hexdigest() == digest


@pytest.mark.parametrize('url', [
    DEB_URL % '1.24.99',
    'https://storage.googleapis.com/istio-release/releases/%s/istio-sidecar.deb' % VERSION,
    'https://storage.googleapis.com/istio-release/releases/%s/deb/../../../../etc/passwd' % VERSION,
    'https://github.com/istio-release/releases/%s/deb/istio-sidecar.deb' % VERSION,
    'https://storage.googleapis.com/istio/istio/releases/download/%s/istio-%s-linux-amd64.tar.gz' % (VERSION, VERSION),
])
def test_other_paths_and_hosts_are_404(served, url):
    assert requests.get(url, timeout=10, **served).status_code == 404
