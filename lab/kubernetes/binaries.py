"""Where the lab's real programs are: the cache ``hack/build-lab-tools.sh`` fills (built on first use)."""

import functools
import os
import subprocess

_TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BUILD = os.path.join(_TOP, 'hack', 'build-lab-tools.sh')
_BUILD_CLIENTS = os.path.join(_TOP, 'hack', 'build-lab-clients.sh')


class MissingBinary(RuntimeError):
    """The lab's programs could not be built or found."""


@functools.lru_cache(maxsize=None)
def directory():
    """The directory holding etcd, kube-apiserver, ..., built from lab/tools' pins if it is not there yet.

    ``MESHBRIDGE_LAB_BIN`` names another directory (a test of the build itself, or binaries built elsewhere)."""
    override = os.environ.get('MESHBRIDGE_LAB_BIN')
    if override:
        return override
    completed = subprocess.run([_BUILD], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise MissingBinary('%s failed (exit %d): %s' % (_BUILD, completed.returncode, completed.stderr.strip()[-2000:]))
    return completed.stdout.strip().splitlines()[-1]


def path(name):
    """The path of program ``name`` (``kube-apiserver``, ``etcd``, ``istioctl``, ...) or of a file built with them
    (``kwok-stages.yaml``)."""
    found = os.path.join(directory(), name)
    if not os.path.exists(found):
        raise MissingBinary('%s is not in %s' % (name, directory()))
    return found


@functools.lru_cache(maxsize=None)
def client(name):
    """The path of client program ``name`` (``grpcurl``), built from lab/tools/clients' pins if it is not there yet."""
    completed = subprocess.run([_BUILD_CLIENTS], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise MissingBinary('%s failed (exit %d): %s'
                            % (_BUILD_CLIENTS, completed.returncode, completed.stderr.strip()[-2000:]))
    found = os.path.join(completed.stdout.strip().splitlines()[-1], name)
    if not os.path.exists(found):
        raise MissingBinary('%s is not built by %s' % (name, _BUILD_CLIENTS))
    return found


@functools.lru_cache(maxsize=None)
def module_source(module):
    """The directory of ``module``'s source in the Go module cache, at the version lab/tools/go.mod pins (the
    build downloaded it): where the lab takes a project's own files (Istio's manifests, samples, packaging)."""
    tools = os.path.join(_TOP, 'lab', 'tools')
    env = dict(os.environ, GOTOOLCHAIN='local', GOFLAGS='-mod=mod')
    env['PATH'] = env.get('PATH', '') + os.pathsep + '/usr/local/go/bin'
    completed = subprocess.run(['go', 'list', '-m', '-f', '{{.Dir}}', module], cwd=tools, env=env,
                               capture_output=True, text=True, check=False)
    found = completed.stdout.strip()
    if completed.returncode != 0 or not os.path.isdir(found):
        raise MissingBinary('go list -m %s in %s failed (exit %d): %s'
                            % (module, tools, completed.returncode, completed.stderr.strip()[-2000:]))
    return found
