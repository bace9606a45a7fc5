"""The ``scale`` subresource of Deployments (``kubectl scale``, autoscalers): an ``autoscaling/v1`` Scale view of
``spec.replicas``, read and written through the Deployment."""

import copy

from lab.kube import errors, patching


def _selector_text(deployment):
    labels = ((deployment.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
    return ','.join('%s=%s' % item for item in sorted(labels.items()))


def as_scale(deployment):
    meta = deployment['metadata']
    return {'kind': 'Scale', 'apiVersion': 'autoscaling/v1',
            'metadata': {key: meta[key] for key in ('name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp')
                         if key in meta},
            'spec': {'replicas': deployment['spec'].get('replicas', 1)},
            'status': {'replicas': (deployment.get('status') or {}).get('replicas', 0),
                       'selector': _selector_text(deployment)}}


def get_scale(objects, rtype, version, namespace, name):
    return as_scale(objects.get(rtype, version, namespace, name))


def write_scale(objects, rtype, version, namespace, name, method, content_type, body, options):
    """PUT or PATCH of the Scale; the Deployment takes its replicas (and resourceVersion precondition)."""
    with objects.storage.lock:
        deployment = objects.get(rtype, version, namespace, name)
        current = as_scale(deployment)
        if method == 'PUT':
            scale = patching.merge_patch({}, body) if isinstance(body, dict) else None
        elif content_type == patching.JSON_PATCH:
            scale = patching.apply_json_patch(current, body)
        elif content_type in (patching.MERGE_PATCH, patching.STRATEGIC_MERGE_PATCH):
            scale = patching.apply_merge_patch(current, body)  # a Scale has no lists: both merge alike
        else:
            raise errors.unsupported_media_type(content_type)
        replicas = ((scale or {}).get('spec') or {}).get('replicas')
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid('Scale', 'autoscaling', name, [errors.invalid_value(
                'spec.replicas', replicas, 'must be greater than or equal to 0')])
        wanted = (scale.get('metadata') or {}).get('resourceVersion')
        if wanted and wanted != deployment['metadata']['resourceVersion']:
            raise errors.conflict(rtype, name)
        updated = copy.deepcopy(deployment)
        updated['spec']['replicas'] = replicas
        stored, _warnings = objects.update(rtype, version, namespace, name, updated, options)
        return as_scale(stored)
