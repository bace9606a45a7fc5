"""vm_sidecar's checks of the controller-side bundle, alone (tasks_from: validate) on localhost: a bundle directory
given as ~/... is found (site.yml's gcp inventory puts bundles under ~/.local/share), a damaged one is named."""

import base64
import json

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the bundle
      ansible.builtin.include_role:
        name: meshbridge.istio_vm.vm_sidecar
        tasks_from: validate
    - name: Show the bundle path
      ansible.builtin.debug:
        var: vm_sidecar_bundle_path
"""


def _segment(claims):
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip('=')


def _bundle(directory, hosts='10.168.8.1 istiod.istio-system.svc'):
    directory.mkdir(parents=True)
    token = '%s.%s.c2ln' % (_segment({'alg': 'RS256'}), _segment({'sub': 'system:serviceaccount:default:vm'}))
    files = {'cluster.env': "ISTIO_NAMESPACE='default'\n", 'mesh.yaml': 'defaultConfig: {}\n', 'istio-token': token,
             'root-cert.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'hosts': hosts + '\n'}
    for name, text in files.items():
        (directory / name).write_text(text)


def test_a_bundle_under_home_given_with_a_tilde_is_found(run_playbook, tmp_path):
    home = tmp_path / 'home'
    _bundle(home / 'bundles' / 'istio-gce')
    checked = run_playbook(PLAY, extra_vars={'vm_sidecar_bundle_dir': '~/bundles/istio-gce'}, env={'HOME': str(home)})
    assert checked.task('Show the bundle path')['vm_sidecar_bundle_path'] == str(home / 'bundles' / 'istio-gce')
    assert checked.changed() == 0


def test_a_damaged_hosts_line_is_refused_naming_the_bundle(run_playbook, tmp_path):
    home = tmp_path / 'home'
    _bundle(home / 'vm', hosts='istiod.istio-system.svc')
    refused = run_playbook(PLAY, extra_vars={'vm_sidecar_bundle_dir': '~/vm'}, env={'HOME': str(home)},
                           expect_failure=True)
    message = refused.task("meshbridge.istio_vm.vm_sidecar : Check the bundle's hosts line, root certificate and token")['msg']
    assert 'The bundle in vm_sidecar_bundle_dir ~/vm is damaged' in message
    assert '(got "istiod.istio-system.svc")' in message


def test_an_empty_hosts_file_from_a_bundle_made_without_a_gateway_is_accepted(run_playbook, tmp_path):
    # mesh_add_vm with require_gateway=false writes an empty hosts file, as istioctl does without a gateway.
    home = tmp_path / 'home'
    _bundle(home / 'vm', hosts='')
    checked = run_playbook(PLAY, extra_vars={'vm_sidecar_bundle_dir': '~/vm'}, env={'HOME': str(home)})
    assert checked.task('Show the bundle path')['vm_sidecar_bundle_path'] == str(home / 'vm')
