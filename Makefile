# The few commands a person types. Every target installs what it needs into .venv first.
.PHONY: node-packages run test check lint typecheck invoke token package deploy audit bench fuzz soak clean help

PYTHON ?= python3
PORT ?= 8000
REGION ?= cn-shanghai
OP ?= create_upload_video
EVENT ?= tests/events/$(OP).json
LIMIT ?= 100
SUB ?=
HOURS ?= 12
# make package: the runtime's CPython (FC 3.0 built-in python3.12), the wheels' platform, the zip to write.
PYTHON_VERSION ?= 3.12
PLATFORM ?= manylinux2014_x86_64
DIST ?= dist/upload-broker.zip
# make deploy: Serverless Devs, installed into .tools/ on first use; ACCESS= picks an `s config` alias.
S_VERSION ?= 3.1.10
TOOLS := .tools
S := $(TOOLS)/node_modules/.bin/s
ACCESS ?=
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/shared:$(CURDIR)
export PORT

help:
	@echo "make run     serve every route on 127.0.0.1:$(PORT) (fake upstreams when no credentials are set)"
	@echo "make test    run every test"
	@echo "make check   lint + typecheck (mypy) + tests"
	@echo "make invoke  OP=create_upload_video [EVENT=tests/events/create_upload_video.json]: one handler call"
	@echo "make token   SUB=alice [HOURS=12]: a development token that make run accepts"
	@echo "make audit   SUB=alice [LIMIT=100]: one user's history from the ledger (BROKER_LEDGER_URL)"
	@echo "make bench   benchmark suite: overhead, throughput, cold start, memory (bench/results/)"
	@echo "make fuzz    long schemathesis run from openapi.yaml;  make soak: 60 s at 32 clients"
	@echo "make package $(DIST): functions + library + Linux wheels for python$(PYTHON_VERSION) (DIST=, PYTHON_VERSION=)"
	@echo "make deploy  make package, then Serverless Devs 's deploy' of s.yaml to your account (REGION=, ACCESS=)"

# The venv is rebuilt whenever the pinned requirements change.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m upload_broker.dev run

# Every test: the Node client and browser tests' npm packages are installed here when npm is present
# (the browser test also needs Chromium: it says how to get it when it is missing).
test: $(BIN)/.installed node-packages
	$(BIN)/python -m pytest -q -p no:cacheprovider

node-packages:
	@if command -v npm >/dev/null 2>&1; then \
		for dir in tests/node tests/browser; do \
			[ -d $$dir/node_modules ] || npm ci --prefix $$dir --no-audit --no-fund --loglevel=error || exit 1; \
		done; \
	else echo "note: npm is missing, so the Node and browser client tests will be skipped (install Node.js with npm)"; fi

lint: $(BIN)/.installed
	$(BIN)/ruff check shared functions tests

# mypy over shared/upload_broker and functions/ (pyproject.toml [tool.mypy]).
typecheck: $(BIN)/.installed
	$(BIN)/mypy

check: lint typecheck test

invoke: $(BIN)/.installed
	@$(BIN)/python -m upload_broker.dev invoke $(OP) $(EVENT)

token: $(BIN)/.installed
	@test -n "$(SUB)" || { echo "usage: make token SUB=<user> [HOURS=12]" >&2; exit 2; }
	@$(BIN)/python -m upload_broker.dev token --sub "$(SUB)" --hours "$(HOURS)"

# The code package for Function Compute (scripts/package.py): wheels are cached in .broker/wheels.
package: $(BIN)/.installed
	$(BIN)/python scripts/package.py --python-version $(PYTHON_VERSION) --platform $(PLATFORM) --output $(DIST)

# Serverless Devs 3 (npm @serverless-devs/s), pinned, into .tools/ (not global): needs Node.js and npm.
$(TOOLS)/.s-$(S_VERSION):
	@command -v npm >/dev/null 2>&1 || { echo "make deploy needs Node.js (14.14+) with npm: https://nodejs.org/en/download (or your OS's nodejs and npm packages)" >&2; exit 2; }
	npm install --prefix $(TOOLS) --save-exact --no-audit --no-fund --loglevel=error @serverless-devs/s@$(S_VERSION)
	touch $@

# Deploys s.yaml with the code package to the account of an `s config add` access (or of the AccountID,
# AccessKeyID, AccessKeySecret environment variables); REGION is passed to s.yaml in the environment.
deploy: package $(TOOLS)/.s-$(S_VERSION)
	@test -f s.yaml || { echo "make deploy: no s.yaml in $(CURDIR)" >&2; exit 2; }
	@alias='$(ACCESS)'; [ -n "$$alias" ] || alias=$$(sed -n "s/^access:[[:space:]]*[\"']\{0,1\}\([A-Za-z0-9_.-]*\).*/\1/p" s.yaml | head -n 1); \
	alias=$${alias:-default}; \
	if ! { [ -n "$$AccountID" ] && [ -n "$$AccessKeyID" ] && [ -n "$$AccessKeySecret" ]; } && \
		$(S) config get -a "$$alias" 2>&1 | grep -q "not yet been found"; then \
		echo "make deploy: no Serverless Devs access '$$alias': run '$(S) config add -a $$alias' with your Alibaba Cloud AccountID, AccessKeyID and AccessKeySecret (or ACCESS=<alias>)" >&2; \
		exit 2; \
	fi
	REGION=$(REGION) $(S) deploy -y $(if $(ACCESS),-a $(ACCESS))

# One user's issuance and refusal history from the configured ledger (BROKER_LEDGER_URL), newest first.
# SUB, not USER: every shell already sets $USER to the login name.
audit: $(BIN)/.installed
	@test -n "$(SUB)" || { echo "usage: make audit SUB=<user> [LIMIT=100]" >&2; exit 2; }
	@BROKER_LEDGER_URL="$${BROKER_LEDGER_URL:-sqlite:///$${BROKER_STATE_DIR:-$(CURDIR)/.broker}/ledger.sqlite3}" \
		$(BIN)/python -m upload_broker.audit_cli --user "$(SUB)" --limit $(LIMIT)

# A benchmark, not a test: prints and saves figures (bench/results/latest.{json,md}); about 5-6 minutes.
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

# Long runs of what make test runs briefly: fuzzing from openapi.yaml, and a 60 s soak at 32 clients.
fuzz: $(BIN)/.installed
	BROKER_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest -q -p no:cacheprovider tests/functional/test_fuzz.py

soak: $(BIN)/.installed
	$(BIN)/python -m tests.soak --seconds 60

clean:
	rm -rf $(VENV) .broker .pytest_cache .ruff_cache dist
