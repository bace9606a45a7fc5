"""The Google APIs stand-in as one HTTPS server for oauth2, compute, www and container ``.googleapis.com``.

Per request, in the order Google's front end works: route (404/405), bearer token and scopes (401/403), quota
faults (429/503 and compute's 403 rateLimitExceeded, if injected), path and query parameters (400), project access
(403), JSON body against the method's request schema (400), then the method itself; its answer is checked against
the response schema.
"""

import http.server
import json
import logging
import urllib.parse

from lab.gcp.auth import TokenAuthority, TokenError
from lab.gcp.compute import ComputeApi
from lab.gcp.compute_world import IMAGE_FAMILIES
from lab.gcp.container import ContainerApi
from lab.gcp import discovery
from lab.gcp.errors import ApiError, invalid
from lab.gcp.operations import OperationQueue, Settings
from lab.gcp.quotas import Quotas
from lab.gcp.schema import ResponseSchemaError
from lab.internet.tls import TLSServer

LOG = logging.getLogger('lab.gcp')

HOSTNAMES = ('oauth2.googleapis.com', 'compute.googleapis.com', 'www.googleapis.com', 'container.googleapis.com')
_MAX_BODY = 10 * 1024 * 1024


class _Api:
    """A discovery document and the handlers that implement its methods."""

    def __init__(self, discovery, implementation, service):
        self.discovery = discovery
        self.implementation = implementation
        self.service = service


class GcpStandIn:
    """oauth2 + compute v1 + container v1 behind one TLS server; ``register`` it with the lab internet's registry."""

    def __init__(self, ca, cluster_backend, vm_backend, settings=None):
        self.settings = settings or Settings()
        self.authority = TokenAuthority()
        self.operations = OperationQueue(self.settings)
        # One set of regional quotas: GKE's nodes count against the project's Compute Engine quotas.
        self.quotas = Quotas(self.settings)
        self.compute = ComputeApi(self.operations, vm_backend, self.quotas)
        self.container = ContainerApi(self.operations, cluster_backend, self.quotas)
        self.compute.instance_group_manager = self.container.instance_group_manager
        compute = _Api(discovery.load('compute.v1'), self.compute, 'compute')
        self._apis = {
            'compute.googleapis.com': compute,
            'www.googleapis.com': compute,
            'container.googleapis.com': _Api(discovery.load('container.v1'), self.container, 'container'),
        }
        self.tls = TLSServer(ca, 'googleapis', HOSTNAMES, _Handler)
        self.tls.httpd.stand_in = self

    def register(self, registry):
        self.tls.register(registry)

    def start(self):
        self.tls.start()
        return self

    def stop(self):
        self.tls.stop()
        self.operations.stop()

    def token(self, form, authorization=None):
        try:
            return 200, self.authority.exchange(form, authorization)
        except TokenError as error:
            return error.status, error.body()

    def tokeninfo(self, values):
        """``https://oauth2.googleapis.com/tokeninfo``: ``values`` are the query and form parameters."""
        try:
            return 200, self.authority.tokeninfo(values.get('access_token'))
        except TokenError as error:
            return error.status, error.body()

    def call(self, host, http_method, url, headers, body_bytes):
        """Run one API request; returns (status, JSON body, extra headers)."""
        api = self._apis.get(host)
        if api is None:
            return 404, ApiError(404, 'No API is served on %s' % host).body(), {}
        parsed = urllib.parse.urlsplit(url)
        try:
            method, values = api.discovery.match(http_method, parsed.path.lstrip('/'))
            user = self.authority.authorize(headers.get('Authorization'), method.scopes)
            self.settings.maybe_fault(api.service)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            api.discovery.check_parameters(method, values, query)
            self._check_project(method, values)
            body = _json_body(body_bytes)
            api.discovery.check_request(method, body)
            handler = api.implementation.handlers.get(method.id)
            if handler is None:
                raise ApiError(501, 'The lab does not implement %s.' % method.id)
            answer = handler(values, query, body or {}, user)
            api.discovery.check_response(method, answer)
        except ApiError as error:
            return error.code, error.body(), error.headers
        except ResponseSchemaError as error:
            LOG.error('%s %s: the stand-in built a response the schema refuses: %s', http_method, url, error)
            return 500, ApiError(500, 'Internal error in the lab stand-in: %s' % error).body(), {}
        return 200, answer, {}

    def _check_project(self, method, values):
        project = values.get('project') or values.get('projectId') or values.get('projectsId')
        if method.id.startswith('compute.images.') and project in IMAGE_FAMILIES:
            return      # public image projects are readable by everyone
        self.authority.check_project(project, method.id.replace('.projects.locations', '').replace('.projects.zones', ''))


def _json_body(body_bytes):
    if not body_bytes:
        return None
    try:
        return json.loads(body_bytes)
    except ValueError as error:
        raise invalid('Invalid JSON payload received. %s' % error, reason='parseError') from None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'ESF'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.info('%s %s', self.client_address[0], format % args)

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length > _MAX_BODY:
            raise ValueError('body too large')
        return self.rfile.read(length) if length else b''

    def _send(self, status, answer, headers=None):
        data = json.dumps(answer, indent=2).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json; charset=UTF-8')
        self.send_header('Content-Length', str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self):
        stand_in = self.server.stand_in
        host = (self.headers.get('Host') or '').split(':')[0].lower()
        body = self._body()
        if host == 'oauth2.googleapis.com':
            parsed = urllib.parse.urlsplit(self.path)
            form = {key: values[0] for key, values in urllib.parse.parse_qs(body.decode('utf-8', 'replace')).items()}
            if self.command == 'POST' and parsed.path == '/token':
                self._send(*stand_in.token(form, self.headers.get('Authorization')))
            elif self.command in ('GET', 'POST') and parsed.path == '/tokeninfo':
                query = {key: values[0] for key, values in urllib.parse.parse_qs(parsed.query).items()}
                self._send(*stand_in.tokeninfo(dict(form, **query)))
            else:
                self._send(404, {'error': 'not_found',
                                 'error_description': 'Not found: %s %s' % (self.command, self.path)})
            return
        self._send(*stand_in.call(host, self.command, self.path, self.headers, body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch
