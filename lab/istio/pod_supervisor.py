"""The kubelet's part inside one pod sandbox (lab.istio.mesh_pods): runs the pod's containers as the plan says and
writes what happened to ``status.json``, which the lab reports to the API as the pod's status.

Runs as the sandbox's PID 2 under the sandbox root's own Python (standard library only), so it must not import the
lab. Order, as the kubelet runs a pod (https://kubernetes.io/docs/concepts/workloads/pods/init-containers/,
https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/): init containers one at a time, each to
success; an init container with ``restartPolicy: Always`` (a native sidecar, as Istio injects ``istio-proxy``) is
started and waited for until its startup probe passes, then keeps running; then the containers, all at once. A
container that exits is restarted under ``restartPolicy`` Always (with back-off); under Never, once every container
has exited the sidecars are stopped (SIGTERM) and the pod is Succeeded when all exited 0, else Failed.
Simplified: one filesystem for all the pod's containers; probes other than the sidecar's startup probe are not run.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

STATE = '/run/lab-pod'
_BACKOFF = (1, 2, 5, 10, 20)
_MESSAGE_BYTES = 2048           # what FallbackToLogsOnError keeps of the log (the kubelet's limit is 4096)


def _now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


class Container:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec['name']
        self.process = None
        self.restarts = 0
        self.status = {'state': 'waiting', 'reason': 'PodInitializing', 'restartCount': 0}
        self.log_path = os.path.join(STATE, 'logs', self.name + '.log')

    def start(self):
        spec = self.spec

        def drop_privileges():
            os.setgid(spec['gid'])
            os.setgroups([])
            os.setuid(spec['uid'])

        log = open(self.log_path, 'ab')   # noqa: SIM115 - the child owns it once started
        self.process = subprocess.Popen(spec['argv'], env=spec['env'], cwd=spec.get('workingDir') or '/',
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=drop_privileges)
        log.close()
        self.status = {'state': 'running', 'startedAt': _now(), 'restartCount': self.restarts}

    def exited(self):
        """The exit code once the process has exited (recorded in the status), else None."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is None or self.status['state'] == 'terminated':
            return code
        code = code if code >= 0 else 128 - code      # killed by a signal: 128 + its number, as a runtime reports
        self.status = {'state': 'terminated', 'exitCode': code, 'reason': 'Completed' if code == 0 else 'Error',
                       'startedAt': self.status.get('startedAt'), 'finishedAt': _now(), 'restartCount': self.restarts}
        if code != 0 and self.spec.get('fallbackToLogsOnError'):
            with open(self.log_path, 'rb') as handle:
                handle.seek(max(0, os.path.getsize(self.log_path) - _MESSAGE_BYTES))
                self.status['message'] = handle.read().decode('utf-8', 'replace')
        return code

    def stop(self, grace):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.exited()


class Pod:
    def __init__(self, plan):
        self.plan = plan
        self.init = [Container(spec) for spec in plan['initContainers']]
        self.containers = [Container(spec) for spec in plan['containers']]
        self.phase = 'Pending'
        self.message = ''

    def write(self):
        status = {'phase': self.phase, 'message': self.message,
                  'initContainers': {c.name: c.status for c in self.init},
                  'containers': {c.name: c.status for c in self.containers}}
        with open(os.path.join(STATE, 'status.json.new'), 'w', encoding='utf-8') as handle:
            json.dump(status, handle)
        os.replace(os.path.join(STATE, 'status.json.new'), os.path.join(STATE, 'status.json'))

    def _started(self, container):
        """Wait for a sidecar's startup probe (an HTTP GET, as the kubelet makes it); False if it exits or never
        passes within the probe's own bound."""
        probe = container.spec.get('startupProbe')
        if not probe:
            return container.exited() is None
        deadline = time.monotonic() + probe['timeoutSeconds']
        url = 'http://%s:%d%s' % (probe['host'], probe['port'], probe['path'])
        while time.monotonic() < deadline:
            if container.exited() is not None:
                return False
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if 200 <= answer.status < 400:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def _fail(self, message):
        self.phase, self.message = 'Failed', message
        self.stop()

    def run(self):
        self.write()
        for container in self.init:
            container.start()
            self.write()
            if container.spec.get('sidecar'):
                if not self._started(container):
                    return self._fail('init container %s did not pass its startup probe' % container.name)
                continue
            if container.process.wait() != 0:
                container.exited()
                return self._fail('init container %s exited %d' % (container.name, container.process.returncode))
            container.exited()
        for container in self.containers:
            container.start()
        self.phase = 'Running'
        self.write()
        restart_at = {}
        policy = self.plan['restartPolicy']
        while True:
            changed = False
            for container in self.containers:
                was = container.status['state']
                code = container.exited()
                if code is None:
                    continue
                changed = changed or was != 'terminated'
                if policy == 'Always' or (policy == 'OnFailure' and code != 0):
                    at = restart_at.setdefault(container.name, time.monotonic()
                                               + _BACKOFF[min(container.restarts, len(_BACKOFF) - 1)])
                    if time.monotonic() >= at:
                        restart_at.pop(container.name)
                        container.restarts += 1
                        container.start()
                        changed = True
            if policy != 'Always' and all(c.status['state'] == 'terminated' for c in self.containers):
                self.phase = 'Succeeded' if all(c.status['exitCode'] == 0 for c in self.containers) else 'Failed'
                self.stop()
                return None
            if changed:
                self.write()
            time.sleep(0.2)

    def stop(self):
        for container in self.containers + list(reversed(self.init)):
            container.stop(self.plan.get('terminationGracePeriodSeconds', 30))
        self.write()


def main():
    with open(os.path.join(STATE, 'plan.json'), encoding='utf-8') as handle:
        pod = Pod(json.load(handle))

    def terminate(_signum, _frame):
        pod.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    pod.run()


if __name__ == '__main__':
    main()
