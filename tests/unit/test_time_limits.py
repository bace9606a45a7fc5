"""Every test has a time limit: a hang fails in bounded time, naming the test, instead of holding `make test`."""

import configparser
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_suite_sets_a_time_limit_for_every_test():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, 'pytest.ini'))
    assert 0 < int(config['pytest']['timeout']) <= 900


def test_a_hanging_test_fails_with_its_name_in_bounded_time(tmp_path):
    (tmp_path / 'test_hang.py').write_text('import time\n\n\ndef test_waits_forever():\n    time.sleep(3600)\n')
    (tmp_path / 'pytest.ini').write_text('[pytest]\ntimeout = 2\ntimeout_method = thread\n')
    started = time.monotonic()
    completed = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', str(tmp_path)],
                               capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert time.monotonic() - started < 30
    assert completed.returncode != 0
    assert 'Timeout' in completed.stdout + completed.stderr
    assert 'test_waits_forever' in completed.stdout + completed.stderr
