"""The lab's istio-sidecar.deb, the real one (``lab.istio.sidecar.build`` -> ``lab.istio.sidecar.real``): Istio's
pilot-agent built by the lab, upstream Envoy, and Istio's packaging files from the pinned istio.io/istio module, laid
out as its ``tools/packaging/packaging.mk`` lays them out, reproducible, and served at Istio's real download URL
through the lab internet; then installed with dpkg in one real lab VM (Debian 12), where both binaries run and
istio.service starts the real agent: without a bundle it stops with its own log line; with one whose istiod cannot
be reached it sets up inbound capture, runs Envoy as istio-proxy and retries its certificate request. The VM joining
the mesh with it: tests/lab/test_vm_sidecar.py.
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.internet.client import client_env
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.istio.release import RELEASE
from lab.istio.release_host import ReleaseHost
from lab.istio.sidecar import build, real
from lab.kubernetes import binaries
from lab.net.commands import NotReady, wait_for
from lab.net.vpc import Vpc
from lab.vms.base_root import BaseRoot
from lab.pki import LabCA
from lab.vms.fleet import Fleet
from vm_lab import leftovers, unique_names

VERSION = RELEASE       # lab/tools/istio-release (1.31.0): what the lab's pilot-agent is stamped with
DEB_URL = 'https://storage.googleapis.com/istio-release/releases/%s/deb/istio-sidecar.deb'
BOOKWORM_GLIBC = (2, 36)
EXPECTED = {            # path in the package: mode, from packaging.mk's SIDECAR_FILES (modes: see lab.istio.sidecar.real)
    './usr/local/bin/envoy': '-rwxr-xr-x',
    './usr/local/bin/pilot-agent': '-rwxr-xr-x',
    './usr/local/bin/istio-start.sh': '-rwxr-xr-x',
    './lib/systemd/system/istio.service': '-rw-r--r--',
    './var/lib/istio/envoy/sidecar.env': '-rw-r--r--',
    './var/lib/istio/envoy/envoy_bootstrap_tmpl.json': '-rw-r--r--',
}
# What the real agent says, in /var/log/istio/istio.log, when it is started with no bundle.
NO_ROOT_CERT = 'fatal\tinvalid config - istiod.istio-system.svc:15012 missing a root certificate ./etc/certs/root-cert.pem'


@pytest.fixture(scope='module')
def deb(tmp_path_factory):
    return real.build(str(tmp_path_factory.mktemp('real-deb')), VERSION)


@pytest.fixture(scope='module')
def unpacked(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp('real-root')
    _dpkg_deb('-x', deb, str(root))
    _dpkg_deb('--control', deb, str(root / 'DEBIAN'))
    return root


@pytest.fixture(scope='module')
def packaging_mk():
    with open(os.path.join(real.module_dir(), 'tools/packaging/packaging.mk'), encoding='utf-8') as handle:
        return handle.read()


def _dpkg_deb(*args):
    return subprocess.run(['dpkg-deb'] + list(args), capture_output=True, text=True, check=True, timeout=120).stdout


def _sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.file_digest(handle, 'sha256').hexdigest()


def _fpm_flags(packaging_mk):
    """The deb/fpm target's ``--flag value`` pairs, in order."""
    recipe = packaging_mk.split('\ndeb/fpm:', 1)[1].split('\n\n', 1)[0]
    return re.findall(r'--([a-z-]+)[ =]"?([^"\\\n]*?)"?\s*\\', recipe)


def test_control_fields_are_the_fpm_flags_of_istios_deb_target(deb, packaging_mk):
    fields = dict(line.split(': ', 1) for line in _dpkg_deb('--field', deb).splitlines() if ': ' in line)
    flags = _fpm_flags(packaging_mk)
    assert fields['Depends'] == ', '.join(value for flag, value in flags if flag == 'depends')
    assert fields['Depends'] == 'iproute2, iptables, sudo, hostname'
    expected = {'url': 'Homepage', 'license': 'License', 'vendor': 'Vendor', 'maintainer': 'Maintainer',
                'description': 'Description'}
    for flag, value in flags:
        if flag in expected:
            assert fields[expected[flag]] == value.strip(), flag
    assert (fields['Package'], fields['Version'], fields['Architecture']) == ('istio-sidecar', VERSION, 'amd64')


def test_contents_paths_modes_and_owner(deb, packaging_mk):
    listing = {}
    for line in _dpkg_deb('--contents', deb).splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        listing[path] = (mode, owner)
    files = {path: mode for path, (mode, _owner) in listing.items() if not mode.startswith('d')}
    assert files == EXPECTED
    assert {owner for _mode, owner in listing.values()} == {'root/root'}
    # Where packaging.mk puts them: the binaries of SIDECAR_DEB_DEPS in ISTIO_DEB_BIN, ISTIO_DEB_DEST, the template.
    assert 'ISTIO_DEB_BIN=/usr/local/bin\n' in packaging_mk and 'SIDECAR_DEB_DEPS:=envoy pilot-agent\n' in packaging_mk
    assert '$(DEP)=$(ISTIO_DEB_BIN)/$(DEP)' in packaging_mk
    expanded = packaging_mk.replace('${ISTIO_DEB_BIN}', '/usr/local/bin')
    for path in EXPECTED:
        assert path.endswith(('/envoy', '/pilot-agent')) or path[1:] in expanded, path


def test_istios_files_are_the_modules_own(unpacked, packaging_mk):
    module = real.module_dir()
    for name, path, _mode in real.FILES:
        assert _sha256(unpacked / path) == _sha256(os.path.join(module, name)), path
    # ISTIO_DEB_DEST's files keep their names (common/$(notdir $(DEST))); the bootstrap is renamed.
    assert 'common/$(notdir $(DEST))=$(DEST)' in packaging_mk
    assert 'common/envoy_bootstrap.json=/var/lib/istio/envoy/envoy_bootstrap_tmpl.json' in packaging_mk
    assert _sha256(unpacked / 'DEBIAN/postinst') == _sha256(os.path.join(module, 'tools/packaging/postinst.sh'))
    assert '--after-install tools/packaging/postinst.sh' in packaging_mk
    assert os.access(unpacked / 'DEBIAN/postinst', os.X_OK)
    conffiles = (unpacked / 'DEBIAN/conffiles').read_text().split()
    assert conffiles == ['/var/lib/istio/envoy/envoy_bootstrap_tmpl.json', '/var/lib/istio/envoy/sidecar.env']
    assert all('--config-files %s' % path in packaging_mk for path in conffiles)
    postinst = (unpacked / 'DEBIAN/postinst').read_text()
    assert 'useradd --system --gid istio-proxy --home-dir /var/lib/istio istio-proxy' in postinst


def test_the_binaries_are_the_real_ones(unpacked):
    agent = str(unpacked / 'usr/local/bin/pilot-agent')
    assert _sha256(agent) == _sha256(binaries.path('pilot-agent'))
    version = subprocess.run([agent, 'version', '-s'], capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.split() == ['client', 'version:', VERSION]
    headers = subprocess.run(['readelf', '-l', agent], capture_output=True, text=True, check=True).stdout
    assert 'INTERP' not in headers      # static: runs on any glibc
    envoy = str(unpacked / 'usr/local/bin/envoy')
    assert _sha256(envoy) == _sha256(build.envoy_binary())
    assert 'version: ' in subprocess.run([envoy, '--version'], capture_output=True, text=True, timeout=60,
                                         check=True).stdout
    symbols = subprocess.run(['objdump', '-T', envoy], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(part) for part in found.split('.')) for found in re.findall(r'GLIBC_(\d+\.\d+)', symbols)}
    assert max(versions) <= BOOKWORM_GLIBC


def test_same_bytes_again_and_a_new_key_for_a_changed_binary(deb, tmp_path):
    again = real.build(str(tmp_path / 'out'), VERSION, cache_dir=str(tmp_path / 'cache'))
    assert _sha256(again) == _sha256(deb)
    agent, envoy, files = real.inputs()
    changed = str(tmp_path / 'pilot-agent')
    shutil.copyfile(agent, changed)
    with open(changed, 'ab') as handle:
        handle.write(b'\0')
    assert real.cache_key(VERSION, changed, envoy, files) != real.cache_key(VERSION, agent, envoy, files)


def test_the_lab_builds_this_package(deb, tmp_path):
    assert _sha256(build.build(str(tmp_path / 'built'), VERSION)) == _sha256(deb)


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    """The release host behind a lab internet of its own; yields the requests settings that go through it."""
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
    assert _sha256(deb) == digest


@pytest.mark.parametrize('url', [
    DEB_URL % '1.30.99',
    'https://storage.googleapis.com/istio-release/releases/%s/istio-sidecar.deb' % VERSION,
    'https://storage.googleapis.com/istio-release/releases/%s/deb/../../../../etc/passwd' % VERSION,
    'https://github.com/istio-release/releases/%s/deb/istio-sidecar.deb' % VERSION,
    'https://storage.googleapis.com/istio/istio/releases/download/%s/istio-%s-linux-amd64.tar.gz' % (VERSION, VERSION),
])
def test_other_paths_and_hosts_are_404(served, url):
    assert requests.get(url, timeout=10, **served).status_code == 404


# One lab VM for the tests below.

INSTANCE = {
    'name': 'real-sidecar-vm',
    'zone': 'https://compute.googleapis.com/compute/v1/projects/lab-project/zones/us-west2-a',
    'networkInterfaces': [{'network': 'https://compute.googleapis.com/compute/v1/projects/lab-project/global/networks/default'}],
    'metadata': {'items': []},
}


class RealSidecarVm:
    """One lab VM (Debian 12, systemd) with the real package installed by ``dpkg -i``."""

    def __init__(self, directory, deb):
        self.names = unique_names()
        self.vpc = Vpc(self.names, isolated_controller=True)
        self.vpc.create()
        self.fleet = Fleet(self.vpc, os.path.join(directory, 'state'), BaseRoot())
        self.fleet.create_instance(INSTANCE)
        self.vm = self.fleet.vm(INSTANCE['name'])
        shutil.copyfile(deb, os.path.join(self.vm.root, 'root', 'istio-sidecar.deb'))
        self.installed = self.run('dpkg', '-i', '/root/istio-sidecar.deb')

    def run(self, *argv, check=False):
        return subprocess.run(self.vm.command(list(argv)), capture_output=True, text=True, timeout=120, check=check)

    def remove(self):
        self.fleet.delete_instance(INSTANCE['name'])
        self.vpc.destroy()


@pytest.fixture(scope='module')
def vm(deb, tmp_path_factory):
    lab = RealSidecarVm(str(tmp_path_factory.mktemp('real-sidecar-vm')), deb)
    yield lab
    lab.remove()
    assert not leftovers(lab.names)


@pytest.mark.lab
def test_dpkg_installs_it_and_the_postinst_makes_the_user(vm):
    assert vm.installed.returncode == 0, vm.installed.stdout + vm.installed.stderr
    status = vm.run('dpkg-query', '-W', '-f', '${Status} ${Version}', 'istio-sidecar', check=True).stdout
    assert status == 'install ok installed %s' % VERSION
    user = vm.run('getent', 'passwd', 'istio-proxy', check=True).stdout.split(':')
    assert user[5] == '/var/lib/istio' and int(user[2]) < 1000
    assert vm.run('getent', 'group', 'istio-proxy', check=True).stdout.split(':')[2] == user[3]
    assert vm.run('readlink', '/etc/istio', check=True).stdout.strip() == '/var/lib/istio'
    owners = vm.run('stat', '-c', '%U:%G %n', '/etc/certs', '/var/lib/istio/envoy', '/var/lib/istio/proxy',
                    '/var/lib/istio/config', '/var/lib/istio/config/mesh', '/var/log/istio', check=True).stdout
    assert all(line.startswith('istio-proxy:istio-proxy ') for line in owners.splitlines()), owners
    modes = vm.run('stat', '-c', '%a %U:%G', '/usr/local/bin/envoy', '/usr/local/bin/pilot-agent', check=True).stdout
    assert modes.splitlines() == ['2755 root:root'] * 2       # postinst.sh's chmod 2755


@pytest.mark.lab
def test_systemd_has_istios_unit(vm):
    shown = vm.run('systemctl', 'cat', 'istio', check=True).stdout
    with open(os.path.join(real.module_dir(), 'tools/packaging/common/istio.service'), encoding='utf-8') as handle:
        unit = handle.read()
    assert shown.splitlines()[0] == '# /lib/systemd/system/istio.service'
    assert shown.splitlines()[1:] == unit.splitlines()


@pytest.mark.lab
def test_both_binaries_run_in_the_vm(vm):
    agent = vm.run('/usr/local/bin/pilot-agent', 'version')
    assert agent.returncode == 0 and 'Version:"%s"' % VERSION in agent.stdout, agent.stdout + agent.stderr
    envoy = vm.run('/usr/local/bin/envoy', '--version')
    assert envoy.returncode == 0 and re.search(r'version: \w+/1\.\d+\.\d+/Clean/RELEASE', envoy.stdout), envoy.stderr


@pytest.mark.lab
def test_the_service_runs_the_real_agent_which_stops_on_the_missing_bundle(vm):
    vm.run('systemctl', 'start', 'istio', check=True)

    def agent_stopped():
        log = vm.run('cat', '/var/log/istio/istio.log').stdout
        if NO_ROOT_CERT not in log:
            raise NotReady('istio.log: ' + log[-300:])
        return log

    def exit_journaled():
        # systemd records the exit a moment after the agent's last line: wait for it rather than read once.
        journal = vm.run('journalctl', '-u', 'istio', '--no-pager', '-o', 'cat').stdout
        if 'istio.service: Main process exited' not in journal:
            raise NotReady('journal: ' + journal[-300:])
        return journal
    try:
        log = wait_for(agent_stopped, timeout=60, what="the real pilot-agent's fatal line")
        journal = wait_for(exit_journaled, timeout=30, what="systemd's record of the agent's exit")
    finally:
        vm.run('systemctl', 'stop', 'istio')
    assert 'Version %s-' % VERSION in log
    # istio-start.sh sends `pilot-agent proxy`'s output to /var/log/istio/istio.log; the journal has what it runs
    # before that as root, the real `pilot-agent istio-iptables` (cleanup, then set up), and the agent's exit.
    assert '\tinfo\tIstio iptables environment:' in journal
    assert '\tinfo\tClean-state detected, new iptables are needed' in journal
    assert 'istio.service: Main process exited, code=exited, status=1/FAILURE' in journal, journal[-2000:]
    assert 'ISTIO' not in _nat_rules(vm)


def _nat_rules(vm):
    """The nat rules of both iptables variants: pilot-agent picks one itself (with no rules anywhere nft, but its
    own probe leaves a legacy filter table behind, so later runs pick legacy)."""
    return ''.join(vm.run(save, '-t', 'nat', check=True).stdout for save in ('iptables-legacy-save', 'iptables-nft-save'))


def _root_cert_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Istio'),
                      x509.NameAttribute(NameOID.COMMON_NAME, 'Root CA')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.lab
def test_with_a_bundle_the_real_agent_captures_runs_envoy_and_waits_for_istiod(vm):
    """A bundle whose istiod has no address on the VM (no /etc/hosts line): the agent stays up, sets up inbound
    capture, starts Envoy as istio-proxy, and retries its certificate request."""
    bundle = {
        '/var/lib/istio/envoy/cluster.env': ("ISTIO_INBOUND_PORTS='3550'\nISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020'\n"
                                             "ISTIO_NAMESPACE='shop'\nISTIO_SERVICE='productcatalog.shop'\n"
                                             "POD_NAMESPACE='shop'\nSERVICE_ACCOUNT='catalog'\n"
                                             "ISTIO_META_CLUSTER_ID='west'\n", '644'),
        '/etc/istio/config/mesh': ('defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n', '644'),
        '/etc/certs/root-cert.pem': (_root_cert_pem(), '644'),
        '/var/run/secrets/tokens/istio-token': ('a.b.c', '600'),
    }
    for path, (text, mode) in bundle.items():
        subprocess.run(vm.vm.command(['install', '-D', '-o', 'istio-proxy', '-g', 'istio-proxy', '-m', mode,
                                      '/dev/stdin', path]), input=text, text=True, capture_output=True, timeout=60,
                       check=True)
    vm.run('truncate', '-s', '0', '/var/log/istio/istio.log', check=True)
    vm.run('systemctl', 'start', 'istio', check=True)

    def envoy_up():
        info = vm.run('curl', '-s', 'http://localhost:15000/server_info').stdout
        if '"state"' not in info:
            raise NotReady('Envoy admin: %r' % info[-300:])
        return json.loads(info)
    try:
        info = wait_for(envoy_up, timeout=60, what="Envoy's admin on :15000")
        wait_for(lambda: _log_has(vm, 'failed to sign CSR'), timeout=60, what="the agent's CA retries")
        nat = _nat_rules(vm)
        users = {name: vm.run('ps', '-o', 'user=', '-C', name, check=True).stdout.split()
                 for name in ('pilot-agent', 'envoy')}
        log = vm.run('cat', '/var/log/istio/istio.log', check=True).stdout
    finally:
        vm.run('systemctl', 'stop', 'istio')
    assert info['state'] in ('PRE_INITIALIZING', 'INITIALIZING')      # no xDS without istiod
    assert users == {'pilot-agent': ['istio-proxy'], 'envoy': ['istio-proxy']}
    assert '-A PREROUTING -p tcp -j ISTIO_INBOUND' in nat
    assert '-A ISTIO_INBOUND -p tcp -m tcp --dport 3550 -j ISTIO_IN_REDIRECT' in nat
    assert '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006' in nat
    assert 'istiod.istio-system.svc' in [line for line in log.splitlines() if 'failed to sign CSR' in line][0]
    assert 'ISTIO' not in _nat_rules(vm)        # ExecStopPost: istio-start.sh clean


def _log_has(vm, text):
    if text not in vm.run('cat', '/var/log/istio/istio.log').stdout:
        raise NotReady('no %r in istio.log yet' % text)
    return True
