#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (their real peers and clients; apt needs root), then runs the lints and
# every test. `.ci/run` runs exactly this, then the fuzz smoke and the
# release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Real peers of the tests, from Debian: a compose parser validates
# docker-compose.yml (crates/logagg/tests/system/deploy.rs); Prometheus scrapes the
# services and promtool checks metrics and rules (crates/logagg/tests/system/monitoring.rs);
# rsyslog with omelasticsearch ships to the ingest port's bulk API
# (crates/logagg/tests/system/clients.rs); Chromium and its WebDriver drive the
# web UI and the API docs (crates/logagg/tests/system/browser.rs); nginx runs
# deploy/gateway.conf in front of the services (crates/logagg/tests/system/gateway.rs);
# curl and openssl are the TLS clients of crates/logagg/tests/system/tls.rs.
# The full-disk test mounts a small tmpfs (needs root, as CI runs).
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/sbin/rsyslogd ] || missing+=(rsyslog)
compgen -G "/usr/lib/*/rsyslog/omelasticsearch.so" >/dev/null || missing+=(rsyslog-elasticsearch)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/test.sh: run as root to install ${missing[*]} (or install them first)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Real clients of the tests, from PyPI: the Elasticsearch client, the
# OpenTelemetry SDK with its OTLP/HTTP exporter, Schemathesis (the
# OpenAPI fuzzer of crates/logagg/tests/system/openapi.rs), and the Kubernetes
# schema validator (crates/logagg/tests/system/deploy.rs).
python3 -m pip install -q --disable-pip-version-check -r crates/logagg/tests/clients/requirements.txt

# Every declared dependency is used (the workspace-hack crate's are there
# only to unify features: see Cargo.toml).
command -v cargo-machete >/dev/null 2>&1 || cargo install -q --locked cargo-machete
cargo machete $(ls -d crates/*/ | grep -v workspace-hack) fuzz

cargo fmt --all --check

cargo clippy --workspace --all-targets -- -D warnings
# Optimised, as the binaries ship: the release build that follows in
# `.ci/run` then reuses what the tests compiled (the workspace-hack crate
# gives both builds the same dependency features), and the load-heavy
# tests run faster.
cargo test --release --workspace
