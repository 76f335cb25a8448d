#!/usr/bin/env bash
# The apply step of CI: apply the plan reviewed in the merged pull request.
# `reconciler ci apply` applies it while it is fresh (same config, same state); when
# stale it plans again and applies only if the new plan makes exactly the reviewed
# changes. Otherwise nothing is applied: the new plan is saved to NEW_PLAN_FILE,
# shown on the pull request and in the job summary, and the step fails (exit 2).
# Inputs (environment):
#   CONFIG_DIR       policy repository (default .)
#   PLAN_ARTIFACT    artifact with the reviewed plan (default reconciler-plan)
#   PLAN_FILE        the plan's file name inside it (default reconciler.plan.json)
#   PLAN_RUN_ID      take the reviewed plan of this run (a manual re-run after a
#                    review of a stopped apply); default: the run of the head
#                    commit of the pull request merged as GITHUB_SHA
#   NEW_PLAN_FILE    where a plan that needs review is saved (default reconciler.plan.json)
#   COMMENT          true: tell the pull request when apply stops (default true)
#   GITHUB_EVENT_NAME  schedule: apply no reviewed plan, only report drift (exit 2)
#   RECONCILER       the command (default reconciler)
set -uo pipefail
reconciler=${RECONCILER:-reconciler}
config_dir=${CONFIG_DIR:-.}
artifact=${PLAN_ARTIFACT:-reconciler-plan}
plan_name=$(basename "${PLAN_FILE:-reconciler.plan.json}")
new_plan=${NEW_PLAN_FILE:-reconciler.plan.json}
work=$(mktemp -d "${RUNNER_TEMP:-/tmp}/reconciler-apply.XXXXXX")
trap 'rm -rf "$work"' EXIT

output() {
  echo "$1=$2"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

if [ -n "${PLAN_RUN_ID:-}" ]; then
  where=(--run-id "$PLAN_RUN_ID")
else
  where=(--pr-of-commit "${GITHUB_SHA:?GITHUB_SHA is not set}")
fi
if [ "${GITHUB_EVENT_NAME:-}" = schedule ]; then
  : >"$work/info" # a scheduled run reports drift; it applies no reviewed plan
else
  $reconciler ci fetch "$artifact" -o "$work/reviewed" "${where[@]}" --missing-ok >"$work/info" || exit 1
fi
cat "$work/info"
pr=$(sed -n 's/^pr=//p' "$work/info")
reviewed="$work/reviewed/$plan_name"
if [ ! -f "$reviewed" ]; then
  echo "::warning::no reviewed plan found for this commit; planning, and applying only if there is nothing to change"
fi

rm -f "$new_plan"
$reconciler ci apply -c "$config_dir" --reviewed "$reviewed" -o "$new_plan"
code=$?
output exitcode "$code"
if [ "$code" -eq 2 ]; then
  output plan-file "$new_plan"
  args=(--key "$config_dir:apply" --title "Not applied: the plan changed after review" --artifact "$artifact")
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then args+=(--summary "$GITHUB_STEP_SUMMARY"); fi
  if [ -n "$pr" ] && [ "${COMMENT:-true}" = true ]; then args+=(--pr "$pr"); else args+=(--no-post); fi
  $reconciler ci comment "$new_plan" "${args[@]}" ||
    echo "::warning::could not post the new plan to the pull request"
  echo "::error::not applied: the plan differs from the reviewed one; review the new plan (artifact $artifact of this run) and re-run the apply workflow with plan-run-id set to this run's id, or open a pull request"
fi
exit "$code"
