"""Checks the real server's validation code makes that the published schemas cannot express: name formats,
label syntax, a Deployment's selector matching its template, Service ports, immutable fields, Secret data.
Each raises 422 Invalid with the real server's field paths and wording."""

import base64
import binascii
import re

from lab.kube import errors

_DNS1123_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r'(\.' + _DNS1123_LABEL + r')*'
_DNS1035_LABEL = r'[a-z]([-a-z0-9]*[a-z0-9])?'
_LABEL_VALUE = r'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'
_QUALIFIED_NAME = r'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'

_SUBDOMAIN_MESSAGE = ('a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or '
                      '\'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used '
                      'for validation is \'%s\')' % _DNS1123_SUBDOMAIN)
_LABEL_MESSAGE = ('a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must '
                  'start and end with an alphanumeric character (e.g. \'my-name\',  or \'123-abc\', regex used for '
                  'validation is \'%s\')' % _DNS1123_LABEL)
_DNS1035_MESSAGE = ('a DNS-1035 label must consist of lower case alphanumeric characters or \'-\', start with an '
                    'alphabetic character, and end with an alphanumeric character (e.g. \'my-name\',  or \'abc-123\', '
                    'regex used for validation is \'%s\')' % _DNS1035_LABEL)


def _name_causes(rtype, name):
    if rtype.group == 'rbac.authorization.k8s.io':
        if name in ('.', '..') or '/' in name or '%' in name:
            return [errors.invalid_value('metadata.name', name, 'may not contain \'/\' or \'%\'')]
        return []
    if rtype.kind == 'Namespace':
        pattern, message, limit = _DNS1123_LABEL, _LABEL_MESSAGE, 63
    elif rtype.kind == 'Service':
        pattern, message, limit = _DNS1035_LABEL, _DNS1035_MESSAGE, 63
    else:
        pattern, message, limit = _DNS1123_SUBDOMAIN, _SUBDOMAIN_MESSAGE, 253
    causes = []
    if len(name) > limit:
        causes.append(errors.invalid_value('metadata.name', name, 'must be no more than %d characters' % limit))
    if not re.fullmatch(pattern, name):
        causes.append(errors.invalid_value('metadata.name', name, message))
    return causes


def _label_causes(labels, field='metadata.labels'):
    causes = []
    for key, value in (labels or {}).items():
        prefix, name = key.rpartition('/')[::2]
        if not re.fullmatch(_QUALIFIED_NAME, name) or len(name) > 63 or (prefix and not re.fullmatch(_DNS1123_SUBDOMAIN, prefix)):
            causes.append(errors.invalid_value(field, key, 'name part must consist of alphanumeric characters, \'-\', '
                                               '\'_\' or \'.\', and must start and end with an alphanumeric character'))
        if not isinstance(value, str) or len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
            causes.append(errors.invalid_value(field, value, 'a valid label must be an empty string or consist of '
                                               'alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end '
                                               'with an alphanumeric character'))
    return causes


def _selector_matches(selector, labels):
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get('matchLabels') or {}).items()):
        return False
    for expression in selector.get('matchExpressions') or []:
        key, operator, values = expression.get('key'), expression.get('operator'), expression.get('values') or []
        if operator == 'In' and labels.get(key) not in values:
            return False
        if operator == 'NotIn' and labels.get(key) in values:
            return False
        if operator == 'Exists' and key not in labels:
            return False
        if operator == 'DoesNotExist' and key in labels:
            return False
    return True


def _deployment_causes(obj, old):
    spec = obj.get('spec') or {}
    template = spec.get('template') or {}
    selector = spec.get('selector') or {}
    causes = []
    if not (selector.get('matchLabels') or selector.get('matchExpressions')):
        causes.append(errors.invalid_value('spec.selector', selector, 'empty selector is invalid for deployment'))
    elif not _selector_matches(selector, (template.get('metadata') or {}).get('labels')):
        causes.append(errors.invalid_value('spec.template.metadata.labels', (template.get('metadata') or {}).get('labels'),
                                           '`selector` does not match template `labels`'))
    for index, container in enumerate((template.get('spec') or {}).get('containers') or []):
        if not container.get('image'):
            causes.append(errors.required('spec.template.spec.containers[%d].image' % index))
    if old is not None and (old.get('spec') or {}).get('selector') != selector:
        causes.append(errors.invalid_value('spec.selector', selector, 'field is immutable'))
    return causes


def _service_causes(obj, old):
    spec = obj.get('spec') or {}
    ports = spec.get('ports') or []
    causes = []
    if not ports and spec.get('type', 'ClusterIP') != 'ExternalName' and spec.get('clusterIP') != 'None':
        causes.append(errors.required('spec.ports'))
    for index, port in enumerate(ports):
        if len(ports) > 1 and not port.get('name'):
            causes.append(errors.required('spec.ports[%d].name' % index))
        if isinstance(port.get('port'), int) and not 0 < port['port'] < 65536:
            causes.append(errors.invalid_value('spec.ports[%d].port' % index, port['port'],
                                               'must be between 1 and 65535, inclusive'))
    if old is not None:
        old_ip = (old.get('spec') or {}).get('clusterIP')
        if spec.get('clusterIP') and old_ip and spec['clusterIP'] != old_ip:
            causes.append(errors.invalid_value('spec.clusterIPs[0]', spec['clusterIP'], 'may not change once set'))
    return causes


def _secret_causes(obj, old):
    causes = []
    for key, value in (obj.get('data') or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise errors.bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                                     'at input byte 0 (data[%s])' % key) from None
    if obj.get('type') == 'kubernetes.io/tls':
        for key in ('tls.crt', 'tls.key'):
            if key not in (obj.get('data') or {}):
                causes.append(errors.required('data[%s]' % key))
    if old is not None and old.get('type') != obj.get('type'):
        causes.append(errors.invalid_value('type', obj.get('type'), 'field is immutable'))
    return causes + _immutable_data_causes(obj, old)


def _immutable_data_causes(obj, old):
    """Secrets and ConfigMaps marked ``immutable`` keep their data."""
    if old is not None and old.get('immutable') and (old.get('data'), old.get('binaryData')) != \
            (obj.get('data'), obj.get('binaryData')):
        return [errors.Cause(errors.Cause.FORBIDDEN, 'data', 'Forbidden: field is immutable when `immutable` is set')]
    return []


def _binding_causes(obj, old):
    if old is not None and old.get('roleRef') != obj.get('roleRef'):
        return [errors.invalid_value('roleRef', obj.get('roleRef'), 'cannot change roleRef')]
    return []


_KIND_CHECKS = {
    ('apps', 'Deployment'): _deployment_causes,
    ('', 'Service'): _service_causes,
    ('', 'Secret'): _secret_causes,
    ('', 'ConfigMap'): _immutable_data_causes,
    ('rbac.authorization.k8s.io', 'RoleBinding'): _binding_causes,
    ('rbac.authorization.k8s.io', 'ClusterRoleBinding'): _binding_causes,
}


def check(rtype, obj, old=None):
    """Raise 422 Invalid for what the real server's validation refuses beyond the schema."""
    meta = obj.get('metadata') or {}
    causes = _name_causes(rtype, meta.get('name', ''))
    causes += _label_causes(meta.get('labels'))
    kind_check = _KIND_CHECKS.get((rtype.group, rtype.kind))
    if kind_check and rtype.crd is None:
        causes += kind_check(obj, old)
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, meta.get('name', ''), causes)
