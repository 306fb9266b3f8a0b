# Progress of a first build, sourced by the build scripts of hack/: each step says what it builds,
# its number of the steps planned and about how long is left; go's own output (the many
# "go: downloading" lines) goes to a log file whose path is printed first and again on failure.
#
#   source hack/progress.sh
#   progress_plan <tool> <log file> "<label>:<seconds>" ...   the steps this run will take
#   progress_step <command> [args...]                         runs the next step's command
#
# The seconds are the step's first-build time measured on 2 idle cores (see each script). What is
# left is their sum for the steps to come, scaled by this machine's pace on the steps done so far,
# so a busy machine's estimate grows after the first step.

PROGRESS_TOOL=""
PROGRESS_LOG=""
PROGRESS_LABELS=()
PROGRESS_EST=()
PROGRESS_I=0
PROGRESS_EST_DONE=0
PROGRESS_ACT_DONE=0

# progress_duration <seconds>: "40 s" or "7 min".
progress_duration() {
  if (( $1 < 90 )); then echo "$1 s"; else echo "$(( ($1 + 30) / 60 )) min"; fi
}

progress_plan() {
  PROGRESS_TOOL=$1 PROGRESS_LOG=$2
  shift 2
  PROGRESS_LABELS=() PROGRESS_EST=() PROGRESS_I=0 PROGRESS_EST_DONE=0 PROGRESS_ACT_DONE=0
  local s total=0
  for s in "$@"; do
    PROGRESS_LABELS+=("${s%:*}")
    PROGRESS_EST+=("${s##*:}")
    total=$(( total + ${s##*:} ))
  done
  mkdir -p "$(dirname "$PROGRESS_LOG")"
  : >"$PROGRESS_LOG"
  echo "$PROGRESS_TOOL: first build, ${#PROGRESS_LABELS[@]} steps, about $(progress_duration "$total") on 2 idle cores (longer on a busy machine); go's output: $PROGRESS_LOG" >&2
}

# progress_left: the estimate for the steps not done yet, at this machine's pace so far.
progress_left() {
  local i left=0
  for (( i = PROGRESS_I; i < ${#PROGRESS_EST[@]}; i++ )); do left=$(( left + PROGRESS_EST[i] )); done
  if (( PROGRESS_EST_DONE > 0 )); then left=$(( left * PROGRESS_ACT_DONE / PROGRESS_EST_DONE )); fi
  echo "$left"
}

progress_step() {
  local n=$(( PROGRESS_I + 1 )) total=${#PROGRESS_LABELS[@]} label=${PROGRESS_LABELS[$PROGRESS_I]} start=$SECONDS
  echo "$PROGRESS_TOOL: [$n/$total] $label (about $(progress_duration "$(progress_left)") left) ..." >&2
  echo "### [$n/$total] $label: $*" >>"$PROGRESS_LOG"
  if ! "$@" >>"$PROGRESS_LOG" 2>&1; then
    tail -n 20 "$PROGRESS_LOG" >&2
    echo "$PROGRESS_TOOL: [$n/$total] $label failed; its full output is in $PROGRESS_LOG" >&2
    return 1
  fi
  local took=$(( SECONDS - start ))
  PROGRESS_EST_DONE=$(( PROGRESS_EST_DONE + PROGRESS_EST[PROGRESS_I] ))
  PROGRESS_ACT_DONE=$(( PROGRESS_ACT_DONE + (took > 0 ? took : 1) ))
  PROGRESS_I=$n
  echo "$PROGRESS_TOOL: [$n/$total] $label done in $(progress_duration "$took")" >&2
}
