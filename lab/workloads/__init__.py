"""Workloads the lab's VMs run: stand-ins for the services the tutorial places on Compute Engine."""
