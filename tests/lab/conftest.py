"""Fixtures for the stand-ins' tests: a running Kubernetes API stand-in and kubectl pointed at it."""

import importlib.util
import json
import os
import subprocess

import pytest

from lab.kube.testing import running_kube_api

KUBECTL = '/usr/bin/kubectl'


@pytest.fixture
def kube(tmp_path):
    with running_kube_api(tmp_path / 'kube', deployment_ready_seconds=0.2) as handle:
        yield handle


class Kubectl:
    """Runs the real kubectl against the stand-in, with a discovery cache private to the test."""

    def __init__(self, kubeconfig, home):
        self.kubeconfig = kubeconfig
        self.env = {'PATH': '/usr/bin:/bin', 'HOME': str(home), 'KUBECACHEDIR': str(home / 'kube-cache')}

    def run(self, *args, stdin=None, check=True):
        completed = subprocess.run([KUBECTL, '--kubeconfig', self.kubeconfig] + list(args), input=stdin,
                                   capture_output=True, text=True, env=self.env, timeout=60, check=False)
        if check:
            assert completed.returncode == 0, completed.stdout + completed.stderr
        return completed

    def json(self, *args):
        return json.loads(self.run(*args, '-o', 'json').stdout)


@pytest.fixture
def kubectl(kube, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    return Kubectl(kube.kubeconfig, home)


def _integration_fixtures():
    """The integration tests' ``run_playbook`` fixture (real ansible-playbook, JSON report), reused here."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration', 'conftest.py')
    spec = importlib.util.spec_from_file_location('integration_conftest_for_lab', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_playbook = _integration_fixtures().run_playbook
