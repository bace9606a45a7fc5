"""Remove everything a lab with a given prefix made, from any process, also after a crash.

Found from the kernel, not from memory: nspawn processes by their ``--network-namespace-path`` and any other
process living in one of the lab's namespaces; overlay mounts whose path runs through a directory named after a
lab namespace; the namespaces themselves (their veths go with them) and the controller's host link. Only names
the prefix's lab makes are matched (see lab.net.names), so another tool's ``mbl-...`` is left alone.
"""

import os
import shutil
import signal

from lab.kubernetes import egress, processes
from lab.net import netns
from lab.net.commands import LabCommandError, run, wait_for
from lab.net.names import LabNames
from lab.vms.machine import mount_points

_NSPAWN_PROPAGATE = '/run/systemd/nspawn/propagate'


def _cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as handle:
            return [arg.decode(errors='replace') for arg in handle.read().split(b'\0') if arg]
    except OSError:
        return []


def lab_processes(names):
    """PIDs of the lab's nspawn processes and of every other process in one of its namespaces."""
    namespaces = [name for name in netns.names() if names.is_lab_netns(name)]
    found = set()
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        argv = _cmdline(entry)
        if argv and os.path.basename(argv[0]) == 'systemd-nspawn':
            for arg in argv:
                if arg.startswith('--network-namespace-path=') and names.is_lab_netns(os.path.basename(arg)):
                    found.add(int(entry))
    for namespace in namespaces:
        found.update(netns.pids(namespace))
    found.discard(os.getpid())
    return sorted(found)


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def _stop_processes(pids, timeout=30):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=timeout, what='lab processes stopping')
    except TimeoutError:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=10, what='lab processes being killed')


def lab_mounts(names):
    """Mount points below a directory named after one of the lab's namespaces, deepest first."""
    found = [point for point in mount_points() if any(names.is_lab_netns(part) for part in point.split('/'))]
    return sorted(found, key=len, reverse=True)


def cleanup(prefix, state_dir=None):
    """Stop, unmount and delete everything of the lab with ``prefix``; with ``state_dir``, also its VM roots."""
    names = LabNames(prefix)
    _stop_processes(lab_processes(names))
    # The clusters' control-plane programs live in the host namespace; they carry the prefix in their environment.
    processes.stop_marked(prefix)
    egress.remove_sockets(prefix)
    for mount_point in lab_mounts(names):
        try:
            run(['umount', mount_point])
        except LabCommandError:
            # Still busy (a shell's working directory, say): detach it now, the kernel frees it when unused.
            run(['umount', '--lazy', mount_point])
    for namespace in netns.names():
        if names.is_lab_netns(namespace):
            netns.delete(namespace)
    if os.path.exists(f'/sys/class/net/{names.controller_link}'):
        run(['ip', 'link', 'delete', names.controller_link])
    if os.path.isdir(_NSPAWN_PROPAGATE):
        for entry in os.listdir(_NSPAWN_PROPAGATE):
            if names.is_lab_netns(entry):
                shutil.rmtree(os.path.join(_NSPAWN_PROPAGATE, entry), ignore_errors=True)
    if state_dir:
        shutil.rmtree(os.path.join(state_dir, 'vms'), ignore_errors=True)
