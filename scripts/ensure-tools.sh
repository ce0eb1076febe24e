#!/usr/bin/env bash
# Installs what kmsd's tests need when it is missing, so `make test` works on
# a fresh machine: staticcheck (Go module proxy), the AWS CLI, openssl,
# valgrind, the PostgreSQL server, SoftHSM2 (a PKCS#11 token for the HSM
# tests) and Chromium (the console's browser tests) (Debian packages). The PostgreSQL
# store's tests start throwaway clusters with the server's initdb and
# postgres, run as the unprivileged user postgres (which the package creates)
# when the tests run as root.
set -euo pipefail
staticcheck_version=${1:-v0.8.2}
gobin=$(go env GOPATH)/bin

if [ ! -x "$gobin/staticcheck" ]; then
  echo "installing staticcheck $staticcheck_version"
  go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

missing=()
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root: as root, the tests' clusters run as
# postgres, which the package creates; make it if it was removed since.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "creating the system user postgres for the PostgreSQL test clusters"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi
