"""One pod's sandbox, as a container runtime makes it: a network namespace of the pod's own at its address, and
a systemd-nspawn container in it that runs the pod's containers (lab/istio/pod_supervisor.py).

Network: netns ``<prefix>pod-<key>`` with the pod's address on ``eth0``, a veth whose other end is in the cluster's
namespace with a /32 route to the pod; the cluster's namespace forwards between its pods and the VPC, as a GKE
node routes its pods' alias IPs. The pod's default route is the cluster namespace, which has no way out of the lab.
Files: the sandbox root is the lab VMs' cached Debian root, read-only under a throwaway overlay
(``--volatile=overlay``), standing in for the images' own roots; each image's program is bound in at the path
the image has it (lab.istio.mesh_pods), the volumes at their mount paths, and ``/etc/hosts``, ``/etc/resolv.conf``,
``/etc/hostname`` as the kubelet writes them. Everything nspawn mounts lives in its own mount namespace, so a crash
leaves no mount behind; the netns and its processes are found by prefix (lab.vms.cleanup).
"""

import os
import shutil

from lab.kubernetes.processes import Program
from lab.net import netns
from lab.net.commands import LabCommandError, run

_SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pod_supervisor.py')
STATE_IN_POD = '/run/lab-pod'


class AddressTaken(RuntimeError):
    """The pod's address cannot be given to a network namespace of its own."""


class PodSandbox:
    """The sandbox of pod ``key`` (a short unique hex) at ``address`` in cluster network ``network``."""

    def __init__(self, network, key, address, state_dir, prefix):
        self.network = network
        self.netns = '%spod-%s' % (prefix, key)
        self.link = 'pod' + key                    # its end in the cluster's namespace (< 16 characters)
        self.machine = '%spod-%s' % (prefix, key)
        self.address = address
        self.state_dir = state_dir
        self.prefix = prefix
        self.program = None

    def create_network(self):
        if self.address == str(self.network.pod_address):
            raise AddressTaken('pod address %s is the cluster namespace\'s own first pod address (lab.net.vpc), which '
                               'KWOK hands out once the pod that had it is gone; the lab cannot give it to a pod '
                               'of its own network namespace' % self.address)
        cluster = self.network.netns
        netns.delete(self.netns)                    # what a failed start left
        netns.create(self.netns)
        netns.ip(cluster, 'link', 'add', self.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', self.netns)
        netns.ip(cluster, 'link', 'set', self.link, 'up')
        netns.ip(cluster, 'route', 'replace', '%s/32' % self.address, 'dev', self.link)
        run(netns.command(cluster, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']))
        # The node's address, held by the cluster's namespace, which answers ARP for it on the veth too; never a pod's.
        gateway = str(self.network.node_ip)
        netns.ip(self.netns, 'link', 'set', 'lo', 'up')
        netns.ip(self.netns, 'addr', 'add', '%s/32' % self.address, 'dev', 'eth0')
        netns.ip(self.netns, 'link', 'set', 'eth0', 'up')
        netns.ip(self.netns, 'route', 'add', gateway, 'dev', 'eth0')
        netns.ip(self.netns, 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0')

    def start(self, root, binds):
        """Run the supervisor over ``plan.json`` in ``state_dir``; ``binds`` is [(host path, pod path, read_only)]."""
        os.makedirs(os.path.join(self.state_dir, 'logs'), exist_ok=True)
        shutil.copyfile(_SUPERVISOR, os.path.join(self.state_dir, 'supervisor.py'))
        argv = ['systemd-nspawn', '--quiet', '--register=no', '--keep-unit', '--as-pid2',
                '--directory=%s' % root, '--volatile=overlay', '--machine=%s' % self.machine,
                '--network-namespace-path=%s' % netns.netns_path(self.netns),
                '--resolv-conf=off', '--timezone=off', '--link-journal=no',
                # istio-init's iptables rules need them, as its securityContext asks.
                '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
                '--bind=%s:%s' % (self.state_dir, STATE_IN_POD)]
        for source, target, read_only in binds:
            argv.append('--%s=%s:%s' % ('bind-ro' if read_only else 'bind', source, target))
        argv += ['/usr/bin/python3', STATE_IN_POD + '/supervisor.py']
        self.program = Program(self.machine, argv, os.path.join(self.state_dir, 'sandbox.log'), self.prefix)

    def running(self):
        return self.program is not None and self.program.running()

    def stop(self):
        if self.program is not None:
            self.program.stop(timeout=40)
        if netns.exists(self.netns):
            netns.delete(self.netns)            # takes the veth with it
        try:
            netns.ip(self.network.netns, 'route', 'delete', '%s/32' % self.address)
        except LabCommandError:     # gone with the veth already
            pass
