"""The real kubectl (the lab's build, lab/tools) against a lab API server, with a discovery cache private to the
test."""

import json
import subprocess

from lab.kubernetes import binaries
from lab.net.commands import wait_for


class Kubectl:
    def __init__(self, kubeconfig, home):
        self.kubeconfig = kubeconfig
        self.env = {'PATH': '/usr/bin:/bin', 'HOME': str(home), 'KUBECACHEDIR': str(home / 'kube-cache')}

    def run(self, *args, stdin=None, check=True):
        completed = subprocess.run([binaries.path('kubectl'), '--kubeconfig', self.kubeconfig] + list(args), input=stdin,
                                   capture_output=True, text=True, env=self.env, timeout=60, check=False)
        if check:
            assert completed.returncode == 0, completed.stdout + completed.stderr
        return completed

    def json(self, *args):
        return json.loads(self.run(*args, '-o', 'json').stdout)

    def get(self, kind, name, namespace):
        return self.json('get', kind, name, '-n', namespace)

    def missing(self, kind, name, namespace):
        completed = self.run('get', kind, name, '-n', namespace, check=False)
        return completed.returncode != 0 and 'NotFound' in completed.stderr

    def wait_for(self, kind, name, namespace, timeout=30):
        """Wait (bounded) until the object exists."""
        wait_for(lambda: not self.missing(kind, name, namespace), timeout=timeout, what=f'{kind} {namespace}/{name}',
                 interval=0.2)

    def wait_established(self, crd, timeout=60):
        """Wait (bounded) until CustomResourceDefinition ``crd`` is Established. Not ``kubectl wait``: right after the
        apply the CRD can still have no status, which kubectl wait reports as an error instead of waiting."""
        jsonpath = 'jsonpath={.status.conditions[?(@.type=="Established")].status}'
        wait_for(lambda: self.run('get', 'crd', crd, '-o', jsonpath, check=False).stdout == 'True', timeout=timeout,
                 what=f'CustomResourceDefinition {crd} Established', interval=0.2)
