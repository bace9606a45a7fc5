"""The lab's Compute Engine VMs: Debian 12 roots booted by systemd-nspawn in network namespaces on the VPC.

See docs/dev/lab.md.
"""
