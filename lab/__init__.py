"""The lab: local stand-ins for GCP, Kubernetes, Istio's control plane and the internet.

Nothing here ships in the collection (galaxy.yml build_ignore). See docs/dev/lab.md.
"""
