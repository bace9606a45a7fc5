"""The kinds the server serves: built-in ones and those of registered CustomResourceDefinitions, and discovery.

A ``ResourceType`` is one REST resource (``deployments`` in ``apps/v1``). The registry answers the discovery
documents kubectl and the Python clients read before anything else: ``/api``, ``/apis``, ``/api/v1``,
``/apis/<group>/<version>``.
"""

import re
import threading

from lab.kube import errors

# Kubernetes verbs for an ordinary stored resource.
ALL_VERBS = ('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')


class ResourceType:
    """One REST resource. ``versions`` are the served versions (a CRD may serve several, all stored alike)."""

    def __init__(self, group, versions, plural, kind, namespaced, short_names=(), subresources=(),
                 verbs=ALL_VERBS, singular=None, categories=(), crd=None, has_generation=False):
        self.group = group
        self.versions = list(versions)
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.subresources = tuple(subresources)
        self.verbs = tuple(verbs)
        self.singular = singular or kind.lower()
        self.categories = list(categories)
        # The CRD object this type comes from, or None for a built-in kind.
        self.crd = crd
        # Whether metadata.generation counts spec changes (workloads, CRDs, custom resources).
        self.has_generation = has_generation or crd is not None

    @property
    def key(self):
        return (self.group, self.plural)

    @property
    def qualified_plural(self):
        return self.plural + ('.' + self.group if self.group else '')

    @property
    def storage_version(self):
        return self.versions[0]

    def api_version(self, version=None):
        version = version or self.storage_version
        return '%s/%s' % (self.group, version) if self.group else version

    def discovery_entries(self):
        entries = [{
            'name': self.plural, 'singularName': self.singular, 'namespaced': self.namespaced, 'kind': self.kind,
            'verbs': list(self.verbs), 'storageVersionHash': '',
        }]
        if self.short_names:
            entries[0]['shortNames'] = self.short_names
        if self.categories:
            entries[0]['categories'] = self.categories
        for sub in self.subresources:
            if sub == 'token':
                entries.append({'name': self.plural + '/token', 'singularName': '', 'namespaced': self.namespaced,
                                'group': 'authentication.k8s.io', 'version': 'v1', 'kind': 'TokenRequest',
                                'verbs': ['create']})
            else:
                entries.append({'name': '%s/%s' % (self.plural, sub), 'singularName': '',
                                'namespaced': self.namespaced, 'kind': self.kind, 'verbs': ['get', 'patch', 'update']})
        return entries


def _builtin_types():
    core, apps, rbac = '', 'apps', 'rbac.authorization.k8s.io'
    return [
        ResourceType(core, ['v1'], 'namespaces', 'Namespace', False, ['ns'], ('status', 'finalize'),
                     verbs=('create', 'delete', 'get', 'list', 'patch', 'update', 'watch')),
        ResourceType(core, ['v1'], 'configmaps', 'ConfigMap', True, ['cm']),
        ResourceType(core, ['v1'], 'secrets', 'Secret', True),
        ResourceType(core, ['v1'], 'services', 'Service', True, ['svc'], ('status',), categories=['all'],
                     verbs=('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')),
        ResourceType(core, ['v1'], 'serviceaccounts', 'ServiceAccount', True, ['sa'], ('token',)),
        ResourceType(apps, ['v1'], 'deployments', 'Deployment', True, ['deploy'], ('status',), categories=['all'],
                     has_generation=True),
        ResourceType(rbac, ['v1'], 'clusterroles', 'ClusterRole', False),
        ResourceType(rbac, ['v1'], 'clusterrolebindings', 'ClusterRoleBinding', False),
        ResourceType(rbac, ['v1'], 'roles', 'Role', True),
        ResourceType(rbac, ['v1'], 'rolebindings', 'RoleBinding', True),
        ResourceType('apiextensions.k8s.io', ['v1'], 'customresourcedefinitions', 'CustomResourceDefinition', False,
                     ['crd', 'crds'], ('status',), categories=['api-extensions'], has_generation=True),
        ResourceType('authentication.k8s.io', ['v1'], 'tokenreviews', 'TokenReview', False, verbs=('create',)),
        # What an Istio install creates besides the kinds above.
        ResourceType('admissionregistration.k8s.io', ['v1'], 'mutatingwebhookconfigurations',
                     'MutatingWebhookConfiguration', False, categories=['api-extensions'], has_generation=True),
        ResourceType('admissionregistration.k8s.io', ['v1'], 'validatingwebhookconfigurations',
                     'ValidatingWebhookConfiguration', False, categories=['api-extensions'], has_generation=True),
        ResourceType('policy', ['v1'], 'poddisruptionbudgets', 'PodDisruptionBudget', True, ['pdb'], ('status',),
                     has_generation=True),
        ResourceType('autoscaling', ['v2'], 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', True, ['hpa'],
                     ('status',), categories=['all']),
    ]


def _version_priority(version):
    """Kubernetes orders versions GA > beta > alpha, higher numbers first (v1 > v1beta2 > v1beta1 > v1alpha1)."""
    match = re.fullmatch(r'v(\d+)(?:(alpha|beta)(\d+))?', version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    stage_rank = {None: 0, 'beta': 1, 'alpha': 2}[stage]
    return (stage_rank, -int(major), -int(minor or 0), version)


class Registry:
    """Resource types by group and plural; CRDs add and remove theirs at runtime."""

    def __init__(self):
        self._lock = threading.Lock()
        self._types = {rtype.key: rtype for rtype in _builtin_types()}

    def add(self, rtype):
        with self._lock:
            self._types[rtype.key] = rtype

    def remove(self, key):
        with self._lock:
            self._types.pop(key, None)

    def types(self):
        with self._lock:
            return list(self._types.values())

    def by_key(self, group, plural):
        with self._lock:
            return self._types.get((group, plural))

    def lookup(self, group, version, plural):
        """The type served at ``/apis/<group>/<version>/<plural>``, or a 404 like the real server's."""
        rtype = self.by_key(group, plural)
        if rtype is None or version not in rtype.versions:
            raise errors.page_not_found()
        return rtype

    def by_kind(self, api_version, kind):
        group, version = api_version.rpartition('/')[::2]
        for rtype in self.types():
            if rtype.group == group and rtype.kind == kind and version in rtype.versions:
                return rtype
        return None

    def group_versions(self):
        """{group: [versions, preferred first]} for every group served."""
        groups = {}
        for rtype in self.types():
            versions = groups.setdefault(rtype.group, [])
            versions.extend(v for v in rtype.versions if v not in versions)
        return {group: sorted(versions, key=_version_priority) for group, versions in groups.items()}

    # Discovery documents.

    def core_versions(self):
        return {'kind': 'APIVersions', 'versions': ['v1'],
                'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': ''}]}

    def api_group(self, group, versions):
        entries = [{'groupVersion': '%s/%s' % (group, v), 'version': v} for v in versions]
        return {'name': group, 'versions': entries, 'preferredVersion': entries[0]}

    def api_group_list(self):
        groups = [self.api_group(g, v) for g, v in sorted(self.group_versions().items()) if g]
        return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}

    def api_group_doc(self, group):
        versions = self.group_versions().get(group)
        if not group or not versions:
            raise errors.page_not_found()
        return dict(self.api_group(group, versions), kind='APIGroup', apiVersion='v1')

    def resource_list(self, group, version):
        entries = []
        for rtype in sorted(self.types(), key=lambda t: t.plural):
            if rtype.group == group and version in rtype.versions:
                entries.extend(rtype.discovery_entries())
        if not entries:
            raise errors.page_not_found()
        group_version = '%s/%s' % (group, version) if group else version
        return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': group_version, 'resources': entries}
