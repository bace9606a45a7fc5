"""The fixed part of a compute project: regions, zones, machine types, public images, the default network.

Regions and their auto-mode subnet ranges are real GCP values (us-west2 is 10.168.0.0/20, as in docs/dev/lab.md);
the list is a subset of GCP's regions, enough for the tutorial and for refusing names that do not exist.
"""

import ipaddress

REGION_SUBNETS = {
    'us-central1': '10.128.0.0/20',
    'europe-west1': '10.132.0.0/20',
    'us-west1': '10.138.0.0/20',
    'us-east1': '10.142.0.0/20',
    'us-west2': '10.168.0.0/20',
}
REGION_ZONES = {
    'us-central1': 'abcf',
    'europe-west1': 'bcd',
    'us-west1': 'abc',
    'us-east1': 'bcd',
    'us-west2': 'abc',
}
ZONES = {'%s-%s' % (region, letter): region for region, letters in REGION_ZONES.items() for letter in letters}

# name -> (guest CPUs, memory MB); the families the tutorial and common playbooks use.
MACHINE_TYPES = {
    'e2-micro': (2, 1024), 'e2-small': (2, 2048), 'e2-medium': (2, 4096),
    'e2-standard-2': (2, 8192), 'e2-standard-4': (4, 16384), 'e2-standard-8': (8, 32768), 'e2-standard-16': (16, 65536),
    'e2-highmem-2': (2, 16384), 'e2-highmem-4': (4, 32768), 'e2-highcpu-2': (2, 2048), 'e2-highcpu-4': (4, 4096),
    'n1-standard-1': (1, 3840), 'n1-standard-2': (2, 7680), 'n1-standard-4': (4, 15360), 'n1-standard-8': (8, 30720),
    'n2-standard-2': (2, 8192), 'n2-standard-4': (4, 16384), 'n2-standard-8': (8, 32768),
}
DISK_TYPES = ('pd-standard', 'pd-balanced', 'pd-ssd')

# project -> family -> image name; the images a public image family points at.
IMAGE_FAMILIES = {
    'debian-cloud': {'debian-12': 'debian-12-bookworm-v20261110', 'debian-11': 'debian-11-bullseye-v20261110'},
    'ubuntu-os-cloud': {'ubuntu-2204-lts': 'ubuntu-2204-jammy-v20261105'},
}

# The first address handed to instances in a subnet: below it, us-west2 holds the GKE node addresses (10.168.0.10+).
FIRST_INSTANCE_HOST = 20
# External addresses come from TEST-NET-3: documentation space, never routed, so nothing can leave the lab by them.
EXTERNAL_RANGE = ipaddress.ip_network('203.0.113.0/24')
