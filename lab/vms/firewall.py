"""Compute Engine firewall rules of a VPC network, rendered as an nftables ruleset for one VM's namespace.

GCE semantics kept: a rule applies to an instance on its network when it is not disabled and its targetTags /
targetServiceAccounts match (none: every instance); among the rules matching a packet the lowest priority number
wins and, at equal priority, deny beats allow; the implied rules deny all ingress and allow all egress; the
firewall is stateful (replies to allowed connections pass). Sources are sourceRanges OR the primary addresses of
instances with a sourceTag / sourceServiceAccount. Ordering the nftables rules by (priority, deny first) and
letting the first match decide gives exactly that. IPv4 only, as the lab's network is.
"""

import ipaddress

from lab.net import netns
from lab.net.commands import run

TABLE = 'meshbridge_firewall'
_ANY = ipaddress.ip_network('0.0.0.0/0')
_PROTOCOLS = {'tcp', 'udp', 'icmp', 'esp', 'ah', 'sctp', 'ipip'}
_PORT_PROTOCOLS = {'tcp', 'udp', 'sctp'}


class FirewallRuleError(ValueError):
    """A rule this renderer cannot express (the GCP stand-in rejects such rules before they get here)."""


def _last_segment(url):
    return (url or '').rstrip('/').rsplit('/', 1)[-1]


def _network_of(instance):
    interfaces = instance.get('networkInterfaces') or [{}]
    return _last_segment(interfaces[0].get('network') or 'global/networks/default')


def _primary_ip(instance):
    interfaces = instance.get('networkInterfaces') or [{}]
    address = interfaces[0].get('networkIP')
    return ipaddress.ip_network(address) if address else None


def _tags(instance):
    return set((instance.get('tags') or {}).get('items') or [])


def _service_accounts(instance):
    return {account.get('email') for account in instance.get('serviceAccounts') or []}


def applies_to(rule, instance):
    """Whether ``rule`` is in force for ``instance`` (same network, enabled, targets match)."""
    if rule.get('disabled') or _last_segment(rule.get('network') or 'default') != _network_of(instance):
        return False
    target_tags = set(rule.get('targetTags') or [])
    target_accounts = set(rule.get('targetServiceAccounts') or [])
    if not target_tags and not target_accounts:
        return True
    return bool(target_tags & _tags(instance)) or bool(target_accounts & _service_accounts(instance))


def _sources(rule, instances):
    """The source networks of an INGRESS rule, merged (0.0.0.0/0 when none is given, as the API defaults)."""
    ranges = [ipaddress.ip_network(text) for text in rule.get('sourceRanges') or [] if ':' not in text]
    source_tags = set(rule.get('sourceTags') or [])
    source_accounts = set(rule.get('sourceServiceAccounts') or [])
    for other in instances:
        if _network_of(other) != _last_segment(rule.get('network') or 'default'):
            continue
        if (source_tags & _tags(other)) or (source_accounts & _service_accounts(other)):
            address = _primary_ip(other)
            if address:
                ranges.append(address)
    if not rule.get('sourceRanges') and not source_tags and not source_accounts:
        ranges = [_ANY]
    return list(ipaddress.collapse_addresses(ranges))


def _ports(rule_name, protocol, ports):
    """Merged port ranges as nftables set elements ("22", "8000-8080")."""
    if ports and protocol not in _PORT_PROTOCOLS:
        raise FirewallRuleError(f'firewall {rule_name}: ports are only valid with tcp, udp or sctp, not {protocol}')
    spans = []
    for text in ports or []:
        low, dash, high = str(text).partition('-')
        try:
            span = (int(low), int(high if dash else low))
        except ValueError:
            raise FirewallRuleError(f'firewall {rule_name}: port {text!r} is neither a number nor a range') from None
        if not 0 <= span[0] <= span[1] <= 65535:
            raise FirewallRuleError(f'firewall {rule_name}: port range {text!r} is outside 0-65535 or reversed')
        spans.append(span)
    merged = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return [str(low) if low == high else f'{low}-{high}' for low, high in merged]


def _protocol_match(rule_name, entry):
    protocol = str(entry.get('IPProtocol', '')).lower()
    if protocol == 'all':
        if entry.get('ports'):
            raise FirewallRuleError(f'firewall {rule_name}: ports need protocol tcp, udp or sctp, not all')
        return ''
    if protocol.isdigit():
        if not 0 <= int(protocol) <= 255:
            raise FirewallRuleError(f'firewall {rule_name}: IP protocol number {protocol} is outside 0-255')
        match = f'meta l4proto {protocol}'
    elif protocol in _PROTOCOLS:
        match = 'meta l4proto ipencap' if protocol == 'ipip' else f'meta l4proto {protocol}'
    else:
        raise FirewallRuleError(f'firewall {rule_name}: IPProtocol {protocol!r} is not one of '
                                f'{", ".join(sorted(_PROTOCOLS))}, all, or a protocol number')
    ports = _ports(rule_name, protocol, entry.get('ports'))
    if ports:
        match += f' th dport {{ {", ".join(ports)} }}'
    return match


def _address_match(field, networks):
    if not networks or _ANY in networks:
        return ''
    return f'ip {field} {{ {", ".join(str(network) for network in networks)} }}'


def _statements(rule, instances):
    """The nftables rules of one firewall rule: one per allowed/denied entry."""
    name = rule.get('name', '?')
    verdict = 'drop' if rule.get('denied') else 'accept'
    if rule.get('direction', 'INGRESS') == 'INGRESS':
        sources = _sources(rule, instances)
        if not sources:
            return []  # source tags or accounts that no instance has: the rule matches nothing
        peers = _address_match('saddr', sources)
        local = _address_match('daddr', _ipv4(rule.get('destinationRanges')))
    else:
        peers = _address_match('daddr', _ipv4(rule.get('destinationRanges')) or [_ANY])
        local = _address_match('saddr', _ipv4(rule.get('sourceRanges')))
    statements = []
    for entry in rule.get('denied') or rule.get('allowed') or []:
        match = ' '.join(part for part in (peers, local, _protocol_match(name, entry)) if part)
        statements.append(f'{match} {verdict} comment "{name}"'.strip())
    return statements


def _ipv4(ranges):
    return list(ipaddress.collapse_addresses(ipaddress.ip_network(text) for text in ranges or [] if ':' not in text))


def render(rules, instance, instances=()):
    """The nftables script that replaces this VM's firewall table atomically (one ``nft -f`` transaction)."""
    in_force = [rule for rule in rules if applies_to(rule, instance)]
    in_force.sort(key=lambda rule: (int(rule.get('priority', 1000)), not rule.get('denied'), rule.get('name', '')))
    chains = {'INGRESS': [], 'EGRESS': []}
    for rule in in_force:
        chains[rule.get('direction', 'INGRESS')].extend(_statements(rule, instances))
    lines = [
        f'table inet {TABLE}',
        f'delete table inet {TABLE}',
        f'table inet {TABLE} {{',
        # GCE filters before a packet reaches the VM, so the rules must see its original destination port: at
        # prerouting, ahead of the sidecar's REDIRECT to Envoy (dstnat), not at input after it.
        '  chain ingress {',
        '    type filter hook prerouting priority mangle; policy drop;',
        '    iif "lo" accept',
        '    ct state established,related accept',
        '    ct state invalid drop',
        *(f'    {statement}' for statement in chains['INGRESS']),
        '  }',
        '  chain egress {',
        '    type filter hook output priority filter; policy accept;',
        '    oif "lo" accept',
        '    ct state established,related accept',
        *(f'    {statement}' for statement in chains['EGRESS']),
        '  }',
        '}',
    ]
    return '\n'.join(lines) + '\n'


def apply(namespace, ruleset):
    """Load ``ruleset`` in ``namespace``: nft applies the whole script or nothing."""
    run(netns.command(namespace, ['nft', '-f', '-']), stdin_text=ruleset)


def current(namespace):
    """The VM's firewall table as nft lists it."""
    return run(netns.command(namespace, ['nft', 'list', 'table', 'inet', TABLE]))
