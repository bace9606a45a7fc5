"""Kubernetes name rules and the SPIFFE ID format Istio uses for workloads."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.spiffe import (
    dns1123_label_problem,
    dns1123_subdomain_problem,
    spiffe_id,
)


@pytest.mark.parametrize('name', ['default', 'a', 'istio-system', 'ns1', 'a' * 63])
def test_valid_labels(name):
    assert dns1123_label_problem(name) is None


@pytest.mark.parametrize('name, problem', [
    ('', 'empty'),
    ('a' * 64, 'at most 63'),
    ('Default', 'lower case'),
    ('-a', 'start and end'),
    ('a-', 'start and end'),
    ('a.b', 'lower case'),
    ('a_b', 'lower case'),
])
def test_invalid_labels(name, problem):
    assert problem in dns1123_label_problem(name)


# Kubernetes limits the whole subdomain to 253 characters but, unlike DNS, not each part to 63.
@pytest.mark.parametrize('name', ['cluster.local', 'example.org', 'sa', 'my-sa.v2', 'a' * 64 + '.b'])
def test_valid_subdomains(name):
    assert dns1123_subdomain_problem(name) is None


@pytest.mark.parametrize('name, problem', [
    ('', 'empty'),
    ('.'.join(['a' * 63] * 4) + 'a', 'at most 253'),
    ('Cluster.local', 'lower case'),
    ('cluster..local', 'each dot-separated part'),
    ('cluster.local.', 'each dot-separated part'),
    ('my_sa', 'lower case'),
])
def test_invalid_subdomains(name, problem):
    assert problem in dns1123_subdomain_problem(name)


def test_spiffe_id_format():
    assert spiffe_id('cluster.local', 'default', 'b') == 'spiffe://cluster.local/ns/default/sa/b'
