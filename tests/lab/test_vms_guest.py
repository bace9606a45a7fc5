"""The guest agent's reading of ``ssh-keys`` metadata."""

import datetime

from lab.vms.guest import metadata_value, ssh_keys_by_user

NOW = datetime.datetime(2026, 11, 24, tzinfo=datetime.timezone.utc)


def metadata(**items):
    return {'kind': 'compute#metadata', 'items': [{'key': key.replace('_', '-'), 'value': value} for key, value in items.items()]}


def test_users_and_keys_from_gce_lines():
    value = '\n'.join([
        'alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop',
        'alice:ssh-rsa AAAAB3NzaC1yc2E second',
        'bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB google-ssh {"userName":"bob@x.com","expireOn":"2027-01-01T00:00:00+0000"}',
        'carol:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC google-ssh {"userName":"carol@x.com","expireOn":"2026-01-01T00:00:00+0000"}',
        'no key here',
        'Bad User:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID',
        'dave:',
        '',
    ])
    keys = ssh_keys_by_user(metadata(ssh_keys=value), now=NOW)
    assert sorted(keys) == ['alice', 'bob']
    assert keys['alice'] == ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop', 'ssh-rsa AAAAB3NzaC1yc2E second']


def test_legacy_sshkeys_key_counts_too_and_absent_metadata_means_nobody():
    assert ssh_keys_by_user(metadata(sshKeys='eve:ssh-ed25519 AAAA eve'), now=NOW) == {'eve': ['ssh-ed25519 AAAA eve']}
    assert not ssh_keys_by_user(None)
    assert metadata_value(metadata(startup_script='echo'), 'startup-script') == 'echo'
