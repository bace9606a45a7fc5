"""The VM bundle renders what istioctl x workload entry configure writes (istioctl/pkg/workload/workload.go).

Expected texts are written out from istioctl's rules: cluster.env lines are KEY=VALUE sorted as whole strings and
shell-quoted with istioctl's pattern; mesh.yaml is sigs.k8s.io/yaml output (go-yaml key order and quoting)."""

import json

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import vm_bundle
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.vm_bundle import BundleInputs


def group(name='foo', namespace='bar', labels=None, ports=None, service_account='vm-sa', network='',
          annotations=None, probe=None):
    spec = {'metadata': {'labels': labels or {}}, 'template': {'serviceAccount': service_account}}
    if annotations:
        spec['metadata']['annotations'] = annotations
    if ports:
        spec['template']['ports'] = ports
    if network:
        spec['template']['network'] = network
    if probe:
        spec['probe'] = probe
    return {'apiVersion': 'networking.istio.io/v1', 'kind': 'WorkloadGroup',
            'metadata': {'name': name, 'namespace': namespace}, 'spec': spec}


def inputs(wg=None, mesh=None, **kwargs):
    settings = {'cluster_id': 'west', 'root_cert': 'ROOT\n', 'token': 'TOKEN', 'gateway_address': '10.168.8.1'}
    settings.update(kwargs)
    return BundleInputs(wg or group(), mesh if mesh is not None else {'defaultConfig': {}}, **settings)


def env_lines(text):
    assert text.endswith('\n')
    return text[:-1].split('\n')


def env_dict(text):
    return dict(line.split('=', 1) for line in env_lines(text))


def test_cluster_env_for_a_plain_group_is_sorted_and_quoted():
    files = vm_bundle.render(inputs(group(labels={'app': 'productcatalogservice', 'version': 'v1'},
                                          ports={'grpc-3550': 3550})))
    labels = '{"app":"productcatalogservice","service.istio.io/canonical-name":"productcatalogservice",' \
             '"service.istio.io/canonical-revision":"v1","version":"v1"}'
    assert files['cluster.env'] == '\n'.join([
        "CANONICAL_REVISION='v1'",
        "CANONICAL_SERVICE='productcatalogservice'",
        "ISTIO_INBOUND_PORTS='3550'",
        "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020'",
        "ISTIO_METAJSON_LABELS='%s'" % labels,
        "ISTIO_META_CLUSTER_ID='west'",
        "ISTIO_META_DNS_CAPTURE='true'",
        "ISTIO_META_MESH_ID=''",
        "ISTIO_META_NETWORK=''",
        """ISTIO_META_POD_PORTS='[{"name":"grpc-3550","containerPort":3550,"protocol":""}]'""",
        "ISTIO_META_WORKLOAD_NAME='foo'",
        "ISTIO_NAMESPACE='bar'",
        "ISTIO_SERVICE='foo.bar'",
        "ISTIO_SERVICE_CIDR='*'",
        "POD_NAMESPACE='bar'",
        "SERVICE_ACCOUNT='vm-sa'",
        "TRUST_DOMAIN=''",
    ]) + '\n'


def test_cluster_env_sorts_whole_lines_not_keys():
    # "A1=" sorts before "A=" as a string ('1' < '='), though key "A" sorts before "A1".
    mesh = {'defaultConfig': {'proxyMetadata': {'A': 'x', 'A1': 'y'}}}
    lines = env_lines(vm_bundle.render(inputs(mesh=mesh))['cluster.env'])
    assert lines.index("A1='y'") < lines.index("A='x'")
    assert lines == sorted(lines)


@pytest.mark.parametrize('value, written', [
    ('', "''"),
    ("it's", "'it'\"'\"'s'"),
    ('a b', "'a b'"),
    ('www', 'www'),  # istioctl's class is literally backslash, w, @%+=:,./- so only such values stay bare
    ('10.0.0.1', "'10.0.0.1'"),
    ('$(reboot)', "'$(reboot)'"),
])
def test_shell_quote_follows_istioctl(value, written):
    assert vm_bundle.shell_quote(value) == written


def test_quoted_values_read_back_in_a_shell(tmp_path):
    import subprocess
    value = """it's "quoted" $HOME `x` \\ ; &"""
    mesh = {'defaultConfig': {'proxyMetadata': {'TRICKY': value}}}
    env_file = tmp_path / 'cluster.env'
    env_file.write_text(vm_bundle.render(inputs(mesh=mesh))['cluster.env'])
    out = subprocess.run(['sh', '-c', '. "$1" && printf %s "$TRICKY"', 'sh', str(env_file)],
                         capture_output=True, text=True, check=True).stdout
    assert out == value


def test_mesh_yaml_not_revisioned_has_no_discovery_address_or_ca_addr():
    files = vm_bundle.render(inputs())
    assert files['mesh.yaml'] == (
        'defaultConfig:\n'
        '  proxyMetadata:\n'
        '    CANONICAL_REVISION: latest\n'
        '    CANONICAL_SERVICE: foo\n'
        '    ISTIO_META_CLUSTER_ID: west\n'
        '    ISTIO_META_DNS_CAPTURE: "true"\n'
        '    ISTIO_META_MESH_ID: ""\n'
        '    ISTIO_META_NETWORK: ""\n'
        '    ISTIO_META_WORKLOAD_NAME: foo\n'
        '    ISTIO_METAJSON_LABELS: \'{"service.istio.io/canonical-name":"foo","service.istio.io/canonical-revision":"latest"}\'\n'
        '    POD_NAMESPACE: bar\n'
        '    SERVICE_ACCOUNT: vm-sa\n'
        '    TRUST_DOMAIN: ""\n')
    assert 'CA_ADDR' not in env_dict(files['cluster.env'])
    assert files['hosts'] == '10.168.8.1 istiod.istio-system.svc\n'


def test_revisioned_bundle_points_at_the_revision():
    files = vm_bundle.render(inputs(revision='1-24'))
    assert files['mesh.yaml'].startswith('defaultConfig:\n  discoveryAddress: istiod-1-24.istio-system.svc:15012\n')
    assert env_dict(files['cluster.env'])['CA_ADDR'] == "'istiod-1-24.istio-system.svc:15012'"
    assert files['hosts'] == '10.168.8.1 istiod-1-24.istio-system.svc\n'


def test_revision_default_is_not_a_revision():
    files = vm_bundle.render(inputs(revision='default'))
    assert 'discoveryAddress' not in files['mesh.yaml']
    assert files['hosts'] == '10.168.8.1 istiod.istio-system.svc\n'


def test_mesh_discovery_address_wins_over_the_revision_default():
    mesh = {'defaultConfig': {'discoveryAddress': 'istiod-x.istio-system.svc:15012'}}
    assert 'discoveryAddress: istiod-x.istio-system.svc:15012\n' in vm_bundle.render(inputs(mesh=mesh, revision='y'))['mesh.yaml']


def test_autoregister_names_the_group_in_both_files():
    files = vm_bundle.render(inputs(auto_register=True))
    assert env_dict(files['cluster.env'])['ISTIO_META_AUTO_REGISTER_GROUP'] == "'foo'"
    assert '    ISTIO_META_AUTO_REGISTER_GROUP: foo\n' in files['mesh.yaml']
    plain = vm_bundle.render(inputs(auto_register=False))
    assert 'ISTIO_META_AUTO_REGISTER_GROUP' not in plain['cluster.env'] + plain['mesh.yaml']


def test_dns_capture_off_keeps_the_mesh_value():
    mesh = {'defaultConfig': {'proxyMetadata': {'ISTIO_META_DNS_CAPTURE': 'false'}}}
    assert env_dict(vm_bundle.render(inputs(mesh=mesh, capture_dns=False))['cluster.env'])['ISTIO_META_DNS_CAPTURE'] == "'false'"
    assert env_dict(vm_bundle.render(inputs(mesh=mesh, capture_dns=True))['cluster.env'])['ISTIO_META_DNS_CAPTURE'] == "'true'"


def test_group_annotation_overrides_mesh_proxy_metadata():
    mesh = {'defaultConfig': {'proxyMetadata': {'KEEP': 'mesh', 'OVERRIDE': 'mesh'}}}
    wg = group(annotations={'proxy.istio.io/config': 'proxyMetadata:\n  OVERRIDE: group\n'})
    env = env_dict(vm_bundle.render(inputs(wg=wg, mesh=mesh))['cluster.env'])
    assert env['KEEP'] == "'mesh'"
    assert env['OVERRIDE'] == "'group'"


def test_mesh_values_flow_into_the_metadata():
    mesh = {'trustDomain': 'example.org', 'defaultConfig': {'meshId': 'mesh1'}}
    env = env_dict(vm_bundle.render(inputs(wg=group(network='vpc-west'), mesh=mesh))['cluster.env'])
    assert env['TRUST_DOMAIN'] == "'example.org'"
    assert env['ISTIO_META_MESH_ID'] == "'mesh1'"
    assert env['ISTIO_META_NETWORK'] == "'vpc-west'"


def test_status_port_changes_the_excluded_ports():
    def excluded(status_port):
        mesh = {'defaultConfig': {'statusPort': status_port}}
        return env_dict(vm_bundle.render(inputs(mesh=mesh))['cluster.env'])['ISTIO_LOCAL_EXCLUDE_PORTS']
    assert excluded(15099) == "'22,15090,15021,15099'"
    assert excluded(15021) == "'22,15090,15021'"


def test_internal_ip_sets_the_service_ip():
    assert env_dict(vm_bundle.render(inputs(internal_ip='10.168.0.20'))['cluster.env'])['ISTIO_SVC_IP'] == "'10.168.0.20'"


def test_canonical_labels_follow_istio_precedence():
    assert vm_bundle.canonical_service({'app': 'a', 'app.kubernetes.io/name': 'k'}, 'wg') == ('k', 'latest')
    assert vm_bundle.canonical_service({'version': 'v2', 'service.istio.io/canonical-revision': 'c'}, 'wg') == ('wg', 'c')


def test_probe_becomes_the_readiness_probe():
    probe = {'periodSeconds': 5, 'grpc': {'port': 3550}}
    text = vm_bundle.render(inputs(wg=group(probe=probe)))['mesh.yaml']
    assert text.endswith('  readinessProbe:\n    grpc:\n      port: 3550\n    periodSeconds: 5\n')


def test_labels_json_is_escaped_like_go():
    wg = group(labels={'team': 'a&b<c>'})
    labels = json.loads(vm_bundle.render(inputs(wg=wg))['mesh.yaml'].split("ISTIO_METAJSON_LABELS: '")[1].split("'\n")[0])
    assert labels['team'] == 'a&b<c>'
    assert '\\u0026' in vm_bundle.go_json({'x': '&'})


def test_no_gateway_address_gives_an_empty_hosts_file():
    assert vm_bundle.render(inputs(gateway_address=''))['hosts'] == ''


def test_several_ports_are_listed_in_order():
    env = env_dict(vm_bundle.render(inputs(wg=group(ports={'http-8080': 8080, 'grpc-3550': 3550})))['cluster.env'])
    assert env['ISTIO_INBOUND_PORTS'] == "'3550,8080'"
    assert json.loads(env['ISTIO_META_POD_PORTS'].strip("'"))[0]['name'] == 'grpc-3550'


def test_mesh_yaml_leaves_out_zero_values_as_protobuf_json_does():
    """istioctl writes the proxy config through the protobuf JSON mapping: a field at its type's zero value (the
    first enum value, 0, "", an empty list) is not written, a wrapper type's (BoolValue, Int32Value) is; numbers
    pass through Go's float64, so 1.0 is written 1."""
    mesh = {'defaultConfig': {
        'interceptionMode': 'REDIRECT', 'statusPort': 0, 'extraStatTags': [], 'customConfigFile': '',
        'holdApplicationUntilProxyStarts': False, 'concurrency': 0,
        'tracing': {'sampling': 1.0, 'zipkin': {'address': ''}, 'stackdriver': {'maxNumberOfAttributes': 200}},
        'proxyMetadata': {'EMPTY': ''}}}
    probe = {'initialDelaySeconds': 0, 'periodSeconds': 5, 'httpGet': {'path': '', 'port': 8080, 'host': ''}}
    config = yaml_load(vm_bundle.render(inputs(wg=group(probe=probe), mesh=mesh))['mesh.yaml'])['defaultConfig']
    for field in ('interceptionMode', 'statusPort', 'extraStatTags', 'customConfigFile'):
        assert field not in config, field
    assert config['holdApplicationUntilProxyStarts'] is False and config['concurrency'] == 0
    assert config['tracing'] == {'sampling': 1, 'zipkin': {}, 'stackdriver': {'maxNumberOfAttributes': '200'}}
    assert config['proxyMetadata']['EMPTY'] == ''
    assert config['readinessProbe'] == {'periodSeconds': 5, 'httpGet': {'port': 8080}}
    assert 'sampling: 1\n' in vm_bundle.render(inputs(mesh=mesh))['mesh.yaml']


def test_other_enum_values_and_fractions_are_written():
    mesh = {'defaultConfig': {'interceptionMode': 'TPROXY', 'tracing': {'sampling': 0.5}}}
    config = yaml_load(vm_bundle.render(inputs(mesh=mesh))['mesh.yaml'])['defaultConfig']
    assert config['interceptionMode'] == 'TPROXY' and config['tracing'] == {'sampling': 0.5}


def yaml_load(text):
    import yaml
    return yaml.safe_load(text)
