"""Binary wheels for the lab VMs' python3, vendored into what the lab ships to a VM (an artifact, a .deb).

A lab VM is Debian 12 with nothing but python3 (CPython 3.11, x86_64, glibc 2.36: manylinux2014 wheels run there)
and no internet, so whatever it runs carries its libraries. The vendored versions are the ones this build
environment runs, so code generated here (grpc_tools stubs) matches the runtime that loads it on the VM. Wheels are
downloaded from PyPI once into the wheelhouse and reused offline afterwards.
"""

import importlib.metadata
import os
import subprocess
import sys

DEFAULT_WHEELHOUSE = os.path.join(os.path.expanduser('~'), '.cache', 'meshbridge-lab', 'wheels')

# The VM's interpreter (Debian 12): the wheels pip may pick for it.
TARGET_PIP_ARGS = ['--platform', 'manylinux2014_x86_64', '--python-version', '3.11', '--implementation', 'cp',
                   '--abi', 'cp311', '--only-binary', ':all:', '--no-deps']
TARGET_TAG = 'cp311-manylinux2014_x86_64'


def pins(names):
    """``name==version`` for each distribution, at the version installed here."""
    return ['%s==%s' % (name, importlib.metadata.version(name)) for name in names]


def _has_wheel(wheelhouse, pin):
    name, version = pin.split('==')
    # Wheel file names carry the normalised project name (dashes as underscores), in either case.
    prefix = '%s-%s-' % (name.replace('-', '_').lower(), version)
    return any(entry.lower().startswith(prefix) and entry.endswith('.whl') for entry in os.listdir(wheelhouse))


def _pip(*args):
    subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q'] + list(args), check=True)


def vendor(target_dir, names, wheelhouse=DEFAULT_WHEELHOUSE):
    """Install the VM's wheels of ``names`` into ``target_dir``; download only those missing from ``wheelhouse``.

    Returns the pins (``name==version``) installed.
    """
    os.makedirs(wheelhouse, exist_ok=True)
    wanted = pins(names)
    missing = [pin for pin in wanted if not _has_wheel(wheelhouse, pin)]
    if missing:
        _pip('download', '-d', wheelhouse, *(TARGET_PIP_ARGS + missing))
    _pip('install', '--no-index', '--find-links', wheelhouse, '--target', target_dir, '--no-compile',
         *(TARGET_PIP_ARGS + wanted))
    return wanted
