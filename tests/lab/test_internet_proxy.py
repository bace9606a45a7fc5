"""The lab internet: registered hosts are reached over TLS the lab CA vouches for; everything else gets a 403."""

import http.server
import logging
import subprocess

import pytest
import requests

from lab.internet.client import client_env, write_env_file
from lab.internet.tls import TLSServer


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
        body = ('hello from %s%s' % (self.headers['Host'], self.path)).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def release_host(lab_ca, internet):
    server = TLSServer(lab_ca, 'github', ['github.com'], _Hello)
    server.register(internet[0])
    server.start()
    yield server
    server.stop()


def test_registered_host_is_reached_with_the_lab_ca(release_host, lab_env):
    response = requests.get('https://github.com/istio/istio/releases/download/1.28.0/x.tar.gz', timeout=10)
    assert response.status_code == 200
    assert response.text == 'hello from github.com/istio/istio/releases/download/1.28.0/x.tar.gz'


def test_openssl_verifies_the_chain_through_the_proxy(release_host, internet, lab_ca):
    proxy = internet[1]
    completed = subprocess.run(
        ['openssl', 's_client', '-proxy', '%s:%d' % (proxy.address, proxy.port), '-connect', 'github.com:443',
         '-servername', 'github.com', '-CAfile', lab_ca.cert_path, '-verify_return_error', '-brief'],
        input='', capture_output=True, text=True, timeout=30, check=False)
    assert completed.returncode == 0, completed.stderr
    assert 'Verification: OK' in completed.stderr


@pytest.mark.parametrize('url', ['https://example.com/', 'https://pypi.org/simple/', 'https://storage.googleapis.com/istio-release/x'])
def test_other_destinations_are_refused_and_logged(url, internet, lab_env, caplog):
    caplog.set_level(logging.WARNING, logger='lab.internet.proxy')
    with pytest.raises(requests.exceptions.ProxyError, match='403'):
        requests.get(url, timeout=10)
    host = url.split('/')[2]
    assert any(host in refusal for refusal in internet[1].refusals)
    assert any(host in record.getMessage() and 'refused' in record.getMessage() for record in caplog.records)


def test_plain_http_is_refused(internet):
    proxy = internet[1]
    response = requests.get('http://github.com/', proxies={'http': proxy.url}, timeout=10)
    assert response.status_code == 403
    assert 'only carries HTTPS' in response.text


def test_registry_only_takes_lab_internet_hosts(internet):
    with pytest.raises(ValueError, match='not a host of the lab internet'):
        internet[0].add('example.com', ('127.0.0.1', 1))


def test_env_file_sets_proxy_ca_and_no_proxy(tmp_path, internet, lab_ca):
    path = tmp_path / 'lab.env'
    write_env_file(str(path), client_env(internet[1].url, lab_ca.cert_path, str(tmp_path / 'gcloud')))
    shown = subprocess.run(['bash', '-c', '. %s && echo "$HTTPS_PROXY|$NO_PROXY|$REQUESTS_CA_BUNDLE|$CLOUDSDK_CONFIG"' % path],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == '%s|localhost,127.0.0.0/8,::1,10.0.0.0/8|%s|%s' % (internet[1].url, lab_ca.cert_path, tmp_path / 'gcloud')


def test_loopback_bypasses_the_proxy(lab_env):
    assert requests.utils.should_bypass_proxies('https://127.0.10.1/api', no_proxy=None)
    assert requests.utils.should_bypass_proxies('https://10.168.0.20:15021/', no_proxy=None)
    assert not requests.utils.should_bypass_proxies('https://compute.googleapis.com/', no_proxy=None)
