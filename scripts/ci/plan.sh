#!/usr/bin/env bash
# The plan step of CI: validate, plan (saved to a file), and one sticky comment.
# Inputs (environment; all optional):
#   CONFIG_DIR       policy repository (default .)
#   PLAN_FILE        where to save the plan (default reconciler.plan.json)
#   CUSTOMERS        only these customers, space-separated
#   COMMENT          true: post or update the pull-request comment (default true)
#   COMMENT_KEY      one comment per key (default: CONFIG_DIR)
#   ARTIFACT_NAME    named in the comment as where the saved plan is
#   FAIL_ON_REFUSAL  true: exit 3 when a safety guard refused a customer (default true)
#   RECONCILER       the command (default reconciler)
# Outputs ($GITHUB_OUTPUT, when set): exitcode (0 none, 2 changes, 3 refused,
# 1 error) and plan-file (when a plan was saved). The Markdown also goes to
# $GITHUB_STEP_SUMMARY when set. Exit: 0 for a plan with or without changes.
set -uo pipefail
reconciler=${RECONCILER:-reconciler}
config_dir=${CONFIG_DIR:-.}
plan_file=${PLAN_FILE:-reconciler.plan.json}
key=${COMMENT_KEY:-$config_dir}
log=$(mktemp "${RUNNER_TEMP:-/tmp}/reconciler-log.XXXXXX")
trap 'rm -f "$log"' EXIT

output() {
  echo "$1=$2"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

comment() {
  local args=(--key "$key" --artifact "${ARTIFACT_NAME:-}")
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then args+=(--summary "$GITHUB_STEP_SUMMARY"); fi
  if [ "${COMMENT:-true}" != true ]; then args+=(--no-post); fi
  # A failed comment (a fork's read-only token, an API outage) must not hide the plan itself.
  if ! $reconciler ci comment "$@" "${args[@]}"; then
    echo "::warning::could not post the plan comment; the plan is in the job log and summary"
  fi
}

rm -f "$plan_file"
echo "::group::reconciler validate -c $config_dir"
$reconciler validate -c "$config_dir" 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
echo "::endgroup::"
if [ "$code" -ne 0 ]; then
  echo "::error::reconciler validate failed; see the problems above"
  comment --failed validate --log "$log"
  output exitcode 1
  exit 1
fi

customer_args=()
for c in ${CUSTOMERS:-}; do customer_args+=(--customer "$c"); done
$reconciler plan -c "$config_dir" ${customer_args[@]+"${customer_args[@]}"} \
  -o "$plan_file" --detailed-exitcode 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
output exitcode "$code"

if [ -f "$plan_file" ]; then
  output plan-file "$plan_file"
  comment "$plan_file"
else
  comment --failed plan --log "$log"
fi

case "$code" in
  0 | 2) exit 0 ;;
  3)
    echo "::error::a safety guard refused the plan of at least one customer; see the plan"
    if [ "${FAIL_ON_REFUSAL:-true}" = true ]; then exit 3; fi
    exit 0
    ;;
  *)
    echo "::error::reconciler plan failed (exit $code)"
    exit 1
    ;;
esac
