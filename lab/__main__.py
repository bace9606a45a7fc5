"""``python -m lab up|down|status``: bring the whole lab up in the background, show it, take it down.

``up`` builds (once) the cached Debian 12 base root, starts ``python -m lab serve`` as a background process and
waits until it is ready; clients then source ``.lab/lab.env``. ``down`` stops that process and removes every
namespace, link, process, mount and file of the lab, also after a crash.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from lab.gcp.auth import LAB_TOKEN_PREFIX
from lab.gcp.operations import Settings
from lab.net.names import LabNames
from lab.vms import lifecycle
from lab.vms.base_root import BaseRoot
from lab.world import World

READY_TIMEOUT = 120
STOP_TIMEOUT = 60


def _info(state_dir):
    try:
        with open(os.path.join(state_dir, 'lab.json'), encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _running(state_dir):
    info = _info(state_dir)
    return info if info and _alive(info['pid']) else None


def _log_tail(path, lines=20):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:])
    except OSError:
        return ''


# gke-gcloud-auth-plugin caches its access token here (a fixed path) for up to an hour.
_GKE_PLUGIN_CACHE = os.path.join(os.path.expanduser('~'), '.kube', 'gke_gcloud_auth_plugin_cache')


def _forget_lab_tokens():
    """Remove the GKE plugin's token cache when it holds a token a lab issued: a new lab refuses it (401)."""
    try:
        with open(_GKE_PLUGIN_CACHE, encoding='utf-8') as handle:
            cached = handle.read()
    except OSError:
        return
    if LAB_TOKEN_PREFIX in cached:
        os.remove(_GKE_PLUGIN_CACHE)


def up(args):
    running = _running(args.state_dir)
    if running:
        print('lab already up (pid %d); clients: . %s' % (running['pid'], running['env_file']))
        return 0
    _forget_lab_tokens()
    started = time.monotonic()
    BaseRoot().ensure_unpacked()        # the slow part on a fresh machine, in the foreground so it shows
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    log_path = os.path.join(args.state_dir, 'lab.log')
    command = [sys.executable, '-m', 'lab', '--state-dir', args.state_dir, '--prefix', args.prefix, 'serve']
    if args.time_scale is not None:
        command += ['--time-scale', str(args.time_scale)]
    with open(log_path, 'ab') as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 0.05
    while time.monotonic() < deadline:
        info = _info(args.state_dir)
        if info and info['pid'] == process.pid:
            elapsed = time.monotonic() - started
            print('lab up in %.1f s (pid %d); clients: . %s' % (elapsed, process.pid, info['env_file']))
            return 0
        if process.poll() is not None:
            print('lab serve exited with %d before it was ready; %s says:\n%s'
                  % (process.returncode, log_path, _log_tail(log_path)), file=sys.stderr)
            return 1
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    process.terminate()
    print('lab serve was not ready after %d s; %s says:\n%s' % (READY_TIMEOUT, log_path, _log_tail(log_path)),
          file=sys.stderr)
    return 1


def serve(args):
    world = World(args.state_dir, prefix=args.prefix, settings=Settings(time_scale=args.time_scale))
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_args: stopping.set())
    try:
        world.start()
        print('lab ready: proxy %s, env %s' % (world.gcp.proxy.url, world.gcp.env_file), flush=True)
        stopping.wait()
    finally:
        world.stop()
    return 0


def down(args):
    running = _running(args.state_dir)
    if running:
        os.kill(running['pid'], signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(running['pid']) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(running['pid']):
            os.kill(running['pid'], signal.SIGKILL)
    lifecycle.down(args.state_dir, args.prefix)
    _forget_lab_tokens()
    print('lab %s down: no namespace, link, process, mount or state left' % args.prefix)
    return 0


def status(args):
    running = _running(args.state_dir)
    if not running:
        print('lab is down')
        return 3
    print(json.dumps(running, indent=2))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab', description=__doc__.splitlines()[0])
    parser.add_argument('--state-dir', default=os.path.join(os.getcwd(), '.lab'), help='lab state (default: ./.lab)')
    parser.add_argument('--prefix', default='mbl-', help='name prefix of namespaces and links (default: mbl-)')
    commands = parser.add_subparsers(dest='command', required=True)
    for name, handler in (('up', up), ('serve', serve), ('down', down), ('status', status)):
        command = commands.add_parser(name, help=(handler.__doc__ or name).splitlines()[0])
        command.set_defaults(handler=handler)
        if name in ('up', 'serve'):
            command.add_argument('--time-scale', type=float, default=None,
                                 help='multiplies real GCP operation durations (default: MESHBRIDGE_LAB_TIME_SCALE or 1)')
    args = parser.parse_args(argv)
    args.state_dir = os.path.abspath(args.state_dir)
    try:
        LabNames(args.prefix)
    except ValueError as error:
        parser.error('--prefix: %s' % error)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())
