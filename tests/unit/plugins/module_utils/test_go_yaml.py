"""YAML in istioctl's style: go-yaml v2 key order and quoting, read back to the same data."""

import pytest
import yaml

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import go_yaml


def test_non_letters_sort_before_letters():
    # '_' < 'J' by code point, yet go-yaml writes ISTIO_META_* before ISTIO_METAJSON_LABELS.
    keys = ['ISTIO_METAJSON_LABELS', 'ISTIO_META_WORKLOAD_NAME', 'ISTIO_META_CLUSTER_ID', 'CANONICAL_SERVICE']
    assert go_yaml.sorted_keys(keys) == ['CANONICAL_SERVICE', 'ISTIO_META_CLUSTER_ID', 'ISTIO_META_WORKLOAD_NAME',
                                         'ISTIO_METAJSON_LABELS']


def test_digit_runs_sort_as_numbers():
    assert go_yaml.sorted_keys(['port10', 'port9', 'port', 'port_a']) == ['port', 'port_a', 'port9', 'port10']


@pytest.mark.parametrize('value, line', [
    ('plain', 'k: plain\n'),
    ('', 'k: ""\n'),
    ('true', 'k: "true"\n'),
    ('y', 'k: "y"\n'),
    ('off', 'k: "off"\n'),
    ('3550', 'k: "3550"\n'),
    ('08', 'k: "08"\n'),
    ('1_000', 'k: "1_000"\n'),
    ('0x1F', 'k: "0x1F"\n'),
    ('1.5e3', 'k: "1.5e3"\n'),
    ('.5', 'k: ".5"\n'),
    ('2026-11-24', 'k: "2026-11-24"\n'),
    ('1:20', 'k: "1:20"\n'),
    ('{"a":"b"}', 'k: \'{"a":"b"}\'\n'),
    ('a: b', "k: 'a: b'\n"),
    ('host:15012', 'k: host:15012\n'),
    ('v1', 'k: v1\n'),
])
def test_string_quoting_matches_go_yaml(value, line):
    assert go_yaml.dump({'k': value}) == line
    assert yaml.safe_load(go_yaml.dump({'k': value})) == {'k': value}


def test_numbers_lists_and_nesting():
    text = go_yaml.dump({'probe': {'exec': {'command': ['/bin/check', '--ready']}, 'periodSeconds': 5}})
    assert text == 'probe:\n  exec:\n    command:\n    - /bin/check\n    - --ready\n  periodSeconds: 5\n'


def test_multiline_strings_are_literal_blocks():
    assert go_yaml.dump({'k': 'a\nb'}) == 'k: |-\n  a\n  b\n'


@pytest.mark.parametrize('value, text', [
    (0.5, '0.5'), (1.0, '1'), (0.0, '0'), (-2.5, '-2.5'), (99.99, '99.99'), (1e-05, '1e-05'), (0.0001, '0.0001'),
    (123456.5, '123456.5'), (1234567.5, '1.2345675e+06'), (1e6, '1e+06'), (1e21, '1e+21'), (2.5e-10, '2.5e-10'),
])
def test_floats_are_written_as_go_formats_them(value, text):
    """strconv.FormatFloat(f, 'g', -1, 64): shortest digits, exponent form below 1e-4 and from 1e6 up."""
    assert go_yaml.go_float(value) == text
    assert go_yaml.dump({'x': value}) == 'x: %s\n' % text
