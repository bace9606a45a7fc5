"""The lab's network: the VPC bridge, the controller's link to it and the GKE clusters' namespaces.

See the address plan in docs/dev/lab.md.
"""
