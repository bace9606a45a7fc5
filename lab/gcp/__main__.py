"""``python -m lab.gcp serve --state-dir .lab --cluster-backend MODULE:CLASS --vm-backend MODULE:CLASS``.

Runs the lab internet and the GCP stand-in in the foreground until SIGINT/SIGTERM. The backends are classes
(constructed with no arguments) implementing lab.gcp.backends.ClusterBackend and VmBackend.
"""

import argparse
import importlib
import logging
import signal
import sys
import threading

from lab.gcp.operations import Settings
from lab.gcp.service import start


def _backend(spec):
    module_name, _sep, class_name = spec.partition(':')
    if not class_name:
        raise argparse.ArgumentTypeError('%r is not MODULE:CLASS' % spec)
    return getattr(importlib.import_module(module_name), class_name)()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.gcp', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    serve = commands.add_parser('serve', help='run the proxy and the GCP stand-in')
    serve.add_argument('--state-dir', required=True, help='the lab state directory (e.g. .lab)')
    serve.add_argument('--project', default='meshbridge-lab', help='the project the service account key is for')
    serve.add_argument('--proxy-port', type=int, default=3128, help='port of the CONNECT proxy on 127.0.0.1 (0: any free one)')
    serve.add_argument('--time-scale', type=float, default=None, help='multiplies real operation durations (default: MESHBRIDGE_LAB_TIME_SCALE or 1)')
    serve.add_argument('--cluster-backend', type=_backend, required=True, help='MODULE:CLASS implementing ClusterBackend')
    serve.add_argument('--vm-backend', type=_backend, required=True, help='MODULE:CLASS implementing VmBackend')
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    lab = start(args.state_dir, args.cluster_backend, args.vm_backend, args.project, args.proxy_port, Settings(time_scale=args.time_scale))
    print('proxy %s; key %s; env file %s' % (lab.proxy.url, lab.key_file, lab.env_file), flush=True)
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_args: stopping.set())
    stopping.wait()
    lab.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
