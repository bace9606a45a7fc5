"""Inbound traffic capture, as istio-iptables sets it up for a VM: TCP arriving for the workload's ports is
redirected (nat REDIRECT) to Envoy's inbound listener on 15006.

Only the nat PREROUTING hook is used, which sees traffic arriving on the VM's interfaces: connections the VM makes
itself (to loopback or its own address, Envoy's own forwarding included) never pass it, so they are never captured.
Outbound capture (OUTPUT, port 15001) is not set up: the lab's Envoy has no outbound listener (docs/dev/lab.md).
"""

import subprocess

from lab.istio.sidecar.agent.settings import PROXY_PORT_RANGE

INBOUND_CAPTURE_PORT = 15006
INBOUND_CHAIN = 'ISTIO_INBOUND'
REDIRECT_CHAIN = 'ISTIO_IN_REDIRECT'


class CaptureError(Exception):
    """iptables refused the rules; the message carries its output."""


def rules(inbound_ports, excluded_ports):
    """The nat table rules (iptables-restore input, ``--noflush``) for ``inbound_ports`` (list or ``'*'``).

    ``'*'`` captures every port except ``excluded_ports`` and the proxy's own 15000-15999; an explicit list
    captures just those ports. An empty list captures nothing (no rules at all).
    """
    if inbound_ports != '*' and not inbound_ports:
        return ''
    lines = ['*nat', ':%s - [0:0]' % INBOUND_CHAIN, ':%s - [0:0]' % REDIRECT_CHAIN,
             '-A %s -p tcp -j REDIRECT --to-ports %d' % (REDIRECT_CHAIN, INBOUND_CAPTURE_PORT),
             '-A PREROUTING -p tcp -j %s' % INBOUND_CHAIN]
    if inbound_ports == '*':
        lines.append('-A %s -p tcp --dport %d:%d -j RETURN' % ((INBOUND_CHAIN,) + PROXY_PORT_RANGE))
        lines += ['-A %s -p tcp --dport %d -j RETURN' % (INBOUND_CHAIN, port) for port in excluded_ports]
        lines.append('-A %s -p tcp -j %s' % (INBOUND_CHAIN, REDIRECT_CHAIN))
    else:
        lines += ['-A %s -p tcp --dport %d -j %s' % (INBOUND_CHAIN, port, REDIRECT_CHAIN) for port in inbound_ports]
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


def _iptables(*args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)


def install(inbound_ports, excluded_ports):
    """Add the capture rules (after ``clean``, so rules never pile up)."""
    text = rules(inbound_ports, excluded_ports)
    if not text:
        return
    done = _iptables('iptables-restore', '--noflush', stdin=text)
    if done.returncode != 0:
        raise CaptureError('iptables-restore: %s' % done.stderr.strip())


def clean():
    """Remove the capture rules and chains; a no-op when there are none."""
    while _iptables('iptables', '-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', INBOUND_CHAIN).returncode == 0:
        pass
    for chain in (INBOUND_CHAIN, REDIRECT_CHAIN):
        _iptables('iptables', '-t', 'nat', '-F', chain)
        _iptables('iptables', '-t', 'nat', '-X', chain)
