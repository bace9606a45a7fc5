"""The lab's ``istio-sidecar.deb``: the package builder (``build``), choosing between the real package (``real``:
Istio's pilot-agent and packaging files from the pinned istio.io/istio module, with ``MESHBRIDGE_LAB_REAL_SIDECAR=1``)
and the stand-in (``standin``: the files it installs in ``package/`` and the ``pilot-agent`` stand-in it ships in
``agent/``); ``debpkg`` is what both share. See docs/dev/lab.md."""
