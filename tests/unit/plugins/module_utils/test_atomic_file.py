"""write_file replaces a file whole through AnsibleModule.atomic_move, never wider than 0600 until it has its mode."""

import os
import stat

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.atomic_file import write_file

from .ansible_module import real_module


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Watched:
    """The real module's atomic_move, noting the destination's mode just after each move (before write_file sets
    the mode asked for) and the files in the directory; ``fail`` makes the move raise instead."""

    def __init__(self, fail=False):
        self.module = real_module()
        self.fail = fail
        self.moved = []

    def atomic_move(self, src, dest, **kwargs):
        if self.fail:
            raise Exception('Could not replace %r' % dest)  # pylint: disable=broad-exception-raised
        self.module.atomic_move(src, dest, **kwargs)
        self.moved.append((mode(dest), sorted(os.listdir(os.path.dirname(dest)))))


@pytest.mark.parametrize('old_mode', [0o644, 0o600, None])
def test_a_key_is_never_readable_by_others_even_over_a_wider_file(tmp_path, old_mode):
    path = tmp_path / 'ca-key.pem'
    if old_mode is not None:
        path.write_text('old key')
        os.chmod(path, old_mode)
    watched = Watched()
    os.umask(0o022)
    write_file(watched, str(path), b'new key', 0o600)
    assert path.read_bytes() == b'new key' and mode(path) == 0o600
    # Just after the move, before the mode is set: already 0600, not the old file's 0644 nor the umask's 0644.
    assert watched.moved == [(0o600, ['ca-key.pem'])]
    assert os.umask(0o022) == 0o022  # restored


def test_a_certificate_gets_its_wider_mode_last_and_text_is_utf8(tmp_path):
    path = tmp_path / 'cert.pem'
    write_file(real_module(), str(path), 'zertifikat \u00e4\n', 0o644)
    assert path.read_bytes() == 'zertifikat \u00e4\n'.encode('utf-8') and mode(path) == 0o644


def test_a_failed_move_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / 'config'
    path.write_text('old')
    with pytest.raises(Exception, match='Could not replace'):
        write_file(Watched(fail=True), str(path), 'new', 0o600)
    assert path.read_text() == 'old' and os.listdir(tmp_path) == ['config']
