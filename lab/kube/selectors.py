"""Label selectors (``labelSelector``) and field selectors (``fieldSelector``) as the list and watch verbs take them."""

import re

from lab.kube import errors

_SET_TERM = re.compile(r'^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$')
_EQUALITY_TERM = re.compile(r'^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$')


def _split_terms(text):
    """Split on commas that are not inside ``in (...)`` parentheses."""
    terms, depth, current = [], 0, ''
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            terms.append(current)
            current = ''
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def parse_label_selector(text):
    """A predicate over a labels dict; 400 BadRequest for a selector the real server would not parse."""
    tests = []
    for term in _split_terms(text or ''):
        equality = _EQUALITY_TERM.match(term)
        set_term = _SET_TERM.match(term)
        if equality:
            key, operator, value = equality.groups()
            if operator == '!=':
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif set_term:
            negated, key, operator, values = set_term.groups()
            if operator:
                if negated:
                    raise errors.bad_request('unable to parse requirement: %s' % term.strip())
                allowed = {value.strip() for value in values.split(',')}
                if operator == 'in':
                    tests.append(lambda labels, k=key, a=allowed: labels.get(k) in a)
                else:
                    tests.append(lambda labels, k=key, a=allowed: labels.get(k) not in a)
            elif negated:
                tests.append(lambda labels, k=key: k not in labels)
            else:
                tests.append(lambda labels, k=key: k in labels)
        else:
            raise errors.bad_request('unable to parse requirement: found \'%s\', expected: identifier' % term.strip())
    return lambda labels: all(test(labels or {}) for test in tests)


def _field_value(obj, field):
    meta = obj.get('metadata', {})
    if field == 'metadata.name':
        return meta.get('name', '')
    if field == 'metadata.namespace':
        return meta.get('namespace', '')
    if field == 'status.phase':
        return obj.get('status', {}).get('phase', '')
    if field == 'type':
        return obj.get('type', '')
    raise KeyError(field)


# Fields each kind can be selected on besides metadata.name and metadata.namespace (the real server's list is
# per kind; these are the ones a client of this lab could use).
_EXTRA_FIELDS = {'Namespace': {'status.phase'}, 'Secret': {'type'}}


def parse_field_selector(text, kind):
    tests = []
    supported = {'metadata.name', 'metadata.namespace'} | _EXTRA_FIELDS.get(kind, set())
    for term in _split_terms(text or ''):
        match = _EQUALITY_TERM.match(term)
        if not match:
            raise errors.bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (text, term))
        field, operator, value = match.groups()
        if field not in supported:
            raise errors.bad_request('field label not supported: %s' % field)
        if operator == '!=':
            tests.append(lambda obj, f=field, v=value: _field_value(obj, f) != v)
        else:
            tests.append(lambda obj, f=field, v=value: _field_value(obj, f) == v)
    return lambda obj: all(test(obj) for test in tests)
