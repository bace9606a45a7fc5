"""The stand-in ``istioctl``: the commands the collection runs, acting on the Kubernetes API (normally the lab's).

Reproduced: ``version`` (client version; with ``--remote``, the default, the control plane version from istiod's
image tag), ``install -y -f FILE --set PATH=VALUE`` (strict IstioOperator checks, then the objects a real install
creates, applied server-side as field manager ``istio-operator``, objects of the same revision that the new
manifest no longer has pruned, then a bounded wait for the Deployments to be Available),
``uninstall --purge | -r REV | -f FILE`` and ``manifest generate``. Exit status 1 with ``Error: ...`` on stderr
when refused, as istioctl (cobra) does. Not reproduced: the progress spinner, ``--dry-run``, ``verify-install``,
analyzers, the precheck, pods and proxies (the data plane version is always "none").
"""

import argparse
import json
import os
import sys
import tempfile
import time

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from lab.istio import manifests, operator

FIELD_MANAGER = 'istio-operator'
VERSION_ENV = 'LAB_ISTIOCTL_VERSION'

# The kinds an install creates and uninstall removes, in the order they are applied.
_INSTALLED_KINDS = [
    ('apiextensions.k8s.io/v1', 'CustomResourceDefinition'),
    ('v1', 'ServiceAccount'),
    ('rbac.authorization.k8s.io/v1', 'ClusterRole'),
    ('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
    ('v1', 'ConfigMap'),
    ('apps/v1', 'Deployment'),
    ('v1', 'Service'),
    ('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'),
    ('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'),
]


class CommandError(Exception):
    """Printed as ``Error: <message>``, exit status 1."""


def _client_version():
    version = os.environ.get(VERSION_ENV)
    if not version:
        raise CommandError('this istioctl was not built by lab.istio.release (%s is unset)' % VERSION_ENV)
    return version


def _kube(args):
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=args.kubeconfig, context=args.context,
                                    client_configuration=configuration, persist_config=False)
    except (k8s_config.ConfigException, OSError) as exc:
        raise CommandError('failed to load Kubernetes configuration: %s' % exc) from None
    cache = os.path.join(args.scratch_dir, 'discovery.json')
    try:
        return DynamicClient(k8s_client.ApiClient(configuration), cache_file=cache)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any transport failure: istioctl's wording
        raise CommandError('failed to connect to Kubernetes API at %s: %s' % (configuration.host, exc)) from None


def _resource(kube, api_version, kind):
    try:
        return kube.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return None


def _read_operator(args):
    iop = {'apiVersion': operator.API_VERSION, 'kind': operator.KIND, 'spec': {}}
    for path in args.filename or []:
        try:
            with open(path, encoding='utf-8') as handle:
                loaded = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise CommandError('could not read %s: %s' % (path, exc)) from None
        if not isinstance(loaded, dict):
            raise CommandError('%s: could not unmarshal the IstioOperator: not a YAML map' % path)
        if loaded.get('kind') != operator.KIND:
            raise CommandError('%s: expected an IstioOperator, got kind %r' % (path, loaded.get('kind')))
        iop['apiVersion'] = loaded.get('apiVersion')
        _merge(iop['spec'], loaded.get('spec') or {})
    for assignment in args.set or []:
        operator.set_path(iop, assignment)
    if getattr(args, 'revision', None):
        iop['spec']['revision'] = args.revision
    return iop


def _merge(base, overlay):
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _effective(args):
    try:
        return operator.Effective(_read_operator(args), _client_version())
    except operator.OperatorError as exc:
        raise CommandError('generate config: %s' % exc) from None


def _apply(kube, obj):
    resource = _resource(kube, obj['apiVersion'], obj['kind'])
    if resource is None:
        raise CommandError('failed to apply %s %s: the server does not serve %s'
                           % (obj['kind'], obj['metadata']['name'], obj['apiVersion']))
    try:
        resource.server_side_apply(body=obj, name=obj['metadata']['name'], namespace=obj['metadata'].get('namespace'),
                                   field_manager=FIELD_MANAGER, force_conflicts=True)
    except ApiException as exc:
        raise CommandError('failed to update resource with server-side apply for obj %s/%s/%s: %s'
                           % (obj['kind'], obj['metadata'].get('namespace', ''), obj['metadata']['name'],
                              _status_message(exc))) from None


def _status_message(exc):
    try:
        return json.loads(exc.body).get('message') or exc.reason
    except (TypeError, ValueError):
        return '%s %s' % (exc.status, exc.reason)


def _ensure_namespace(kube, name):
    namespaces = _resource(kube, 'v1', 'Namespace')
    try:
        namespaces.get(name=name)
    except ApiException as exc:
        if exc.status != 404:
            raise CommandError('failed to read namespace %s: %s' % (name, _status_message(exc))) from None
        namespaces.create(body={'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}})


def _installed(kube, selector):
    """(apiVersion, kind, namespace, name) of the installed objects matching a label selector."""
    found = []
    for api_version, kind in _INSTALLED_KINDS:
        resource = _resource(kube, api_version, kind)
        if resource is None:
            continue
        for item in resource.get(label_selector=selector).to_dict().get('items') or []:
            meta = item['metadata']
            found.append((api_version, kind, meta.get('namespace'), meta['name']))
    return found


def _delete(kube, api_version, kind, namespace, name):
    try:
        _resource(kube, api_version, kind).delete(name=name, namespace=namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise CommandError('failed to delete %s %s: %s' % (kind, name, _status_message(exc))) from None
    print('  Removed %s:%s:%s.' % (kind, namespace or '', name))


def _parse_duration(text):
    """Go durations as istioctl's --readiness-timeout takes them: 300s, 5m, 5m0s, 1h."""
    total, number = 0.0, ''
    units = {'h': 3600, 'm': 60, 's': 1}
    for char in text:
        if char.isdigit() or char == '.':
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ''
        else:
            raise CommandError('invalid duration "%s"' % text)
    if number:
        raise CommandError('invalid duration "%s": missing unit' % text)
    return total


def _wait_ready(kube, deployments, timeout):
    resource = _resource(kube, 'apps/v1', 'Deployment')
    deadline = time.monotonic() + timeout
    pending = list(deployments)
    while pending:
        still = []
        for namespace, name in pending:
            status = resource.get(name=name, namespace=namespace).to_dict().get('status') or {}
            if not any(c.get('type') == 'Available' and c.get('status') == 'True'
                       for c in status.get('conditions') or []):
                still.append((namespace, name))
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            raise CommandError('failed to wait for resource: resources not ready after %s: Deployment/%s'
                               % (_format_seconds(timeout), ', Deployment/'.join('%s/%s' % p for p in pending)))
        time.sleep(0.2)


def _format_seconds(seconds):
    return '%dm%ds' % divmod(int(seconds), 60)


def _confirm(message, assume_yes):
    if assume_yes:
        return
    sys.stdout.write('%s Proceed? (y/N) ' % message)
    sys.stdout.flush()
    if sys.stdin.readline().strip().lower() not in ('y', 'yes'):
        raise CommandError('cancelled')


def cmd_install(args):
    effective = _effective(args)
    objects = manifests.render(effective)
    _confirm('This will install the Istio %s profile "%s" into the cluster.' % (effective.version, effective.profile),
             args.skip_confirmation)
    kube = _kube(args)
    namespaces = {o['metadata']['namespace'] for o in objects if o['metadata'].get('namespace')}
    for namespace in sorted(namespaces | {effective.namespace}):
        _ensure_namespace(kube, namespace)
    for obj in objects:
        _apply(kube, obj)
    wanted = {(o['apiVersion'], o['kind'], o['metadata'].get('namespace'), o['metadata']['name']) for o in objects}
    selector = '%s,%s=%s' % (manifests.COMPONENT_LABEL, manifests.REVISION_LABEL, effective.revision_label)
    for key in _installed(kube, selector):
        if key not in wanted and key[1] != 'CustomResourceDefinition':
            _delete(kube, *key)
    deployments = [(o['metadata']['namespace'], o['metadata']['name']) for o in objects if o['kind'] == 'Deployment']
    _wait_ready(kube, deployments, _parse_duration(args.readiness_timeout))
    print('\u2714 Installation complete')


def cmd_uninstall(args):
    if not (args.purge or args.revision or args.filename):
        raise CommandError('at least one of the --revision (or --set revision=<revision>), --filename or --purge '
                           'flags should be set')
    if args.purge:
        targets_selector = manifests.COMPONENT_LABEL
    elif args.revision:
        targets_selector = '%s,%s=%s' % (manifests.COMPONENT_LABEL, manifests.REVISION_LABEL, args.revision)
    else:
        targets_selector = '%s,%s=%s' % (manifests.COMPONENT_LABEL, manifests.REVISION_LABEL,
                                         _effective(args).revision_label)
    _confirm('All Istio resources matching %s will be pruned from the cluster.' % targets_selector,
             args.skip_confirmation)
    kube = _kube(args)
    removed = 0
    for key in reversed(_installed(kube, targets_selector)):
        if key[1] == 'CustomResourceDefinition' and not args.purge:
            continue  # CRDs are shared by revisions: only --purge removes them
        _delete(kube, *key)
        removed += 1
    print('\u2714 Uninstall complete' if removed else 'No Istio resources found to uninstall.')


def cmd_version(args):
    version = _client_version()
    report = {'clientVersion': {'version': version, 'revision': 'lab', 'golang_version': 'lab', 'status': 'Clean',
                                'tag': version}}
    if args.remote:
        kube = _kube(args)
        deployments = _resource(kube, 'apps/v1', 'Deployment')
        listed = deployments.get(namespace=args.istio_namespace, label_selector='app=istiod').to_dict()
        mesh = []
        for item in listed.get('items') or []:
            image = item['spec']['template']['spec']['containers'][0]['image']
            mesh.append({'Component': 'istiod', 'Revision': item['metadata']['labels'].get('istio.io/rev', 'default'),
                         'Info': {'version': image.rsplit(':', 1)[-1]}})
        report['meshVersion'] = mesh
    if args.output == 'json':
        print(json.dumps(report, indent=2))
        return
    if args.output == 'yaml':
        print(yaml.safe_dump(report), end='')
        return
    print('client version: %s' % version)
    if args.remote:
        if not report['meshVersion']:
            print('Istio is not present in the cluster: no running Istio pods in namespace "%s"' % args.istio_namespace)
        else:
            print('control plane version: %s' % ','.join(sorted({m['Info']['version'] for m in report['meshVersion']})))
            print('data plane version: none')


def cmd_manifest_generate(args):
    objects = manifests.render(_effective(args))
    print(yaml.safe_dump_all(objects, sort_keys=False), end='')


def _parser():
    parser = argparse.ArgumentParser(prog='istioctl', add_help=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('-c', '--kubeconfig', default=None)
    common.add_argument('--context', default=None)
    common.add_argument('-i', '--istioNamespace', dest='istio_namespace', default='istio-system')
    commands = parser.add_subparsers(dest='command', required=True)

    install = commands.add_parser('install', aliases=['apply'], parents=[common])
    install.add_argument('-f', '--filename', action='append')
    install.add_argument('-s', '--set', action='append')
    install.add_argument('-r', '--revision')
    install.add_argument('-y', '--skip-confirmation', action='store_true')
    install.add_argument('--readiness-timeout', default='5m0s')
    install.set_defaults(handler=cmd_install)

    uninstall = commands.add_parser('uninstall', parents=[common])
    uninstall.add_argument('--purge', action='store_true')
    uninstall.add_argument('-r', '--revision')
    uninstall.add_argument('-f', '--filename', action='append')
    uninstall.add_argument('-s', '--set', action='append')
    uninstall.add_argument('-y', '--skip-confirmation', action='store_true')
    uninstall.set_defaults(handler=cmd_uninstall)

    version = commands.add_parser('version', parents=[common])
    version.add_argument('--remote', type=lambda v: v.lower() in ('true', '1', ''), nargs='?', const=True,
                         default=True)
    version.add_argument('-o', '--output', choices=['', 'short', 'json', 'yaml'], default='')
    version.add_argument('-s', '--short', action='store_true')
    version.set_defaults(handler=cmd_version)

    manifest = commands.add_parser('manifest')
    manifest_commands = manifest.add_subparsers(dest='manifest_command', required=True)
    generate = manifest_commands.add_parser('generate', parents=[common])
    generate.add_argument('-f', '--filename', action='append')
    generate.add_argument('-s', '--set', action='append')
    generate.add_argument('-r', '--revision')
    generate.set_defaults(handler=cmd_manifest_generate)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        # The API discovery cache lives only as long as this command, like istioctl's in-memory one.
        with tempfile.TemporaryDirectory(prefix='istioctl-') as args.scratch_dir:
            args.handler(args)
    except CommandError as exc:
        sys.stderr.write('Error: %s\n' % exc)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
