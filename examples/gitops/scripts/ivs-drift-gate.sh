#!/usr/bin/env bash
# The drift gate before a deployment: `ivsrt drift` on each named stack that is deployed, failing on
# drift. A stack not deployed yet has nothing to drift from and is skipped; any other error of
# DescribeStacks fails the gate, so that a missing permission never passes for "in sync".
#
#   scripts/ivs-drift-gate.sh [--json] STACK [STACK ...]
#
# Options go to ivsrt drift. Exit code: ivsrt drift's (0 in sync, 1 drift or orphans, 2 an error),
# 0 when none of the stacks is deployed. Needs the AWS CLI, ivsrt (installed with constructs-ivsrt,
# docs/gitops.md) and credentials for the detector (docs/guide.md, "Drift"). Also the nightly check.
set -euo pipefail

options=()
stacks=()
for argument in "$@"; do
  case "$argument" in
    -*) options+=("$argument") ;;
    *) stacks+=("$argument") ;;
  esac
done
if ((${#stacks[@]} == 0)); then
  echo "usage: $0 [--json] STACK [STACK ...]" >&2
  exit 2
fi

deployed=()
for stack in "${stacks[@]}"; do
  if error=$(aws cloudformation describe-stacks --stack-name "$stack" 2>&1 >/dev/null); then
    deployed+=("$stack")
  elif [[ $error == *"does not exist"* ]]; then
    echo "$stack: not deployed yet, nothing to check" >&2
  else
    echo "$stack: $error" >&2
    exit 2
  fi
done
if ((${#deployed[@]} == 0)); then
  exit 0
fi
exec ivsrt drift "${options[@]}" "${deployed[@]}"
