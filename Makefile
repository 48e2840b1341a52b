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
# The benign suite (tests/benign.py) runs real servers and clients.
TESTPKGS := nmap hping3 tcpdump iproute2 logrotate util-linux jq fail2ban lintian man-db \
            vsftpd lftp tinyproxy curl dnsmasq-base chrony iperf3 traceroute \
            openssh-server openssh-client iputils-ping apache2-utils \
            prometheus-node-exporter logwatch dma rsyslog crowdsec
RUNARGS ?= -o -L

.PHONY: all deps test-deps venv lint run test bench install uninstall deb clean

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

# The test packages include servers (vsftpd, openssh-server, tinyproxy,
# chrony, fail2ban, dnsmasq's base, prometheus-node-exporter, rsyslog,
# crowdsec; dma is the smallest mail agent logwatch's dependency takes)
# that Debian starts on install; the tests
# start their own, inside namespaces.  So they are installed with a
# policy-rc.d that refuses every start (Debian's own mechanism, honoured by
# invoke-rc.d and deb-systemd-invoke), removed afterwards; one the machine
# has already is left as it is.  CrowdSec's package registers with its
# online Central API as it is configured, which fails offline: a non-empty
# online_api_credentials.yaml made first tells it not to (the way its
# postinst leaves to administrators).
define apt_install_unstarted
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing the packages the tests use:$$missing"; \
	  echo "(their services are not started: the tests start their own, in namespaces)"; \
	  made=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	    chmod 755 /usr/sbin/policy-rc.d; made=yes; fi; \
	  if [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then \
	    mkdir -p /etc/crowdsec; \
	    echo "# No Central API: the tests run CrowdSec offline" \
	      > /etc/crowdsec/online_api_credentials.yaml; fi; \
	  rc=0; apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $$missing || rc=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  exit $$rc; \
	fi
endef

deps:
	$(call apt_install,$(RUNPKGS))

test-deps:
	$(call apt_install_unstarted,$(TESTPKGS))

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

# Install for real, independent of this checkout: a wheel of pyiplog in its
# own environment ($(OPT)), `iplog` linked into $(PREFIX)/sbin, man pages,
# the example config and JSON schema (doc), and where their directories
# exist the systemd unit, the logrotate snippet, the fail2ban filter and
# jail and logwatch's service.  /etc/iplog.conf is never overwritten.  `make uninstall` removes
# exactly what was installed (listed in $(OPT)/installed-files).
OPT     ?= /opt/pyiplog
DOC     := $(PREFIX)/share/doc/pyiplog
INSTALLED = $(DESTDIR)$(OPT)/installed-files

install: venv
	rm -rf build/wheel
	$(PY) -m pip wheel -q --no-deps -w build/wheel .
	rm -rf $(DESTDIR)$(OPT)
	$(PYTHON) -m venv --without-pip $(DESTDIR)$(OPT)
	$(PY) -m pip --python $(DESTDIR)$(OPT)/bin/python install -q build/wheel/pyiplog-*.whl
	@# The environment runs from $(OPT), wherever it was staged (DESTDIR).
	grep -l '$(DESTDIR)$(OPT)' $(DESTDIR)$(OPT)/bin/* | xargs -r sed -i 's|$(DESTDIR)$(OPT)|$(OPT)|g'
	: > $(INSTALLED)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	           $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(DOC)
	ln -sf $(OPT)/bin/iplog $(DESTDIR)$(PREFIX)/sbin/iplog
	install -m 644 man/iplog.8 $(DESTDIR)$(PREFIX)/share/man/man8/iplog.8
	install -m 644 man/iplog.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/iplog.conf.5
	install -m 644 conf/iplog.conf.example conf/iplog.schema.json conf/iplog.status.schema.json \
	    README.md $(DESTDIR)$(DOC)/
	printf '%s\n' $(PREFIX)/sbin/iplog $(PREFIX)/share/man/man8/iplog.8 \
	    $(PREFIX)/share/man/man5/iplog.conf.5 $(DOC)/iplog.conf.example \
	    $(DOC)/iplog.schema.json $(DOC)/iplog.status.schema.json $(DOC)/README.md >> $(INSTALLED)
	@if [ -d $(DESTDIR)/etc/systemd/system ]; then \
	  sed 's|/usr/local/sbin/iplog|$(PREFIX)/sbin/iplog|' initscripts/iplog.service \
	    > $(DESTDIR)/etc/systemd/system/iplog.service; \
	  echo /etc/systemd/system/iplog.service >> $(INSTALLED); fi
	@if [ -d $(DESTDIR)/etc/init.d ]; then \
	  sed 's|/usr/local/sbin/iplog|$(PREFIX)/sbin/iplog|' initscripts/iplog.debian \
	    > $(DESTDIR)/etc/init.d/iplog; chmod 755 $(DESTDIR)/etc/init.d/iplog; \
	  echo /etc/init.d/iplog >> $(INSTALLED); fi
	@if [ -d $(DESTDIR)/etc/logrotate.d ]; then \
	  sed 's|/usr/local/sbin/iplog|$(PREFIX)/sbin/iplog|' initscripts/iplog.logrotate \
	    > $(DESTDIR)/etc/logrotate.d/iplog; \
	  echo /etc/logrotate.d/iplog >> $(INSTALLED); fi
	@if [ -d $(DESTDIR)/etc/fail2ban ]; then \
	  install -m 644 initscripts/fail2ban/filter.d/iplog.conf $(DESTDIR)/etc/fail2ban/filter.d/; \
	  install -m 644 initscripts/fail2ban/jail.d/iplog.conf $(DESTDIR)/etc/fail2ban/jail.d/; \
	  printf '%s\n' /etc/fail2ban/filter.d/iplog.conf /etc/fail2ban/jail.d/iplog.conf \
	    >> $(INSTALLED); fi
	@if [ -d $(DESTDIR)/etc/logwatch/conf ]; then \
	  install -d $(DESTDIR)/etc/logwatch/conf/logfiles $(DESTDIR)/etc/logwatch/conf/services \
	             $(DESTDIR)/etc/logwatch/scripts/services; \
	  install -m 644 initscripts/logwatch/logfiles/iplog.conf $(DESTDIR)/etc/logwatch/conf/logfiles/; \
	  install -m 644 initscripts/logwatch/services/iplog.conf $(DESTDIR)/etc/logwatch/conf/services/; \
	  install -m 755 initscripts/logwatch/scripts/iplog $(DESTDIR)/etc/logwatch/scripts/services/; \
	  printf '%s\n' /etc/logwatch/conf/logfiles/iplog.conf /etc/logwatch/conf/services/iplog.conf \
	    /etc/logwatch/scripts/services/iplog >> $(INSTALLED); fi
	@if [ -d $(DESTDIR)/etc/crowdsec ]; then \
	  install -d $(DESTDIR)/etc/crowdsec/parsers/s01-parse $(DESTDIR)/etc/crowdsec/scenarios; \
	  install -m 644 initscripts/crowdsec/parsers/s01-parse/*.yaml $(DESTDIR)/etc/crowdsec/parsers/s01-parse/; \
	  install -m 644 initscripts/crowdsec/scenarios/*.yaml $(DESTDIR)/etc/crowdsec/scenarios/; \
	  printf '%s\n' /etc/crowdsec/parsers/s01-parse/pyiplog-1-message.yaml \
	    /etc/crowdsec/parsers/s01-parse/pyiplog-2-lines.yaml \
	    /etc/crowdsec/scenarios/pyiplog-alarm.yaml \
	    /etc/crowdsec/scenarios/pyiplog-fleet-probe.yaml >> $(INSTALLED); fi
	@if [ ! -e $(DESTDIR)/etc/iplog.conf ]; then \
	  install -d $(DESTDIR)/etc; \
	  install -m 644 conf/iplog.conf.example $(DESTDIR)/etc/iplog.conf; \
	  echo "Installed /etc/iplog.conf from the example: read it."; \
	else echo "/etc/iplog.conf kept as it is."; fi

uninstall:
	@test -f $(INSTALLED) || { echo "nothing installed in $(DESTDIR)$(OPT)"; exit 1; }
	while read -r f; do rm -f "$(DESTDIR)$$f"; done < $(INSTALLED)
	rm -rf $(DESTDIR)$(OPT)
	-rmdir $(DESTDIR)$(DOC) 2>/dev/null

# A Debian package of the same layout (dpkg-deb): build/pyiplog_VERSION-1_ARCH.deb.
# The environment in /opt/pyiplog is made with $(PYTHON), so the package
# depends on that interpreter's X.Y (PYVER) and no other.  Its maintainer
# is whoever builds it: DEBFULLNAME/DEBEMAIL (Debian's convention), else
# git's user.name/user.email; HOMEPAGE= names the project's page, if any.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
ARCH    := $(shell dpkg --print-architecture 2>/dev/null)
DEBROOT := build/deb/root
DEB     := build/pyiplog_$(VERSION)-1_$(ARCH).deb
PYVER   := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYNEXT  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))' 2>/dev/null)
DEBFULLNAME ?= $(shell git config user.name 2>/dev/null)
DEBEMAIL    ?= $(shell git config user.email 2>/dev/null)
MAINTAINER  := $(or $(DEBFULLNAME),pyiplog builder) <$(or $(DEBEMAIL),root@localhost)>
HOMEPAGE    ?=
DEBDATE := $(shell git log -1 --format=%aD 2>/dev/null || date -R)

deb: venv
	rm -rf build/deb
	mkdir -p $(DEBROOT)/etc/init.d $(DEBROOT)/etc/logrotate.d \
	         $(DEBROOT)/etc/fail2ban/filter.d $(DEBROOT)/etc/fail2ban/jail.d \
	         $(DEBROOT)/lib/systemd/system $(DEBROOT)/DEBIAN
	$(MAKE) -s install DESTDIR=$(CURDIR)/$(DEBROOT) PREFIX=/usr OPT=/opt/pyiplog
	rm $(DEBROOT)/opt/pyiplog/installed-files
	find $(DEBROOT)/opt -name __pycache__ -type d -prune -exec rm -rf {} +
	find $(DEBROOT)/opt -name '*.so' -exec strip --strip-unneeded {} +
	find $(DEBROOT)/opt -path '*.dist-info/*' -type f -exec chmod 644 {} +
	rm -f $(DEBROOT)/opt/pyiplog/bin/activate* $(DEBROOT)/opt/pyiplog/bin/Activate.ps1
	install -D -m 644 packaging/deb/lintian-overrides \
	    $(DEBROOT)/usr/share/lintian/overrides/pyiplog
	sed 's|/usr/local/sbin/iplog|/usr/sbin/iplog|' initscripts/iplog.service \
	    > $(DEBROOT)/lib/systemd/system/iplog.service
	install -m 644 packaging/deb/copyright $(DEBROOT)/usr/share/doc/pyiplog/copyright
	@# CrowdSec's collection, linked into /etc/crowdsec by postinst when CrowdSec is there
	cd initscripts/crowdsec && find . -type f -name '*.yaml' -exec install -D -m 644 {} \
	    $(CURDIR)/$(DEBROOT)/usr/share/pyiplog/crowdsec/{} \;
	@# logwatch's packaged service (inert without logwatch; /etc/logwatch overrides it)
	install -D -m 644 initscripts/logwatch/logfiles/iplog.conf \
	    $(DEBROOT)/usr/share/logwatch/default.conf/logfiles/iplog.conf
	install -D -m 644 initscripts/logwatch/services/iplog.conf \
	    $(DEBROOT)/usr/share/logwatch/default.conf/services/iplog.conf
	install -D -m 755 initscripts/logwatch/scripts/iplog \
	    $(DEBROOT)/usr/share/logwatch/scripts/services/iplog
	sed -e 's/@VERSION@/$(VERSION)-1/' -e 's/@MAINTAINER@/$(MAINTAINER)/' -e 's/@DATE@/$(DEBDATE)/' \
	    packaging/deb/changelog.in | gzip -9n > $(DEBROOT)/usr/share/doc/pyiplog/changelog.Debian.gz
	gzip -9n $(DEBROOT)/usr/share/man/man8/iplog.8 $(DEBROOT)/usr/share/man/man5/iplog.conf.5
	install -m 755 packaging/deb/preinst packaging/deb/postinst packaging/deb/prerm \
	    packaging/deb/postrm $(DEBROOT)/DEBIAN/
	install -m 644 packaging/deb/conffiles $(DEBROOT)/DEBIAN/
	sed -e 's/@VERSION@/$(VERSION)-1/' -e 's/@ARCH@/$(ARCH)/' \
	    -e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)/" \
	    -e 's/@PYVER@/$(PYVER)/' -e 's/@PYNEXT@/$(PYNEXT)/' -e 's/@MAINTAINER@/$(MAINTAINER)/' \
	    -e 's|@HOMEPAGE@|$(HOMEPAGE)|' -e '/^Homepage: *$$/d' \
	    packaging/deb/control.in > $(DEBROOT)/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DEBROOT) $(DEB)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
