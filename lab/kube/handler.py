"""HTTP: authentication, routing of the Kubernetes URL scheme to the verbs, responses, and watch streams."""

import copy
import http.server
import json
import ssl
import time
import urllib.parse

import yaml

from lab.kube import errors, openapi, patching, token_api
from lab.kube.objects import WriteOptions

_FIELD_VALIDATION = ('Strict', 'Warn', 'Ignore')
# Paths the real server shows to anyone (system:public-info-viewer).
_PUBLIC_PATHS = ('/version', '/healthz', '/livez', '/readyz')
_DEFAULT_WATCH_SECONDS = 1800


def _event_as_seen(event, visible):
    """The event a watch with selectors reports, as the real watch cache does: an object that starts matching is
    ADDED, one that stops matching is DELETED; None if the watch does not see it at all."""
    now = visible(event.object)
    if event.type != 'MODIFIED':
        return event.type if now else None
    before = visible(event.previous)
    if before and now:
        return 'MODIFIED'
    if now:
        return 'ADDED'
    return 'DELETED' if before else None


class _Request:
    """What the routing decided: the resource type, namespace, name, subresource and the query."""

    def __init__(self, rtype, version, namespace, name, subresource, query):
        self.rtype = rtype
        self.version = version
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
        self.query = query

    def param(self, name, default=''):
        return self.query.get(name, [default])[0]


class ApiHandler(http.server.BaseHTTPRequestHandler):
    """One request; ``self.server.api`` is the KubeApiServer."""

    protocol_version = 'HTTP/1.1'
    server_version = 'lab-kube-apiserver'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        self.server.api.log(format % args)

    # Entry points.

    def do_GET(self):
        self._handle('GET')

    def do_POST(self):
        self._handle('POST')

    def do_PUT(self):
        self._handle('PUT')

    def do_PATCH(self):
        self._handle('PATCH')

    def do_DELETE(self):
        self._handle('DELETE')

    def _handle(self, method):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        body = self._read_body()
        try:
            if url.path not in _PUBLIC_PATHS and not self._authenticated():
                raise errors.unauthorized()
            self._route(method, url.path.rstrip('/') or '/', query, body)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status_body())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True  # the client went away (e.g. a watch it no longer needs)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            api.log('internal error on %s %s: %r' % (method, self.path, exc))
            self._send_json(500, errors.ApiError(500, 'InternalError', 'Internal error occurred: %s' % exc).status_body())

    def _authenticated(self):
        header = self.headers.get('Authorization', '')
        scheme, token = (header.split(' ', 1) + [''])[:2]
        if scheme.lower() != 'bearer' or not token.strip():
            return False
        return self.server.api.authenticator(token.strip()) is not None

    def _read_body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    # Responses.

    def _send_json(self, code, payload, warnings=(), content_type='application/json'):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        for warning in warnings:
            self.send_header('Warning', '299 - %s' % json.dumps(warning))
        self.send_header('Cache-Control', 'no-cache, private')
        self.end_headers()
        self.wfile.write(data)

    # Routing.

    def _route(self, method, path, query, body):
        api = self.server.api
        registry = api.registry
        documents = {
            '/version': api.version_info,
            '/healthz': lambda: b'ok', '/livez': lambda: b'ok', '/readyz': lambda: b'ok',
            '/api': registry.core_versions,
            '/apis': registry.api_group_list,
            '/openapi/v3': lambda: openapi.v3_root(registry),
            '/.well-known/openid-configuration': lambda: api.issuer.openid_configuration(api.url),
            '/openid/v1/jwks': api.issuer.jwks,
        }
        if path in documents:
            self._require(method, 'GET')
            document = documents[path]()
            self._send_json(200, document, content_type='text/plain' if isinstance(document, bytes) else 'application/json')
            return
        if path == '/openapi/v2':
            self._require(method, 'GET')
            self._send_json(200, b'', content_type=openapi.OPENAPI_V2_PROTOBUF)
            return
        if path.startswith('/openapi/v3/'):
            document = openapi.v3_group_version(registry, path[len('/openapi/v3/'):])
            if document is None:
                raise errors.page_not_found()
            self._send_json(200, document)
            return
        parts = [urllib.parse.unquote(part) for part in path.strip('/').split('/')]
        if parts[0] == 'api' and len(parts) >= 2:
            group, version, rest = '', parts[1], parts[2:]
        elif parts[0] == 'apis' and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[0] == 'apis' and len(parts) == 2:
            self._require(method, 'GET')
            self._send_json(200, registry.api_group_doc(parts[1]))
            return
        else:
            raise errors.page_not_found()
        if not rest:
            self._require(method, 'GET')
            self._send_json(200, registry.resource_list(group, version))
            return
        self._resource(method, self._resolve(group, version, rest, query), body)

    @staticmethod
    def _require(method, allowed):
        if method != allowed:
            raise errors.method_not_allowed()

    def _resolve(self, group, version, rest, query):
        registry = self.server.api.registry
        namespace = None
        if rest[0] == 'namespaces' and len(rest) >= 3:
            candidate = registry.by_key(group, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise errors.page_not_found()
        rtype = registry.lookup(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ''
        if subresource and subresource not in rtype.subresources:
            raise errors.page_not_found()
        if rtype.namespaced and namespace is None and (name is not None or self.command not in ('GET',)):
            raise errors.page_not_found()
        return _Request(rtype, version, namespace, name, subresource, query)

    def _write_options(self, request):
        dry_run = request.query.get('dryRun', [])
        if any(value != 'All' for value in dry_run):
            raise errors.bad_request('Invalid dry run value: %s, must be "All"' % dry_run)
        validation = request.param('fieldValidation', 'Warn')
        if validation not in _FIELD_VALIDATION:
            raise errors.bad_request('fieldValidation parameter unsupported: %s, must be one of Ignore, Warn or Strict'
                                     % validation)
        manager = request.param('fieldManager') or self.headers.get('User-Agent', 'unknown').split('/')[0]
        return WriteOptions(manager=manager, dry_run=bool(dry_run), field_validation=validation,
                            force=request.param('force') in ('true', '1'))

    def _decode_body(self, body):
        content_type = (self.headers.get('Content-Type') or 'application/json').split(';')[0].strip()
        if content_type == 'application/vnd.kubernetes.protobuf':
            # Simplified: the real server decodes protobuf bodies too (kubectl's imperative `create <kind>` sends
            # them); decoding needs the generated message types, which this stand-in does not carry.
            raise errors.ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - '
                                  'accepted media types include: application/json, application/yaml')
        try:
            if content_type in ('application/yaml', 'application/apply-patch+yaml'):
                return yaml.safe_load(body)
            return json.loads(body or b'null')
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request('the body of the request could not be decoded: %s' % exc) from None

    def _resource(self, method, request, body):
        api = self.server.api
        objects = api.objects
        rtype, version, namespace, name = request.rtype, request.version, request.namespace, request.name
        if rtype.key == ('authentication.k8s.io', 'tokenreviews'):
            self._require(method, 'POST')
            self._send_json(201, token_api.review_token(objects, api.issuer, self._decode_body(body), api.audiences))
            return
        if request.subresource == 'token':
            self._require(method, 'POST')
            self._send_json(201, token_api.request_token(objects, api.issuer, namespace, name, self._decode_body(body),
                                                         api.audiences))
            return
        subresource = 'status' if request.subresource == 'status' else ''
        if method == 'GET' and name is None:
            if request.param('watch') in ('1', 'true'):
                self._watch(request)
            else:
                listed = objects.list(rtype, version, namespace, request.param('labelSelector'),
                                      request.param('fieldSelector'))
                self._send_maybe_table(listed, request)
        elif method == 'GET':
            self._send_maybe_table(objects.get(rtype, version, namespace, name), request)
        elif method == 'POST' and name is None:
            created, warnings = objects.create(rtype, version, namespace, self._decode_body(body),
                                               self._write_options(request))
            self._send_json(201, created, warnings)
        elif method == 'PUT' and name is not None:
            updated, warnings = objects.update(rtype, version, namespace, name, self._decode_body(body),
                                               self._write_options(request), subresource)
            self._send_json(200, updated, warnings)
        elif method == 'PATCH' and name is not None:
            content_type = (self.headers.get('Content-Type') or '').split(';')[0].strip()
            if content_type not in patching.PATCH_TYPES:
                raise errors.unsupported_media_type(content_type)
            options = self._write_options(request)
            if content_type == patching.APPLY_PATCH and not request.param('fieldManager'):
                options.manager = ''  # apply never falls back to the user agent: the caller must name itself
            existed = objects.find(rtype, namespace, name) is not None
            patched, warnings = objects.patch(rtype, version, namespace, name, content_type, body, options, subresource)
            self._send_json(200 if existed else 201, patched, warnings)
        elif method == 'DELETE' and name is not None:
            options = self._decode_body(body) or {}
            write_options = self._write_options(request)
            write_options.dry_run = write_options.dry_run or 'All' in (options.get('dryRun') or [])
            propagation = request.param('propagationPolicy') or options.get('propagationPolicy') or 'Background'
            self._send_json(200, objects.delete(rtype, version, namespace, name, write_options,
                                                options.get('preconditions'), propagation))
        elif method == 'DELETE':
            self._send_json(200, objects.delete_collection(rtype, version, namespace, self._write_options(request),
                                                           request.param('labelSelector'), request.param('fieldSelector')))
        else:
            raise errors.method_not_allowed()

    def _send_maybe_table(self, payload, request):
        """kubectl get asks for a Table; answer with name and age columns as the real server does for kinds
        without custom columns."""
        if 'as=Table' not in (self.headers.get('Accept') or ''):
            self._send_json(200, payload)
            return
        items = payload['items'] if payload['kind'].endswith('List') and 'items' in payload else [payload]
        full = request.param('includeObject') == 'Object'
        rows = [{'cells': [item['metadata']['name'], item['metadata'].get('creationTimestamp')],
                 'object': item if full else {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
                                              'metadata': item['metadata']}} for item in items]
        table = {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1',
                 'metadata': {'resourceVersion': payload['metadata'].get('resourceVersion', '')},
                 'columnDefinitions': [
                     {'name': 'Name', 'type': 'string', 'format': 'name', 'description': 'Name of the object',
                      'priority': 0},
                     {'name': 'Created At', 'type': 'date', 'format': '', 'description': 'When the object was created',
                      'priority': 0}],
                 'rows': rows}
        self._send_json(200, table, content_type='application/json')

    # Watch.

    def _watch(self, request):
        api = self.server.api
        storage = api.storage
        rtype, version, namespace = request.rtype, request.version, request.namespace
        matches = api.objects.matcher(rtype, request.param('labelSelector'), request.param('fieldSelector'))
        deadline = time.monotonic() + float(request.param('timeoutSeconds') or _DEFAULT_WATCH_SECONDS)
        start = request.param('resourceVersion')

        def visible(obj):
            return (namespace is None or obj['metadata'].get('namespace') == namespace) and matches(obj)

        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        if start in ('', '0'):
            initial, revision = storage.list(rtype.key, namespace if rtype.namespaced else None)
            for obj in initial:
                if visible(obj):
                    self._send_event('ADDED', api.objects.present(rtype, version, obj))
        else:
            try:
                revision = int(start)
            except ValueError:
                revision = -1
        while not storage.closed and time.monotonic() < deadline:
            events = storage.events_after(revision) if revision >= 0 else None
            if events is None:
                gone = errors.expired('too old resource version: %s (%s)' % (start, storage.revision))
                self._send_event('ERROR', gone.status_body())
                break
            for event in events:
                revision = event.resource_version
                event_type = _event_as_seen(event, visible) if event.key == rtype.key else None
                if event_type:
                    self._send_event(event_type, api.objects.present(rtype, version, copy.deepcopy(event.object)))
            storage.wait_for_change(revision, min(5.0, max(0.0, deadline - time.monotonic())))
        self.wfile.write(b'0\r\n\r\n')
        self.close_connection = True

    def _send_event(self, event_type, obj):
        line = json.dumps({'type': event_type, 'object': obj}).encode() + b'\n'
        self.wfile.write(b'%x\r\n%s\r\n' % (len(line), line))
        self.wfile.flush()
