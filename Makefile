# Corral — see README.md. Everything builds with CGO_ENABLED=0.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X corral/internal/cli.version=$(VERSION)
GO      ?= go
export CGO_ENABLED=0

# Debian packages the tests use as real peers. Installed by `make test-deps`
# when running as root with apt and a package's command is missing.
TEST_PACKAGES := etcd:etcd-server whisper-fetch:python3-whisper carbon-cache:graphite-carbon \
  collectd:collectd-core /usr/lib/nagios/plugins/check_http:monitoring-plugins-basic dockerd:docker.io \
  /usr/share/zoneinfo/Europe/Berlin:tzdata patch:patch python3:python3 \
  /usr/sbin/rsyslogd:rsyslog /usr/sbin/nginx:nginx-light /usr/sbin/logrotate:logrotate

.PHONY: build run test test-deps bench fuzz clean

# bin/corral-supervisor is optional: the agent starts exec tasks under it
# when it lies next to corral (it starts faster than `corral supervise`).
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/corral ./cmd/corral
	$(GO) build -trimpath -ldflags '-s -w' -o bin/corral-supervisor ./internal/driver/exec/cmd/corral-supervisor

run: build
	./bin/corral dev

test-deps:
	@missing=""; for pair in $(TEST_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing test peers:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	      echo "warning: could not install$$missing; tests that need them will skip"; \
	    pkill -x etcd; pkill -x collectd; pkill -f bin/carbon-cache; pkill -x dockerd; pkill -x containerd; pkill -x rsyslogd; pkill -x nginx; true; \
	  else echo "note: not root or no apt: missing$$missing; tests that need them will skip"; fi; \
	fi

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseToken -fuzztime 30s ./internal/pki
	$(GO) test -run '^$$' -fuzz FuzzParseJoinToken -fuzztime 30s ./internal/pki
	$(GO) test -run '^$$' -fuzz FuzzLoadYAML -fuzztime 30s ./internal/manifest
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/resource
	$(GO) test -run '^$$' -fuzz FuzzReadRecord -fuzztime 20s ./internal/spool
	$(GO) test -run '^$$' -fuzz '^FuzzParseLine$$' -fuzztime 20s ./internal/metrics/carbon
	$(GO) test -run '^$$' -fuzz FuzzParsePickle -fuzztime 20s ./internal/metrics/carbon
	$(GO) test -run '^$$' -fuzz FuzzParseLine -fuzztime 20s ./internal/metrics/statsd
	$(GO) test -run '^$$' -fuzz FuzzParseSchemas -fuzztime 20s ./internal/metrics/whisper
	$(GO) test -run '^$$' -fuzz FuzzMatch -fuzztime 20s ./internal/metrics/index
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 30s ./internal/metrics/render
	$(GO) test -run '^$$' -fuzz FuzzParseOptions -fuzztime 20s ./internal/metrics/graph
	$(GO) test -run '^$$' -fuzz FuzzParseRules -fuzztime 20s ./internal/metrics/relay
	$(GO) test -run '^$$' -fuzz FuzzParsePerfdata -fuzztime 20s ./internal/monitor/check
	$(GO) test -run '^$$' -fuzz FuzzParseGraphite -fuzztime 20s ./internal/monitor/check
	$(GO) test -run '^$$' -fuzz FuzzParseRange -fuzztime 20s ./internal/monitor/check
	$(GO) test -run '^$$' -fuzz FuzzParseConstraints -fuzztime 20s ./internal/scheduler

clean:
	rm -rf bin
