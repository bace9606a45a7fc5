"""GCE firewall rules rendered as nftables: which rules apply, in which order, matching what."""

import subprocess

import pytest

from lab.net import netns
from lab.vms.firewall import FirewallRuleError, applies_to, render
from vm_lab import unique_names

VM = {'name': 'istio-gce', 'tags': {'items': ['istio-vm']},
      'networkInterfaces': [{'network': 'https://compute.googleapis.com/compute/v1/projects/p/global/networks/default',
                             'networkIP': '10.168.0.20'}]}
OTHER = {'name': 'db', 'tags': {'items': ['db']}, 'serviceAccounts': [{'email': 'db@p.iam.gserviceaccount.com'}],
         'networkInterfaces': [{'network': 'global/networks/default', 'networkIP': '10.168.0.21'}]}


def rule(name, **fields):
    fields.setdefault('network', 'projects/p/global/networks/default')
    fields.setdefault('allowed', [{'IPProtocol': 'tcp', 'ports': ['8080']}])
    return dict(fields, name=name)


def ingress_lines(rules, instances=(VM, OTHER)):
    text = render(rules, VM, list(instances))
    chain = text.split('chain ingress {')[1].split('chain egress {')[0]
    return [line.strip() for line in chain.splitlines() if 'comment' in line]


def test_target_tags_accounts_network_and_disabled_decide_whether_a_rule_applies():
    assert applies_to(rule('all'), VM)
    assert applies_to(rule('tagged', targetTags=['istio-vm', 'x']), VM)
    assert not applies_to(rule('other-tag', targetTags=['db']), VM)
    assert applies_to(rule('by-account', targetServiceAccounts=['db@p.iam.gserviceaccount.com']), OTHER)
    assert not applies_to(rule('disabled', disabled=True), VM)
    assert not applies_to(rule('other-network', network='projects/p/global/networks/prod'), VM)


def test_lower_priority_number_first_and_deny_before_allow_at_equal_priority():
    lines = ingress_lines([
        rule('allow-late', priority=2000),
        rule('allow-same', priority=900),
        rule('deny-same', priority=900, allowed=None, denied=[{'IPProtocol': 'tcp', 'ports': ['8080']}]),
        rule('allow-default'),
    ])
    assert [line.split('comment ')[1] for line in lines] == ['"deny-same"', '"allow-same"', '"allow-default"', '"allow-late"']
    assert lines[0].endswith('drop comment "deny-same"') and lines[1].endswith('accept comment "allow-same"')


def test_sources_are_ranges_or_tagged_instances_and_ports_merge():
    [line] = ingress_lines([rule('mesh', sourceRanges=['10.4.0.0/14', '10.4.1.0/24'], sourceTags=['db'],
                                 allowed=[{'IPProtocol': 'tcp', 'ports': ['15443', '8080-8090', '8085', '8091']}])])
    assert line == 'ip saddr { 10.4.0.0/14, 10.168.0.21/32 } meta l4proto tcp th dport { 8080-8091, 15443 } accept comment "mesh"'


def test_no_source_means_anywhere_and_unmatched_source_tags_mean_nothing():
    assert ingress_lines([rule('anywhere', allowed=[{'IPProtocol': 'icmp'}])]) == ['meta l4proto icmp accept comment "anywhere"']
    assert not ingress_lines([rule('nobody', sourceTags=['no-such-tag'])])


def test_protocol_all_and_numbers():
    lines = ingress_lines([rule('internal', sourceRanges=['10.128.0.0/9'], allowed=[{'IPProtocol': 'all'}]),
                           rule('gre', allowed=[{'IPProtocol': '47'}])])
    assert lines == ['meta l4proto 47 accept comment "gre"', 'ip saddr { 10.128.0.0/9 } accept comment "internal"']


def test_egress_rules_go_to_the_output_chain():
    text = render([rule('no-smtp', direction='EGRESS', destinationRanges=['0.0.0.0/0'], allowed=None,
                        denied=[{'IPProtocol': 'tcp', 'ports': ['25']}])], VM)
    egress = text.split('chain egress {')[1]
    assert 'meta l4proto tcp th dport { 25 } drop comment "no-smtp"' in egress
    assert 'policy accept' in egress


@pytest.mark.parametrize('entry, message', [
    ({'IPProtocol': 'icmp', 'ports': ['1']}, 'ports are only valid with tcp, udp or sctp'),
    ({'IPProtocol': 'gopher'}, "IPProtocol 'gopher' is not one of"),
    ({'IPProtocol': 'tcp', 'ports': ['80-70']}, 'outside 0-65535 or reversed'),
    ({'IPProtocol': 'tcp', 'ports': ['http']}, 'neither a number nor a range'),
])
def test_rules_that_cannot_be_expressed_are_refused_by_name(entry, message):
    with pytest.raises(FirewallRuleError, match=f'firewall bad: .*{message}'):
        render([rule('bad', allowed=[entry])], VM)


@pytest.mark.lab
def test_rendered_ruleset_loads_and_replaces_itself_atomically():
    names = unique_names()
    namespace = names.vm_netns('fw')
    netns.create(namespace)
    try:
        rules = [rule('mesh', sourceRanges=['10.4.0.0/14'], allowed=[{'IPProtocol': 'tcp', 'ports': ['8080', '15443']}]),
                 rule('default-allow-internal', sourceRanges=['10.128.0.0/9'], priority=65534,
                      allowed=[{'IPProtocol': 'tcp', 'ports': ['0-65535']}, {'IPProtocol': 'udp', 'ports': ['0-65535']},
                               {'IPProtocol': 'icmp'}])]
        for ruleset in (render(rules, VM, [VM, OTHER]), render(rules[:1], VM)):
            subprocess.run(netns.command(namespace, ['nft', '-f', '-']), input=ruleset, text=True, check=True)
        listing = subprocess.run(netns.command(namespace, ['nft', 'list', 'ruleset']), capture_output=True, text=True,
                                 check=True).stdout
        assert listing.count('table inet meshbridge_firewall') == 1
        assert 'comment "mesh"' in listing and 'default-allow-internal' not in listing
    finally:
        netns.delete(namespace)
