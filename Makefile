# Two commands: `make demo` (set up, then run the main job on the embedded data)
# and `make test` (set up, then run the test suite); `make test-fast` and `make lint` for the edit loop. All create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs/demo

.PHONY: setup system-packages demo test test-fast test-gpu lint clean

setup: $(STAMP)

# Debian's mricron-data ships the Colin27 T1 brain used by the embedded dataset
# (bart is the TV baseline, graphviz draws the searched cells). Without root or apt the data builder falls back
# to the MNI152 template from the nilearn wheel and says so.
system-packages:
	@if [ -f /usr/share/mricron/templates/ch2.nii.gz ] && command -v bart >/dev/null && command -v dot >/dev/null; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mricron-data bart graphviz >/dev/null) \
		|| echo "warning: apt-get could not install mricron-data; embedded data will use MNI152 only"; \
	else echo "note: no root/apt; embedded data will use the MNI152 template only"; fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,export,tensorboard,ray,raw]'
	# fastMRI's own package for the parity tests, without its heavy dependencies (torchvision, an old Lightning)
	$(BIN)/pip install -q --no-deps fastmri==0.3.0 runstats==2.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nasengine demo --out $(OUT) --force

# Two pytest workers, one torch thread each (tests/conftest.py), tests handed out as workers free up;
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal tests

# The edit-test loop: every test but the end-to-end trainings, DDP, kills and benchmark runs (marker `slow`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow" tests

# The GPU tier: search/retrain steps on CUDA against the CPU, bf16 autocast, DDP on one GPU, export from CUDA.
# Skipped, with the reason, where PyTorch sees no CUDA GPU (make test runs it too).
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu -rs tests

# ruff (configured in pyproject.toml): unused and undefined names, pycodestyle, import order.
lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info
