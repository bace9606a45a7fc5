"""Compute's list ``filter`` expressions: ``status = RUNNING``, ``labels.env != dev``, ``(a) (b)``, ``a AND (b OR c)``.

Comparisons: ``=``/``!=`` (``*`` matches any run of characters), ``:`` (has; ``field:*`` means present), ``<``, ``>``;
the legacy ``field eq 're'``/``ne`` take a regular expression. Juxtaposed terms are ANDed, as in Google's syntax.
A list-valued field matches when any element matches.
"""

import fnmatch
import re

from lab.gcp.errors import invalid

_TOKEN = re.compile(r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<op>!=|<=|>=|=|:|<|>)|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<word>[^\s()=!<>:"']+))""")


def _tokens(text):
    position, found = 0, []
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(text[position:])
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        found.append(('word', value) if kind in ('dq', 'sq') else (kind, value))
    return found


class _Parser:
    def __init__(self, text):
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.index += 1
        return token

    def expression(self):
        terms = [self.conjunction()]
        while self.peek() == ('word', 'OR'):
            self.take()
            terms.append(self.conjunction())
        return lambda item: any(term(item) for term in terms)

    def conjunction(self):
        terms = [self.term()]
        while self.peek()[0] not in (None, 'close') and self.peek() != ('word', 'OR'):
            if self.peek() == ('word', 'AND'):
                self.take()
            terms.append(self.term())
        return lambda item: all(term(item) for term in terms)

    def term(self):
        kind, value = self.take()
        if kind == 'open':
            inner = self.expression()
            if self.take()[0] != 'close':
                raise ValueError('unbalanced parenthesis')
            return inner
        if kind == 'word' and value in ('NOT', '-'):
            inner = self.term()
            return lambda item: not inner(item)
        if kind != 'word':
            raise ValueError('expected a field name')
        operator_kind, operator = self.take()
        if operator_kind == 'word' and operator in ('eq', 'ne'):
            operand = self.take()
            if operand[0] != 'word':
                raise ValueError('expected a value')
            pattern = re.compile(operand[1])
            wanted = operator == 'eq'
            return lambda item: any(bool(pattern.fullmatch(str(v))) for v in _values(item, value)) == wanted
        if operator_kind != 'op':
            raise ValueError('expected an operator')
        operand = self.take()
        if operand[0] != 'word':
            raise ValueError('expected a value')
        return _comparison(value, operator, operand[1])


def _comparison(field, operator, operand):
    def matches(item):
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _values(item, field)]
        if operator == ':':
            return bool(values) and (operand == '*' or any(operand in v for v in values))
        if operator == '=':
            return any(fnmatch.fnmatchcase(v, operand) for v in values)
        if operator == '!=':
            return not any(fnmatch.fnmatchcase(v, operand) for v in values)
        return any(_ordered(v, operator, operand) for v in values)
    return matches


def _ordered(value, operator, operand):
    try:
        left, right = float(value), float(operand)
    except ValueError:
        left, right = value, operand
    return {'<': left < right, '>': left > right, '<=': left <= right, '>=': left >= right}[operator]


def _values(item, field):
    current = [item]
    for part in field.split('.'):
        following = []
        for value in current:
            if isinstance(value, dict) and part in value:
                found = value[part]
                following.extend(found if isinstance(found, list) else [found])
            elif isinstance(value, list):
                following.extend(v[part] for v in value if isinstance(v, dict) and part in v)
        current = following
    return [value for value in current if not isinstance(value, (dict, list))]


def compile_filter(text):
    """A predicate for ``text`` (empty: everything); refuses what Google's parser refuses with its 400."""
    if not text or not text.strip():
        return lambda item: True
    try:
        parser = _Parser(text)
        predicate = parser.expression()
        if parser.index != len(parser.tokens):
            raise ValueError('trailing input')
    except (ValueError, re.error, IndexError):
        raise invalid("Invalid value for field 'filter': '%s'. Invalid list filter expression." % text) from None
    return predicate
