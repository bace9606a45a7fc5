"""The lab's stand-in for Istio's ``istio-sidecar.deb``: the package builder (``build``), the files it installs
(``package/``) and the ``pilot-agent`` stand-in it ships (``agent/``). See docs/dev/lab.md."""
