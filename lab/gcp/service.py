"""Start the lab internet and the GCP stand-in together, with the files clients need, in a lab state directory.

``start()`` is what the lab daemon (lab.world) calls. Layout under ``state_dir``: ``pki/`` (lab CA),
``gcp/<project>-sa.json`` (service account key, 0600), ``gcloud/`` (CLOUDSDK_CONFIG, holding the lab user's
``application_default_credentials.json``), ``lab.env`` (``export`` lines: proxy, CA, gcloud config).
"""

import os

from lab.gcp.operations import Settings
from lab.gcp.server import GcpStandIn
from lab.gcp.gke_webhooks import GkeWebhooks
from lab.internet.client import client_env, write_env_file, write_gcloud_config
from lab.internet.proxy import ConnectProxy
from lab.internet.registry import HostRegistry
from lab.pki import LabCA

# The lab's user account (a Google account, not a service account).
LAB_USER = 'lab-user@example.com'


class LabGcp:
    """The running proxy and stand-in, and where their client files are."""

    def __init__(self, state_dir, cluster_backend, vm_backend, project, proxy_port=3128, settings=None):
        self.ca = LabCA(os.path.join(state_dir, 'pki'))
        self.registry = HostRegistry()
        self.proxy = ConnectProxy(self.registry, port=proxy_port)
        self.gcp = GcpStandIn(self.ca, cluster_backend, vm_backend, settings or Settings())
        self.gcp.register(self.registry)
        # What a GKE API server asks Google: who a token is, what IAM lets that account do (lab.kubernetes).
        self.gke_webhooks = GkeWebhooks(self.ca, self.gcp.authority)
        os.makedirs(os.path.join(state_dir, 'gcp'), mode=0o700, exist_ok=True)
        self.key_file = os.path.join(state_dir, 'gcp', '%s-sa.json' % project)
        self.account = self.gcp.authority.create_key_file(self.key_file, project)
        self.gcloud_config = write_gcloud_config(os.path.join(state_dir, 'gcloud'), self.proxy.address, self.proxy.port,
                                                 self.ca.cert_path, project=project)
        # A user who ran `gcloud auth application-default login`: the authorized_user file where gcloud leaves it
        # ($CLOUDSDK_CONFIG/application_default_credentials.json), for GCP_AUTH_KIND=application.
        self.user_credentials_file = os.path.join(self.gcloud_config, 'application_default_credentials.json')
        self.user_account = self.gcp.authority.create_user_credentials(self.user_credentials_file, LAB_USER, project)
        self.env = client_env(self.proxy.url, self.ca.cert_path, self.gcloud_config)
        self.env_file = os.path.join(state_dir, 'lab.env')
        write_env_file(self.env_file, self.env)

    def start(self):
        self.gcp.start()
        self.gke_webhooks.start()
        self.proxy.start()
        return self

    def stop(self):
        self.proxy.stop()
        self.gke_webhooks.stop()
        self.gcp.stop()


def start(state_dir, cluster_backend, vm_backend, project, proxy_port=3128, settings=None):
    """Start the proxy (``127.0.0.1:proxy_port``) and the GCP stand-in behind it; returns the running LabGcp."""
    return LabGcp(state_dir, cluster_backend, vm_backend, project, proxy_port, settings).start()
