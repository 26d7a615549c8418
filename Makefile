# The few commands a person types. Every target installs what it needs into .venv first.
.PHONY: run test check lint invoke deploy audit bench fuzz soak clean help

PYTHON ?= python3
PORT ?= 8000
REGION ?= cn-shanghai
OP ?= create_upload_video
EVENT ?= tests/events/$(OP).json
LIMIT ?= 100
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/shared:$(CURDIR)
export PORT

help:
	@echo "make run     serve every route on 127.0.0.1:$(PORT) (fake upstreams when no credentials are set)"
	@echo "make test    run every test"
	@echo "make check   lint + tests, as CI does"
	@echo "make invoke  OP=create_upload_video EVENT=tests/events/create_upload_video.json"
	@echo "make audit   USER=alice: one user's history from the ledger (BROKER_LEDGER_URL)"
	@echo "make bench   benchmark suite: overhead, throughput, cold start, memory (bench/results/)"
	@echo "make fuzz    long schemathesis run from openapi.yaml;  make soak: 60 s at 32 clients"
	@echo "make deploy  deploy template.yml with Serverless Devs / Fun (needs Alibaba Cloud credentials)"

# The venv is rebuilt whenever the pinned requirements change.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m upload_broker.dev run

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(BIN)/.installed
	$(BIN)/ruff check shared functions tests

check: lint test

invoke: $(BIN)/.installed
	$(BIN)/python -m upload_broker.dev invoke $(OP) $(EVENT)

# Needs Serverless Devs (`npm i -g @serverless-devs/s`) or Fun, and an Alibaba Cloud account: it cannot
# run on a machine without credentials and network access to Alibaba Cloud.
deploy:
	fun deploy --template template.yml --region $(REGION) --use-ros --stack-name upload-credential-broker

# One user's issuance and refusal history from the configured ledger (BROKER_LEDGER_URL), newest first.
audit: $(BIN)/.installed
	@test -n "$(USER)" || (echo "usage: make audit USER=<sub> [LIMIT=100]" >&2; exit 2)
	BROKER_LEDGER_URL="$${BROKER_LEDGER_URL:-sqlite:///$(CURDIR)/.broker/ledger.sqlite3}" \
		$(BIN)/python -m upload_broker.audit_cli --user "$(USER)" --limit $(LIMIT)

# A benchmark, not a test: prints and saves figures (bench/results/latest.{json,md}); about 4 minutes.
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

# Long runs of what make test runs briefly: fuzzing from openapi.yaml, and a 60 s soak at 32 clients.
fuzz: $(BIN)/.installed
	BROKER_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest -q -p no:cacheprovider tests/functional/test_fuzz.py

soak: $(BIN)/.installed
	$(BIN)/python -m tests.soak --seconds 60

clean:
	rm -rf $(VENV) .broker .pytest_cache .ruff_cache
