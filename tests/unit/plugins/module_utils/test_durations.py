"""Durations for ttl and renew_before."""

import datetime

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.durations import format_duration, parse_duration


@pytest.mark.parametrize('text, seconds', [
    ('24h', 86400), ('90m', 5400), ('30s', 30), ('3650d', 3650 * 86400), ('2w', 14 * 86400),
    ('1d12h', 129600), (' 5m ', 300), ('0s', 0), ('-1h', -3600),
])
def test_parse(text, seconds):
    assert parse_duration(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize('text', ['', '24', 'h', '1.5h', '1y', '24 h', '1h-5m', 'abc'])
def test_malformed(text):
    with pytest.raises(ValueError, match='not a duration'):
        parse_duration(text)


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (86400, '1d'), (129600, '1d12h'), (3725, '1h2m5s'), (-60, '-1m')])
def test_format(seconds, text):
    assert format_duration(datetime.timedelta(seconds=seconds)) == text
    assert parse_duration(text) == datetime.timedelta(seconds=seconds)


def test_a_duration_too_long_for_python_is_a_value_error_naming_the_limit():
    with pytest.raises(ValueError, match="'99999999999999999999w' is too long: at most 999999999d"):
        parse_duration('99999999999999999999w')
