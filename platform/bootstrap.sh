#!/usr/bin/env bash
# Creates the k3d data-plane cluster, installs a pinned ArgoCD, creates the Secrets the manifests
# reference (never committed), and applies the app-of-apps. After this, git is the source of truth.
#
#   REPO_URL=https://github.com/<you>/mlops-actions.git platform/bootstrap.sh
#
# Needs k3d, kubectl and openssl on PATH. Safe to run again: every step checks before it creates.
# Environment:
#   REPO_URL          the git URL ArgoCD syncs from; must equal repoURL in platform/argocd/**/*.yaml
#   ARGOCD_VERSION    ArgoCD release to install (default pinned below)
#   CLUSTER_CONFIG    k3d config (default platform/k3d/cluster.yaml)
#   RELAY_GITHUB_TOKEN     optional; a token that may send repository_dispatch, stored with a random
#                          relay bearer token as Secret mlops/alertmanager-relay (Alertmanager -> relay)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ARGOCD_VERSION=${ARGOCD_VERSION:-v3.3.8}
CLUSTER_CONFIG=${CLUSTER_CONFIG:-$here/k3d/cluster.yaml}
CLUSTER_NAME=$(sed -n 's/^  name: *//p' "$CLUSTER_CONFIG" | head -n1)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

for tool in k3d kubectl openssl; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

# ArgoCD reads the child Applications from git, so their repoURL must already point at your fork.
[ -n "${REPO_URL:-}" ] || die "set REPO_URL to the git URL ArgoCD should sync (your fork of this repository)"
mismatched=$(grep -rl 'repoURL:\|^    - https://' "$here/argocd" | xargs grep -L -F "$REPO_URL" || true)
[ -z "$mismatched" ] || die "repoURL in these files is not $REPO_URL (edit, commit and push them first): $mismatched"

if k3d cluster list -o json | grep -q "\"name\":\"$CLUSTER_NAME\""; then
  log "k3d cluster $CLUSTER_NAME exists"
else
  log "creating k3d cluster $CLUSTER_NAME (6550->6443, 8080->80, 30808, 30900)"
  k3d cluster create --config "$CLUSTER_CONFIG"
fi
kubectl config use-context "k3d-$CLUSTER_NAME" >/dev/null

log "installing ArgoCD $ARGOCD_VERSION"
kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f -
# Server-side apply: some ArgoCD CRDs are larger than client-side apply's annotation limit.
kubectl apply -n argocd --server-side --force-conflicts \
  -f "https://raw.githubusercontent.com/argoproj/argo-cd/$ARGOCD_VERSION/manifests/install.yaml"
kubectl -n argocd rollout status deploy/argocd-repo-server --timeout=300s
kubectl -n argocd rollout status deploy/argocd-server --timeout=300s
kubectl -n argocd rollout status statefulset/argocd-application-controller --timeout=300s

log "creating the CI identity that may watch and refresh the iris-classifier Application, nothing else"
kubectl apply -k "$here/argocd/ci-access"

log "creating Secrets that the manifests reference (values never leave this machine)"
for ns in iris mlops; do
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
done
# Values go through files in a private directory, not argv (which other local users can read).
secrets_dir=$(mktemp -d)
chmod 700 "$secrets_dir"
trap 'rm -rf "$secrets_dir"' EXIT
if ! kubectl -n mlops get secret grafana-admin >/dev/null 2>&1; then
  printf admin >"$secrets_dir/admin-user"
  openssl rand -base64 24 | tr -d '\n' >"$secrets_dir/admin-password"
  kubectl -n mlops create secret generic grafana-admin \
    --from-file=admin-user="$secrets_dir/admin-user" --from-file=admin-password="$secrets_dir/admin-password"
  echo "Grafana password: kubectl -n mlops get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d"
fi
# MLflow's PostgreSQL password (the database and the server read it; never rotate it by recreating
# the Secret alone: the database keeps the password it was initialised with).
if ! kubectl -n mlops get secret mlflow-postgres >/dev/null 2>&1; then
  openssl rand -hex 24 | tr -d '\n' >"$secrets_dir/pg-password"
  kubectl -n mlops create secret generic mlflow-postgres --from-file=password="$secrets_dir/pg-password"
fi
# The relay's bearer token (shared with Alertmanager) and the GitHub token it dispatches with.
if [ -n "${RELAY_GITHUB_TOKEN:-}" ] && ! kubectl -n mlops get secret alertmanager-relay >/dev/null 2>&1; then
  openssl rand -hex 32 | tr -d '\n' >"$secrets_dir/relay-token"
  printf '%s' "$RELAY_GITHUB_TOKEN" >"$secrets_dir/github-token"
  kubectl -n mlops create secret generic alertmanager-relay \
    --from-file=relay-token="$secrets_dir/relay-token" --from-file=github-token="$secrets_dir/github-token"
fi

log "applying the app-of-apps"
kubectl apply -f "$here/argocd/root.yaml"

log "done: ArgoCD now syncs $REPO_URL"
echo "ArgoCD UI: kubectl -n argocd port-forward svc/argocd-server 8443:443"
echo "admin password: kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d"
echo "iris-classifier: http://localhost:30808/readyz   Grafana: http://localhost:30900"
echo "CI kubeconfig token (1h): kubectl -n argocd create token mlops-ci --duration=1h"
