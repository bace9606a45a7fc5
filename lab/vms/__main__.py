"""``python -m lab.vms``: build the base root, bring the lab's network up or down, clean up after a crash."""

import argparse
import os
import sys
import time

from lab.net.names import LabNames
from lab.vms import lifecycle
from lab.vms.base_root import BaseRoot
from lab.vms.cleanup import cleanup


def _parser():
    parser = argparse.ArgumentParser(prog='python -m lab.vms', description=__doc__)
    parser.add_argument('--prefix', default='mbl-', help='name prefix of the lab\'s namespaces and links (default: mbl-)')
    parser.add_argument('--state-dir', default=os.path.join(os.getcwd(), '.lab'), help='the lab state (default: ./.lab)')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('base', help='build (once) and unpack the cached Debian 12 base root')
    commands.add_parser('up', help='create the VPC bridge and the controller link in the host namespace')
    commands.add_parser('down', help='remove every VM, namespace, link and mount of the lab, and the state directory')
    commands.add_parser('cleanup', help='remove every VM, namespace, link and mount of the lab (state directory kept)')
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        LabNames(args.prefix)
    except ValueError as exc:
        sys.exit(f'--prefix: {exc}')
    if args.command == 'base':
        started = time.monotonic()
        base = BaseRoot()
        path = base.ensure_unpacked()
        print(f'base root {path} ready in {time.monotonic() - started:.1f} s (tarball {base.tarball})')
    elif args.command == 'up':
        lifecycle.up(args.state_dir, args.prefix)
        print(f'lab network up: netns {args.prefix}vpc, controller link {args.prefix}ctl')
    elif args.command == 'down':
        lifecycle.down(args.state_dir, args.prefix)
        print(f'lab {args.prefix} down')
    else:
        cleanup(args.prefix, args.state_dir)
        print(f'lab {args.prefix} cleaned up')


if __name__ == '__main__':
    main()
