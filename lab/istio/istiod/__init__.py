"""The lab's istiod, its VM-facing end: the CA (CreateCertificate) and an ADS stream on port 15012, backed by a
cluster's Kubernetes API stand-in over HTTPS as the real istiod is backed by its cluster. See docs/dev/lab.md."""
