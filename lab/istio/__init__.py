"""Stand-ins for Istio: the istioctl release the collection downloads, and what its install creates."""
