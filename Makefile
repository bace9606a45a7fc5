# Entry points; see README.md.
.PHONY: test lint sanity unit lab-tests integration molecule bootstrap freeze lab lab-up lab-down lab-status docs

test:
	hack/test.sh

lint sanity unit integration molecule:
	hack/test.sh $@

lab-tests:
	hack/test.sh lab

bootstrap:
	hack/bootstrap.sh

# The HTML docsite in .build/docs/build/html (antsibull-docs and sphinx-build -W; `make lint` builds it too).
docs:
	hack/docs.sh

# Re-pin constraints.txt from a venv built from requirements-dev.txt alone.
freeze:
	rm -rf .build/freeze && "$$(hack/python.sh)" -m venv .build/freeze
	.build/freeze/bin/pip install -q -r requirements-dev.txt
	{ echo '# Full pinned tree for requirements-dev.txt (pip freeze of the test venv). Regenerate with: make freeze'; \
	  .build/freeze/bin/pip freeze; } > constraints.txt

# The main job on the lab: lab up, site.yml -i inventories/lab, the report. ARGS go to ansible-playbook.
lab:
	hack/lab.sh $(ARGS)

# The lab alone: local stand-ins for GCP, Kubernetes and the internet, with real VMs (docs/dev/lab.md).
lab-up: bootstrap
	.venv/bin/python -m lab up

lab-down:
	.venv/bin/python -m lab down

lab-status:
	.venv/bin/python -m lab status
