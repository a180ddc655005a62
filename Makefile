# The two commands: `make run` (install what is missing, run the gateway on its embedded defaults) and
# `make test` (install what is missing, run every test).
.PHONY: run test demo bench install clean

install:
	@scripts/bootstrap.sh

run: install
	.venv/bin/govgate serve

demo: install
	.venv/bin/govgate demo

test:
	@scripts/test.sh

bench: install
	.venv/bin/python bench/decision.py
	.venv/bin/python bench/replay.py

clean:
	rm -rf var
