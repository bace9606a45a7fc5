"""A Kubernetes API server stand-in, one per GKE cluster of the lab (see docs/dev/lab-kube.md).

Files by concern: ``server`` (assembly, TLS, lifecycle), ``handler`` (HTTP routing, watch), ``objects`` (verbs and
their semantics), ``storage``, ``resources`` (kinds, discovery), ``validation``/``semantic``/``crd`` (what is
refused), ``defaults``, ``patching``/``apply``/``listtypes`` (patch types, server-side apply), ``selectors``,
``tokens``/``token_api``/``auth``, ``controllers``, ``openapi``; ``testing`` starts one for tests.
"""
