"""The lab's ``istio-sidecar.deb``: the package builder (``build``) of the real package (``real``: Istio's
pilot-agent and packaging files from the pinned istio.io/istio module, upstream Envoy), with the reproducible,
cached ``dpkg-deb`` build in ``debpkg``. See docs/dev/lab.md."""
