"""Start a Kubernetes API stand-in for a test or another stand-in: ``with running_kube_api(tmp) as kube: ...``."""

import contextlib

from lab.kube.server import KubeApiServer


@contextlib.contextmanager
def running_kube_api(state_dir, host='127.0.0.1', port=0, deployment_ready_seconds=0.2, lb_range='10.168.8.0/24',
                     **options):
    """Start the API server; yield a handle with:
       .url ('https://127.0.0.1:PORT'), .ca_path (PEM of the cluster CA), .token (admin bearer token),
       .kubeconfig (path of a kubeconfig with context 'lab' that kubectl and the kubernetes client accept),
       .server (the in-process server object, for tests that need to inspect or inject state).

    Further keyword options go to KubeApiServer (service_cidr, issuer, extra_authenticators, log)."""
    server = KubeApiServer(str(state_dir), host=host, port=port, deployment_ready_seconds=deployment_ready_seconds,
                           lb_range=lb_range, **options)
    server.start()
    try:
        yield _Handle(server)
    finally:
        server.stop()


class _Handle:
    def __init__(self, server):
        self.server = server
        self.url = server.url
        self.ca_path = server.ca_path
        self.token = server.token
        self.kubeconfig = server.kubeconfig
