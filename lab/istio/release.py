"""Build the stand-in Istio release: ``istio-<version>-linux-amd64.tar.gz`` and its ``.sha256``, laid out as a real
release is (``istio-<version>/bin/istioctl``, ``manifests/profiles/``, ``samples/multicluster/``).

Its ``bin/istioctl`` is a small shell wrapper that runs ``lab.istio.istioctl`` with this checkout on PYTHONPATH and
the lab venv's interpreter, the version baked in as a real istioctl has its version compiled in. The samples are
written here from the documented behaviour of Istio's ``gen-eastwest-gateway.sh`` and ``expose-istiod.yaml``
(shorter: ``gen-eastwest-gateway.sh`` takes only ``--network`` and ``--revision``).
"""

import gzip
import hashlib
import io
import os
import sys
import tarfile

import yaml

from lab.istio import operator

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A fixed timestamp keeps the archive (and so its checksum) the same for the same version and checkout.
_MTIME = 1700000000


def archive_name(version):
    return 'istio-%s-linux-amd64.tar.gz' % version


def _wrapper(version, python):
    return (
        '#!/bin/sh\n'
        '# istioctl %(version)s, the meshbridge lab stand-in: runs lab.istio.istioctl from %(repo)s.\n'
        'LAB_ISTIOCTL_VERSION=%(version)s\n'
        'PYTHONPATH=%(repo)s${PYTHONPATH:+:$PYTHONPATH}\n'
        'export LAB_ISTIOCTL_VERSION PYTHONPATH\n'
        "exec '%(python)s' -m lab.istio.istioctl \"$@\"\n"
    ) % {'version': version, 'repo': REPO, 'python': python}


_GEN_EASTWEST = r'''#!/usr/bin/env bash
# Print an IstioOperator for the east-west gateway (meshbridge lab stand-in of Istio's sample of the same name).
# Usage: gen-eastwest-gateway.sh [--network NETWORK] [--revision REVISION]
set -euo pipefail
network=""
revision=""
while (($#)); do
  case "$1" in
    --network) network=$2; shift 2 ;;
    --revision) revision=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cat <<EOF
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: eastwest
spec:
  revision: "${revision}"
  profile: empty
  components:
    ingressGateways:
      - name: istio-eastwestgateway
        label:
          istio: eastwestgateway
          app: istio-eastwestgateway
          topology.istio.io/network: "${network}"
        enabled: true
        k8s:
          env:
            - name: ISTIO_META_REQUESTED_NETWORK_VIEW
              value: "${network}"
          service:
            ports:
              - {name: status-port, port: 15021, targetPort: 15021}
              - {name: tls, port: 15443, targetPort: 15443}
              - {name: tls-istiod, port: 15012, targetPort: 15012}
              - {name: tls-webhook, port: 15017, targetPort: 15017}
  values:
    gateways:
      istio-ingressgateway:
        injectionTemplate: gateway
    global:
      network: "${network}"
EOF
'''


def _expose_istiod():
    gateway = {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'Gateway',
        'metadata': {'name': 'istiod-gateway'},
        'spec': {'selector': {'istio': 'eastwestgateway'},
                 'servers': [{'port': {'name': 'tls-istiod', 'number': 15012, 'protocol': 'tls'},
                              'tls': {'mode': 'PASSTHROUGH'}, 'hosts': ['*']},
                             {'port': {'name': 'tls-istiodwebhook', 'number': 15017, 'protocol': 'tls'},
                              'tls': {'mode': 'PASSTHROUGH'}, 'hosts': ['*']}]},
    }
    virtual_service = {
        'apiVersion': 'networking.istio.io/v1', 'kind': 'VirtualService',
        'metadata': {'name': 'istiod-vs'},
        'spec': {'hosts': ['*'], 'gateways': ['istiod-gateway'],
                 'tls': [{'match': [{'port': 15012, 'sniHosts': ['*']}],
                          'route': [{'destination': {'host': 'istiod.istio-system.svc.cluster.local',
                                                     'port': {'number': 15012}}}]},
                         {'match': [{'port': 15017, 'sniHosts': ['*']}],
                          'route': [{'destination': {'host': 'istiod.istio-system.svc.cluster.local',
                                                     'port': {'number': 443}}}]}]},
    }
    return yaml.safe_dump_all([gateway, virtual_service], sort_keys=False)


def _profile(name):
    enabled = operator.PROFILES[name]
    components = {'base': {'enabled': name != 'empty'}, 'pilot': {'enabled': enabled['pilot']},
                  'ingressGateways': [{'name': 'istio-ingressgateway', 'enabled': enabled['ingress']}],
                  'egressGateways': [{'name': 'istio-egressgateway', 'enabled': enabled['egress']}]}
    return yaml.safe_dump({'apiVersion': operator.API_VERSION, 'kind': operator.KIND,
                           'spec': {'profile': name, 'components': components}}, sort_keys=False)


def _add(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = _MTIME
    tar.addfile(info, io.BytesIO(data))


def build(directory, version, python=None):
    """Write the archive and ``<archive>.sha256`` (sha256sum format) into ``directory``; return the archive path."""
    python = python or sys.executable
    top = 'istio-%s' % version
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for folder in ('', '/bin', '/manifests', '/manifests/profiles', '/samples', '/samples/multicluster'):
            info = tarfile.TarInfo(top + folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
            tar.addfile(info)
        _add(tar, top + '/bin/istioctl', _wrapper(version, python).encode(), 0o755)
        _add(tar, top + '/manifest.yaml', yaml.safe_dump({'version': version, 'dependencies': {}}).encode())
        for name in sorted(operator.PROFILES):
            _add(tar, '%s/manifests/profiles/%s.yaml' % (top, name), _profile(name).encode())
        _add(tar, top + '/samples/multicluster/gen-eastwest-gateway.sh', _GEN_EASTWEST.encode(), 0o755)
        _add(tar, top + '/samples/multicluster/expose-istiod.yaml', _expose_istiod().encode())
    data = gzip.compress(buffer.getvalue(), mtime=_MTIME)  # gzip's header has a timestamp of its own
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, archive_name(version))
    with open(path, 'wb') as handle:
        handle.write(data)
    with open(path + '.sha256', 'w', encoding='utf-8') as handle:
        handle.write('%s  %s\n' % (hashlib.sha256(data).hexdigest(), archive_name(version)))
    return path


def build_tree(root, versions, python=None):
    """Lay out releases under ``root`` as the download site does: ``root/<version>/<archive>``."""
    return [build(os.path.join(root, version), version, python) for version in versions]
