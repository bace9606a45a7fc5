"""The artifact's entry point, installed as ``bin/productcatalogservice`` (the builder adds the shebang).

Puts the artifact's own app and vendored libraries first on ``sys.path`` so the service runs on a VM that has
nothing but python3, and ignores whatever Python packages the VM may have installed for other programs.
"""

import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path[0:0] = [os.path.join(ROOT, 'app'), os.path.join(ROOT, 'vendor')]
runpy.run_path(os.path.join(ROOT, 'app', 'server.py'), run_name='__main__')
