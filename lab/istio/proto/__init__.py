"""Istio's and Envoy's .proto subsets for the VM agent and the lab's istiod, and their generated Python stubs."""
