"""``pilot-agent`` command line: ``proxy``, ``istio-iptables``, ``istio-clean-iptables`` (the real agent's names).

``istio-iptables`` reads ISTIO_INBOUND_PORTS and ISTIO_LOCAL_EXCLUDE_PORTS from the environment, which
istio-start.sh exports from cluster.env, as the real one does.
"""

import argparse
import logging
import os
import signal
import sys
import time

from lab.istio.sidecar.agent import capture
from lab.istio.sidecar.agent.settings import Paths, SettingsError, parse_ports

LOG_FORMAT = '%(asctime)s.%(msecs)03dZ\t%(levelname)s\t%(message)s'


def _logging(log_dir):
    """Log lines go to stderr (the journal of istio.service) and to <log_dir>/istio.log."""
    formatter = logging.Formatter(LOG_FORMAT, datefmt='%Y-%m-%dT%H:%M:%S')
    formatter.converter = time.gmtime
    handlers = [logging.StreamHandler(sys.stderr)]
    try:
        handlers.append(logging.FileHandler(os.path.join(log_dir, 'istio.log')))
    except OSError as error:
        print('pilot-agent: cannot write %s/istio.log: %s' % (log_dir, error.strerror), file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=handlers)


def _proxy(args):
    # Imported here: only ``proxy`` needs grpc and the stubs.
    from lab.istio.sidecar.agent import proxy, status  # pylint: disable=import-outside-toplevel
    paths = Paths(args.root)
    _logging(paths.log_dir)
    agent = proxy.Agent(paths, envoy_path=args.envoy, pod_name=os.environ.get('POD_NAME'),
                        ip=os.environ.get('INSTANCE_IP'))
    server = status.StatusServer(agent.readiness, port=args.status_port).start()
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())
    logging.getLogger('pilot-agent').info('status port %d; reading %s', server.port, paths.cluster_env)
    try:
        agent.run()
    finally:
        server.stop()
    return 0


def _iptables(_args):
    inbound = os.environ.get('ISTIO_INBOUND_PORTS', '').strip()
    try:
        ports = '*' if inbound == '*' else parse_ports(inbound)
        excluded = parse_ports(os.environ.get('ISTIO_LOCAL_EXCLUDE_PORTS', ''))
    except SettingsError as error:
        print('istio-iptables: %s' % error, file=sys.stderr)
        return 2
    capture.clean()
    try:
        capture.install(ports, excluded)
    except capture.CaptureError as error:
        print('istio-iptables: %s' % error, file=sys.stderr)
        return 1
    print('istio-iptables: inbound capture to %d for %s' % (
        capture.INBOUND_CAPTURE_PORT, 'all ports' if ports == '*' else (', '.join(map(str, ports)) or 'no ports')))
    return 0


def _clean(_args):
    capture.clean()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='pilot-agent', description='meshbridge lab stand-in of Istio\'s pilot-agent')
    commands = parser.add_subparsers(dest='command', required=True)
    proxy_command = commands.add_parser('proxy', help='run the sidecar: certificate, xDS, Envoy, health')
    proxy_command.add_argument('--envoy', default='/usr/local/bin/envoy', help='the Envoy binary')
    proxy_command.add_argument('--status-port', type=int, default=15021, help='the port of /healthz/ready')
    proxy_command.add_argument('--root', default='', help='prefix of every path the agent reads (tests)')
    proxy_command.set_defaults(run=_proxy)
    commands.add_parser('istio-iptables', help='set up inbound capture').set_defaults(run=_iptables)
    commands.add_parser('istio-clean-iptables', help='remove the capture rules').set_defaults(run=_clean)
    args = parser.parse_args(argv)
    return args.run(args)
