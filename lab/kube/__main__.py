"""``python -m lab.kube serve --state-dir DIR --host H --port P``: the lab daemon for one cluster's API."""

import argparse
import sys

from lab.kube.server import KubeApiServer, serve_forever


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.kube', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    serve = commands.add_parser('serve', help='run the API server until SIGTERM')
    serve.add_argument('--state-dir', required=True, help='CA, keys, kubeconfig and saved objects live here')
    serve.add_argument('--host', default='127.0.0.1', help='address to listen on (the cluster endpoint)')
    serve.add_argument('--port', type=int, default=443, help='port to listen on (0: any free one)')
    serve.add_argument('--deployment-ready-seconds', type=float, default=2.0,
                       help='how long a Deployment takes to become Available')
    serve.add_argument('--lb-range', default='10.168.8.0/24', help='addresses for LoadBalancer Services')
    serve.add_argument('--service-cidr', default='10.8.0.0/20', help='the ClusterIP range (servicesIpv4Cidr)')
    serve.add_argument('--issuer', default=None, help='service account token issuer (default: in-cluster URL)')
    args = parser.parse_args(argv)
    server = KubeApiServer(args.state_dir, host=args.host, port=args.port,
                           deployment_ready_seconds=args.deployment_ready_seconds, lb_range=args.lb_range,
                           service_cidr=args.service_cidr, issuer=args.issuer, log=sys.stderr)
    serve_forever(server)
    return 0


if __name__ == '__main__':
    sys.exit(main())
