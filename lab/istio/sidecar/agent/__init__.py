"""The lab's ``pilot-agent``: runs on a lab VM's python3 (3.11, stdlib + vendored grpcio, protobuf, PyYAML).

Subcommands as the real one names them: ``proxy`` (certificate, xDS session, Envoy, health), ``istio-iptables`` and
``istio-clean-iptables`` (inbound capture). Everything here imports only the stdlib, the vendored libraries,
``lab.istio.mesh_client`` and its generated stubs: the package ships exactly those.
"""
