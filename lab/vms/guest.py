"""What Google's guest agent and image do to a fresh VM, done to a lab VM's root before it boots.

Hostname and /etc/hosts as GCE sets them; the image's sshd settings (keys only, no root login); host keys of its
own; and for every user in the instance's ``ssh-keys`` metadata (``user:ssh-ed25519 AAAA... comment``, one a line,
optionally ``google-ssh {"userName": ..., "expireOn": ...}``): an account in group ``google-sudoers`` (sudo without
password) and ``~/.ssh/authorized_keys``. Users dropped from the metadata keep their account but lose their keys
and sudo, as with the agent. The root is a live directory of the VM, so writes refuse to follow symlinks a guest
user might have planted.

OS Login: when ``enable-oslogin`` is true in the instance's metadata, or in the project's and the instance does not
say otherwise (the instance's value overrides the project's), the VM no longer takes SSH keys from project or instance
metadata and the keys it took are removed (https://cloud.google.com/compute/docs/oslogin). The lab has no OS Login
service, so nobody can log in then, and SSH answers "Permission denied (publickey)", as it does for a key OS Login
does not know.
"""

import datetime
import json
import os
import re

from lab.net.commands import run

SUDO_GROUP = 'google-sudoers'
_SUDOERS = f'%{SUDO_GROUP} ALL=(ALL:ALL) NOPASSWD:ALL\n'
# The user names useradd accepts portably; the agent skips entries it cannot use, and so does the lab.
_USER_NAME = re.compile(r'^[a-z_][a-z0-9_.-]{0,31}$')
_MANAGED_USERS = 'var/lib/google/google_users'
_SSHD_CONFIG = """\
# Google's Debian images: public keys only, no root login.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
ClientAliveInterval 420
"""


def metadata_value(metadata, key):
    """The value of ``key`` in a Compute Engine ``metadata`` resource ({"items": [{"key", "value"}]}), or None."""
    for item in (metadata or {}).get('items', []):
        if item.get('key') == key:
            return item.get('value')
    return None


def _true(value):
    # The guest agent reads these flags as Go's strconv.ParseBool does.
    return (value or '').strip().lower() in ('1', 't', 'true')


def os_login_enabled(metadata, project_metadata=None):
    """Whether OS Login is on for an instance: its own ``enable-oslogin`` if set, else the project's."""
    value = metadata_value(metadata, 'enable-oslogin')
    if value is None:
        value = metadata_value(project_metadata, 'enable-oslogin')
    return _true(value)


def ssh_keys_by_user(metadata, now=None, project_metadata=None):
    """{user: [public key lines]} from the ``ssh-keys`` (and legacy ``sshKeys``) metadata values; none when OS Login
    is enabled (``project_metadata``: the project's common instance metadata).

    Skips, as the guest agent does: malformed lines, unusable user names and keys whose ``expireOn`` has passed.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    keys = {}
    if os_login_enabled(metadata, project_metadata):
        return keys
    for key in ('ssh-keys', 'sshKeys'):
        for line in (metadata_value(metadata, key) or '').splitlines():
            user, sep, public_key = line.strip().partition(':')
            public_key = public_key.strip()
            if not sep or not _USER_NAME.match(user) or len(public_key.split()) < 2 or _expired(public_key, now):
                continue
            keys.setdefault(user, []).append(public_key)
    return keys


def _expired(public_key, now):
    """Whether a ``google-ssh {...}`` key has an ``expireOn`` in the past (an unreadable one counts as expired)."""
    fields = public_key.split(None, 3)
    if len(fields) < 4 or fields[2] != 'google-ssh':
        return False
    try:
        expire_on = json.loads(fields[3])['expireOn']
        return datetime.datetime.strptime(expire_on, '%Y-%m-%dT%H:%M:%S%z') <= now
    except (ValueError, KeyError, TypeError):
        return True


def _path(root, relative):
    return os.path.join(root, relative.lstrip('/'))


def _write(root, relative, text, mode=0o644, owner=None):
    """Write a file under ``root`` without following a symlink at its place (a guest could have made one)."""
    path = _path(root, relative)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        os.fchmod(handle.fileno(), mode)
        if owner is not None:
            os.fchown(handle.fileno(), *owner)
        handle.write(text)


def _real_directory(path):
    if os.path.islink(path) or not os.path.isdir(path):
        raise RuntimeError(f'{path} is not a plain directory in the VM root; refusing to write through it')


def set_identity(root, hostname, address, fqdn=None):
    """/etc/hostname, the hosts entries GCE adds (the instance's address and names, the metadata server) and
    GCE's resolver: the metadata server, which in the lab refuses every query (lab.net.vpc), so lookups fail at once."""
    _write(root, '/etc/hostname', hostname + '\n')
    search = ''
    if fqdn:
        zone_domain = fqdn.split('.', 1)[1]
        search = f'search {zone_domain} {zone_domain.split(".", 1)[1]} google.internal\n'
    _write(root, '/etc/resolv.conf', f'{search}nameserver 169.254.169.254\n')
    names = f'{fqdn} {hostname}' if fqdn else hostname
    _write(root, '/etc/hosts', (
        '127.0.0.1\tlocalhost\n'
        '::1\t\tlocalhost ip6-localhost ip6-loopback\n'
        f'{address}\t{names}  # Added by Google\n'
        '169.254.169.254\tmetadata.google.internal  # Added by Google\n'
    ))


def configure_sshd(root):
    """The image's sshd settings and host keys of this VM's own (the base root carries none)."""
    _write(root, '/etc/ssh/sshd_config.d/50-google.conf', _SSHD_CONFIG)
    run(['ssh-keygen', '-A', '-f', root])


def host_public_keys(root):
    """The VM's SSH host public keys, as lines for a known_hosts file (without the host field)."""
    ssh_dir = _path(root, '/etc/ssh')
    keys = []
    for entry in sorted(os.listdir(ssh_dir)):
        if entry.startswith('ssh_host_') and entry.endswith('.pub'):
            with open(os.path.join(ssh_dir, entry), encoding='ascii') as handle:
                keys.append(' '.join(handle.read().split()[:2]))
    return keys


def _account(root, user):
    """(uid, gid, home) of ``user`` from the root's /etc/passwd, or None."""
    with open(_path(root, '/etc/passwd'), encoding='utf-8') as handle:
        for line in handle:
            fields = line.rstrip('\n').split(':')
            if fields[0] == user:
                return int(fields[2]), int(fields[3]), fields[5]
    return None


def _group_members(root, group):
    with open(_path(root, '/etc/group'), encoding='utf-8') as handle:
        for line in handle:
            fields = line.rstrip('\n').split(':')
            if fields[0] == group:
                return [member for member in fields[3].split(',') if member]
    return None


def sync_users(root, keys_by_user):
    """Make accounts, sudo and authorized_keys match ``keys_by_user``, as the guest agent does."""
    if _group_members(root, SUDO_GROUP) is None:
        run(['groupadd', '--root', root, SUDO_GROUP])
    _write(root, '/etc/sudoers.d/google_sudoers', _SUDOERS, mode=0o440)
    members = _group_members(root, SUDO_GROUP)
    for user, public_keys in sorted(keys_by_user.items()):
        if _account(root, user) is None:
            run(['useradd', '--root', root, '--create-home', '--shell', '/bin/bash', '--groups', SUDO_GROUP, user])
        elif user not in members:
            run(['usermod', '--root', root, '--append', '--groups', SUDO_GROUP, user])
        _write_authorized_keys(root, user, public_keys)
    managed_path = _path(root, _MANAGED_USERS)
    previously = []
    if os.path.exists(managed_path):
        with open(managed_path, encoding='utf-8') as handle:
            previously = handle.read().split()
    for user in previously:
        if user not in keys_by_user and _account(root, user) is not None:
            _write_authorized_keys(root, user, [])
            if user in (_group_members(root, SUDO_GROUP) or []):
                run(['gpasswd', '--root', root, '--delete', user, SUDO_GROUP])
    os.makedirs(os.path.dirname(managed_path), exist_ok=True)
    _write(root, _MANAGED_USERS, ''.join(f'{user}\n' for user in sorted(keys_by_user)))


def _write_authorized_keys(root, user, public_keys):
    uid, gid, home = _account(root, user)
    home_path = _path(root, home)
    _real_directory(home_path)
    ssh_dir = os.path.join(home_path, '.ssh')
    if not os.path.lexists(ssh_dir):
        os.mkdir(ssh_dir, 0o700)
        os.chown(ssh_dir, uid, gid)
    _real_directory(ssh_dir)
    _write(root, os.path.join(home, '.ssh', 'authorized_keys'), ''.join(f'{key}\n' for key in public_keys),
           mode=0o600, owner=(uid, gid))
