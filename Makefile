.PHONY: run test setup setup-dev bench installer
# Install everything and open Flynn with its bundled model.
run: setup
	.venv/bin/flynn
# Install the development extras and run the whole test suite.
test: setup-dev
	bash scripts/test.sh
setup:
	bash scripts/setup.sh
setup-dev:
	bash scripts/setup.sh --dev
bench: setup-dev
	.venv/bin/python benchmarks/agent_overhead.py
# Build the installers for this platform (Linux: dist/flynn-desktop/, its .tar.gz and its .deb).
installer:
	bash installer/build.sh
