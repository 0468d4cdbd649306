# make demo   set up .venv and run the offline demo: a campaign of tiny CLIP + SigLIP x 3 seeds on synthetic
#             HAR-named images to outputs/demo/report/REPORT.md (CPU, ~1 min on 2 cores)
# make test   set up .venv and run the whole test suite (Slurm tests install and start a local cluster)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# one thread per process: the tiny models gain nothing from more, and on a busy 2-core machine two threads each
# made the demo 4x slower (measured 3 min 15 s vs 43 s)
demo: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV)/bin/python -m har_finetune.demo

test: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
