"""Time site.yml on the lab: the wall time of a first run, its critical path, their ratio, and a no-change re-run.

    hack/site_timing.sh [TIME_SCALE]     (brings up a lab of its own at that time scale, default 0.1, and removes it)

The GCP stand-in gives every operation its real-world duration times the time scale (lab/gcp/operations.py).
The critical path is the longest chain of waits that cannot overlap: the controller waiting for the world, stage by
stage, each stage needing the one before. It is read off the run's JSON report as the sum of the tasks that wait:
creating the cluster (the VMs are created meanwhile: what their creation takes beyond the cluster shows up in
"Wait for the VMs"), and every later task that waits for something to become ready. Everything else in the wall
time is the controller's own work (Ansible, SSH, module start-up), which a faster controller shrinks.
"""

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime

# Tasks that wait for the world, by name (the roles name every waiting task so): task names without role prefix.
_WAITS = re.compile(r"^(Ensure the GKE cluster is present|Wait\b|Ensure Istio runs\b|Ask the agent's readiness endpoint|Ask the gRPC health service)")


def _seconds(duration):
    start, end = (datetime.fromisoformat(duration[key].replace('Z', '+00:00')) for key in ('start', 'end'))
    return (end - start).total_seconds()


def waits(report):
    """(task name, seconds) of every waiting task in the run, in order."""
    found = []
    for play in report['plays']:
        for task in play['tasks']:
            name = task['task']['name'].split(' : ', 1)[-1]
            if _WAITS.match(name):
                found.append((name, round(_seconds(task['task']['duration']), 1)))
    return found


def run_site(env):
    started = time.monotonic()
    completed = subprocess.run(['ansible-playbook', 'site.yml', '-i', 'inventories/lab'], env=env,
                               capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if completed.returncode != 0:
        sys.exit('site.yml failed (%d):\n%s%s' % (completed.returncode, completed.stdout[-4000:], completed.stderr[-4000:]))
    report = json.loads(completed.stdout)
    changed = sum(stats['changed'] for stats in report['stats'].values())
    return wall, report, changed


def main():
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')
    first_wall, report, _changed = run_site(env)
    chain = waits(report)
    critical = sum(seconds for _name, seconds in chain)
    again_wall, _report, again_changed = run_site(env)
    result = {
        'site_yml_wall_s': round(first_wall, 1),
        'critical_path_s': round(critical, 1),
        'wall_over_critical_path': round(first_wall / critical, 2) if critical else None,
        'no_change_rerun_wall_s': round(again_wall, 1),
        'no_change_rerun_changed': again_changed,
        'critical_path': chain,
    }
    print(json.dumps(result, indent=2))
    return 0 if again_changed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
