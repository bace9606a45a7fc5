"""BundleWriter writes what differs, 0600 in a 0700 directory, and never shows the token."""

import os
import stat

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.mesh_add_vm.bundle_writer import BundleWriter
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.workload_group import VmWorkload

from ..ansible_module import real_module
from .fake_cluster import module_params

FILES = {'cluster.env': "A='1'\n", 'mesh.yaml': 'defaultConfig: {}\n', 'root-cert.pem': 'PEM\n',
         'istio-token': 'header.secret-claims.signature', 'hosts': ''}


def writer(tmp_path, check_mode=False):
    return BundleWriter(None, VmWorkload(module_params(tmp_path)), str(tmp_path / 'bundle'), check_mode=check_mode,
                        module=real_module())


def test_check_mode_writes_nothing_and_the_token_is_a_placeholder(tmp_path):
    planned = writer(tmp_path, check_mode=True)
    written = planned.write(FILES, token_reissued=True)
    assert written == ['cluster.env', 'mesh.yaml', 'root-cert.pem', 'istio-token', 'hosts']
    assert not (tmp_path / 'bundle').exists()
    assert 'secret-claims' not in repr(planned.diffs)
    assert [d for d in planned.diffs if d['after_header'].endswith('istio-token')][0]['after'] == (
        '(token for system:serviceaccount:default:productcatalogservice, audience istio-ca)\n')


def test_only_what_differs_is_written_and_modes_are_tightened(tmp_path):
    assert len(writer(tmp_path).write(FILES, token_reissued=True)) == 5
    bundle = tmp_path / 'bundle'
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(bundle / name).st_mode) == 0o600 for name in FILES)
    assert writer(tmp_path).write(FILES, token_reissued=False) == []
    os.chmod(bundle, 0o755)
    assert writer(tmp_path).write(FILES, token_reissued=False) == ['.']
    assert writer(tmp_path).write(dict(FILES, hosts='10.0.0.1 istiod.istio-system.svc\n'), False) == ['hosts']
    removing = writer(tmp_path)
    assert removing.remove() == ['cluster.env', 'mesh.yaml', 'root-cert.pem', 'istio-token', 'hosts']
    assert not bundle.exists() and 'secret-claims' not in repr(removing.diffs)
