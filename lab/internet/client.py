"""The settings that send clients through the lab internet: environment variables and a private gcloud config.

gcloud keeps its real endpoints; it only gets a proxy and the lab CA, the same as requests and google-auth.
"""

import configparser
import os
import shlex

# Loopback (the Kubernetes API stand-ins live on 127.0.10.N) and the lab's private ranges (VPC, pod and service
# ranges, all inside 10.0.0.0/8) are reached directly, never through the proxy.
NO_PROXY = 'localhost,127.0.0.0/8,::1,10.0.0.0/8'


def client_env(proxy_url, ca_path, cloudsdk_config=None):
    """Environment for processes that should see the lab internet as the internet."""
    env = {
        'HTTPS_PROXY': proxy_url,
        'https_proxy': proxy_url,
        'NO_PROXY': NO_PROXY,
        'no_proxy': NO_PROXY,
        'REQUESTS_CA_BUNDLE': ca_path,
        'SSL_CERT_FILE': ca_path,
        'CURL_CA_BUNDLE': ca_path,
        # The environment beats gcloud's config file: a CA file set for the host must not hide the lab CA.
        'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE': ca_path,
    }
    if cloudsdk_config:
        env['CLOUDSDK_CONFIG'] = cloudsdk_config
    return env


def write_env_file(path, env):
    """Write ``env`` as ``export NAME=value`` lines, for ``. path`` in a shell."""
    with open(path, 'w', encoding='utf-8') as handle:
        for name in sorted(env):
            handle.write('export %s=%s\n' % (name, shlex.quote(env[name])))


def write_gcloud_config(directory, proxy_address, proxy_port, ca_path, project=None):
    """Make ``directory`` a CLOUDSDK_CONFIG whose default configuration uses the proxy and trusts the lab CA."""
    os.makedirs(os.path.join(directory, 'configurations'), mode=0o700, exist_ok=True)
    config = configparser.ConfigParser()
    config['core'] = {
        'custom_ca_certs_file': ca_path,
        # Both would phone home to hosts the lab internet refuses.
        'disable_usage_reporting': 'true',
    }
    if project:
        config['core']['project'] = project
    config['component_manager'] = {'disable_update_check': 'true'}
    config['proxy'] = {'type': 'http', 'address': proxy_address, 'port': str(proxy_port)}
    with open(os.path.join(directory, 'configurations', 'config_default'), 'w', encoding='utf-8') as handle:
        config.write(handle)
    with open(os.path.join(directory, 'active_config'), 'w', encoding='utf-8') as handle:
        handle.write('default')
    return directory
