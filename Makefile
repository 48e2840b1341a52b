# pyiplog: the two commands of the README are `make run` and `make test`.
# Both install what they need (Debian/Ubuntu packages, a virtualenv in .venv).

# The distribution's interpreter (what python3-venv and python3-dev are for);
# Debian's build is also markedly faster than a plain source build.
PYTHON  ?= /usr/bin/python3
VENV    := .venv
PY      := $(VENV)/bin/python
IPLOG   := $(VENV)/bin/iplog
PREFIX  ?= /usr/local
RUNPKGS := libpcap-dev python3-venv python3-dev gcc netbase
# The live tests use real scanners, capture, rotation and namespaces.
TESTPKGS := nmap hping3 tcpdump iproute2 logrotate util-linux jq fail2ban
RUNARGS ?= -o -L

.PHONY: all deps test-deps venv lint run test bench install uninstall clean

all: venv

# System packages, installed only when missing (apt-get update only then).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call apt_install,$(RUNPKGS))

test-deps:
	$(call apt_install,$(TESTPKGS))

$(VENV)/.installed: pyproject.toml
	$(MAKE) deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Foreground daemon logging to stdout on the default interfaces (Ctrl-C stops it).
run: venv
	$(IPLOG) $(RUNARGS)

# Lint and format checks (ruff, configured in pyproject.toml), then every test.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv test-deps lint
	$(PY) -m pytest -q $(PYTESTARGS)

bench: venv
	$(PY) bench/run.py

# Install for real: the `iplog` command in $(PREFIX)/sbin, man pages, example config.
install: venv
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5
	ln -sf $(CURDIR)/$(IPLOG) $(DESTDIR)$(PREFIX)/sbin/iplog
	install -m 644 man/iplog.8 $(DESTDIR)$(PREFIX)/share/man/man8/iplog.8
	install -m 644 man/iplog.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/iplog.conf.5
	@test -e /etc/iplog.conf || echo "No /etc/iplog.conf: see conf/iplog.conf.example"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/iplog $(DESTDIR)$(PREFIX)/share/man/man8/iplog.8 \
	      $(DESTDIR)$(PREFIX)/share/man/man5/iplog.conf.5

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
