# Copyright: (c) 2026, meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes connection options every module of the collection takes (module_utils/kube.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - When neither this nor O(host) is given, the Kubernetes client reads C($KUBECONFIG), else C(~/.kube/config).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable, as for M(kubernetes.core.k8s).
    type: path
  context:
    description:
      - The name of a context in the kubeconfig; its current context when not given.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://10.0.0.1).
      - Overrides the server of the kubeconfig context; given without O(kubeconfig), no kubeconfig is read and
        O(api_key) and O(ca_cert) supply the credentials and trust.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token to authenticate to the API server with; overrides the kubeconfig user's credentials.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to what the kubeconfig says, else true.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (PEM) that signed the API server's certificate; overrides the kubeconfig's.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
requirements:
  - kubernetes >= 24.2.0 (Python library)
notes:
  - Objects are written by server-side apply with the field manager C(meshbridge).
"""
