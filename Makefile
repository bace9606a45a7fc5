# Entry points; see README.md.
.PHONY: test lint sanity unit lab-tests integration molecule bootstrap freeze

test:
	hack/test.sh

lint sanity unit integration molecule:
	hack/test.sh $@

lab-tests:
	hack/test.sh lab

bootstrap:
	hack/bootstrap.sh

# Re-pin constraints.txt from a venv built from requirements-dev.txt alone.
freeze:
	rm -rf .build/freeze && python3 -m venv .build/freeze
	.build/freeze/bin/pip install -q -r requirements-dev.txt
	{ echo '# Full pinned tree for requirements-dev.txt (pip freeze of the test venv). Regenerate with: make freeze'; \
	  .build/freeze/bin/pip freeze; } > constraints.txt
