"""site.yml's SSH key (playbooks/tasks/ssh_key.yml) through real ansible-playbook: made once as ed25519 0600 in a
0700 directory, and a key that is already there (gcloud's google_compute_engine is RSA) is never replaced."""

import os
import stat
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The SSH key
      ansible.builtin.import_tasks: %s
""" % os.path.join(REPO, 'playbooks', 'tasks', 'ssh_key.yml')


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_makes_an_ed25519_key_once(run_playbook, tmp_path):
    key = tmp_path / 'ssh' / 'google_compute_engine'
    made = run_playbook(PLAY, extra_vars={'meshbridge_ssh_private_key_file': str(key)})
    assert made.changed() == 2
    assert (key.parent / 'google_compute_engine.pub').read_text().startswith('ssh-ed25519 ')
    assert (_mode(key.parent), _mode(key)) == (0o700, 0o600)
    again = run_playbook(PLAY, extra_vars={'meshbridge_ssh_private_key_file': str(key)})
    assert again.changed() == 0


def test_keeps_an_existing_key_of_another_type(run_playbook, tmp_path):
    key = tmp_path / 'google_compute_engine'
    subprocess.run(['ssh-keygen', '-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', str(key)], check=True)
    before = key.read_bytes(), (tmp_path / 'google_compute_engine.pub').read_bytes()
    checked = run_playbook(PLAY, extra_vars={'meshbridge_ssh_private_key_file': str(key)}, check=True)
    assert checked.changed() == 0
    kept = run_playbook(PLAY, extra_vars={'meshbridge_ssh_private_key_file': str(key)})
    assert kept.changed() == 0
    assert (key.read_bytes(), (tmp_path / 'google_compute_engine.pub').read_bytes()) == before


def test_refuses_a_key_without_its_public_half(run_playbook, tmp_path):
    key = tmp_path / 'id'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(key)], check=True)
    (tmp_path / 'id.pub').unlink()
    refused = run_playbook(PLAY, extra_vars={'meshbridge_ssh_private_key_file': str(key)}, expect_failure=True)
    assert refused.returncode != 0
    message = refused.task("Check the existing SSH key has its public half")['msg']
    assert 'ssh-keygen -y -f %s' % key in message
