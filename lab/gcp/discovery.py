"""Routes and checks taken from the discovery documents shipped in google-api-python-client.

Every method of a document becomes a route (its ``flatPath``, the URL form clients send). A request is matched to
its method, its path and query parameters are checked against the method's parameter list (patterns, types,
enums; unknown parameters are refused), and its body and the response against the method's schemas.
"""

import functools
import json
import os
import re
import urllib.parse

import googleapiclient

from lab.gcp.errors import ApiError, invalid
from lab.gcp.schema import SchemaWalker

DOCUMENTS = os.path.join(os.path.dirname(googleapiclient.__file__), 'discovery_cache', 'documents')

# Compute's aggregatedList descriptions tell clients to send ``returnPartialSuccess`` (gcloud does), yet the shipped
# document's parameter lists omit it; a method whose description names it takes it.
_DESCRIBED_PARAMETERS = {'returnPartialSuccess': {'type': 'boolean', 'location': 'query'}}


class Method:
    """One API method: its id (``compute.instances.insert``), HTTP method, route and schemas."""

    def __init__(self, description, service_path):
        self.id = description['id']
        self.http_method = description['httpMethod']
        self.parameters = dict(description.get('parameters', {}))
        for name, spec in _DESCRIBED_PARAMETERS.items():
            if '`%s` parameter' % name in description.get('description', ''):
                self.parameters.setdefault(name, spec)
        self.request = description.get('request')
        self.response = description.get('response')
        self.scopes = description.get('scopes', [])
        template = service_path + description.get('flatPath', description['path'])
        self.path_names = re.findall(r'{\+?([^}]+)}', template)
        pattern = ''
        for literal, name in re.findall(r'([^{]*)(?:{\+?([^}]+)})?', template):
            pattern += re.escape(literal) + ('(?P<%s>[^/]+)' % name if name else '')
        self.route = re.compile(pattern)
        # Custom verbs (``clusters/{id}:setLabels``) must be tried before the plain ``clusters/{id}``.
        self.specificity = len(re.sub(r'{[^}]+}', '', template))


@functools.lru_cache(maxsize=None)
def load(name):
    """The DiscoveryApi for ``name``; parsed once per process (the compute document is large), never changed."""
    with open(os.path.join(DOCUMENTS, name + '.json'), encoding='utf-8') as handle:
        return DiscoveryApi(json.load(handle))


class DiscoveryApi:
    """One discovery document (``compute.v1``, ``container.v1``)."""

    def __init__(self, document):
        self.name = document['name']
        self.common_parameters = document.get('parameters', {})
        self.walker = SchemaWalker(document['schemas'])
        self.methods = {}
        self._collect(document, document['servicePath'])
        self._routes = sorted(self.methods.values(), key=lambda method: -method.specificity)

    def _collect(self, node, service_path):
        for description in node.get('methods', {}).values():
            method = Method(description, service_path)
            self.methods[method.id] = method
        for child in node.get('resources', {}).values():
            self._collect(child, service_path)

    def schema(self, name):
        return self.walker.schemas[name]

    def match(self, http_method, path):
        """The method for ``http_method`` on ``path`` (without the leading /) and its path parameters."""
        path_allowed = False
        for method in self._routes:
            found = method.route.fullmatch(path)
            if found:
                path_allowed = True
                if method.http_method == http_method:
                    return method, {name: urllib.parse.unquote(value) for name, value in found.groupdict().items()}
        if path_allowed:
            raise ApiError(405, 'Method %s is not allowed on /%s' % (http_method, path), reason='httpMethodNotAllowed')
        raise ApiError(404, 'The requested URL /%s was not found on this server.' % path, reason='notFound')

    def check_parameters(self, method, path_values, query):
        """Refuse path values not matching their pattern and query parameters the method does not have."""
        for name, value in path_values.items():
            pattern = method.parameters.get(name, {}).get('pattern')
            if pattern and not re.fullmatch(pattern.lstrip('^').rstrip('$'), value):
                raise invalid("Invalid value '%s'. Values must match the following regular expression: '%s'" % (value, pattern),
                              reason='invalidParameter', location=name, locationType='parameter')
        for name, values in query.items():
            spec = method.parameters.get(name) or self.common_parameters.get(name)
            if spec is None or spec.get('location') == 'path':
                raise invalid('Invalid JSON payload received. Unknown name "%s": Cannot bind query parameter. '
                              "Field '%s' could not be found in request message." % (name, name), reason='badRequest')
            if len(values) > 1 and not spec.get('repeated'):
                raise invalid("Invalid value for parameter '%s': given %d times" % (name, len(values)), reason='invalidParameter',
                              location=name, locationType='parameter')
            for value in values:
                _check_query_value(name, value, spec)

    def check_request(self, method, body):
        if method.request is None:
            if body not in (None, {}):
                raise invalid('Invalid JSON payload received. %s takes no request body.' % method.id, reason='badRequest')
            return
        if body is None:
            body = {}
        root = 'resource' if self.name == 'compute' else ''
        self.walker.check_request(body, method.request, root, method.id)

    def check_response(self, method, body):
        if method.response is not None:
            self.walker.check_response(body, method.response)


def _check_query_value(name, value, spec):
    kind = spec.get('type')
    ok = True
    if kind == 'integer':
        ok = re.fullmatch(r'-?[0-9]+', value) is not None
        if ok and 'minimum' in spec and int(value) < int(spec['minimum']):
            ok = False
        if ok and 'maximum' in spec and int(value) > int(spec['maximum']):
            ok = False
    elif kind == 'boolean':
        ok = value in ('true', 'false', 'True', 'False', '1', '0')
    if ok and 'enum' in spec:
        ok = value in spec['enum']
    if not ok:
        raise invalid("Invalid value for parameter '%s': %s" % (name, value), reason='invalidParameter', location=name, locationType='parameter')
