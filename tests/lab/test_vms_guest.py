"""The guest agent's reading of ``ssh-keys`` metadata."""

import datetime

from lab.vms.guest import metadata_value, os_login_enabled, ssh_keys_by_user

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


def test_os_login_makes_the_guest_ignore_metadata_keys():
    # https://cloud.google.com/compute/docs/oslogin: with OS Login on, keys in project or instance metadata are not
    # accepted; instance metadata overrides project metadata.
    keys = 'alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop'
    on = metadata(enable_oslogin='TRUE')
    assert ssh_keys_by_user(metadata(ssh_keys=keys, enable_oslogin='TRUE'), now=NOW) == {}
    assert ssh_keys_by_user(metadata(ssh_keys=keys), now=NOW, project_metadata=on) == {}
    own_false = metadata(ssh_keys=keys, enable_oslogin='FALSE')
    assert sorted(ssh_keys_by_user(own_false, now=NOW, project_metadata=on)) == ['alice']
    project_false = metadata(enable_oslogin='false')
    assert sorted(ssh_keys_by_user(metadata(ssh_keys=keys), now=NOW, project_metadata=project_false)) == ['alice']
    assert os_login_enabled(metadata(enable_oslogin='1')) and not os_login_enabled(None, None)
