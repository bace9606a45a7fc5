"""/usr/local/bin/pilot-agent: the lab agent's entry point (the builder adds the shebang).

Puts the package's agent code, its generated stubs and vendored libraries first on ``sys.path``, so the agent runs
on a VM that has nothing but python3, whatever Python packages the VM has installed for other programs.
"""

import os
import sys

# /usr/local/bin/pilot-agent -> /usr/local/lib/pilot-agent
LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), 'lib', 'pilot-agent')
sys.path[0:0] = [LIB, os.path.join(LIB, 'stubs'), os.path.join(LIB, 'vendor')]

from lab.istio.sidecar.agent.main import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())
