"""Stand-in for ansible-test's downloaded get-pip script: install pip from a local wheel.

ansible-test runs this file with the arguments it would give get-pip.py (pip options and the
requirement ``pip==<version>``); they are passed on to ``pip install`` except the get-pip-only flags.
"""

import glob
import os
import subprocess
import sys

WHEEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pip-wheels')
GET_PIP_ONLY_FLAGS = ('--no-setuptools', '--no-wheel')


def main():
    wheels = sorted(glob.glob(os.path.join(WHEEL_DIR, 'pip-*.whl')))
    if not wheels:
        sys.exit('no pip wheel in %s: run hack/bootstrap.sh' % WHEEL_DIR)
    wheel = wheels[-1]
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    # pip runs straight from its wheel (a zip Python can import from), as pip's own docs describe.
    command = [sys.executable, os.path.join(wheel, 'pip'), 'install', '--no-index', '--find-links', WHEEL_DIR]
    sys.exit(subprocess.call(command + args))


if __name__ == '__main__':
    main()
