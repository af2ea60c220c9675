#!/bin/sh
# cbsync-entrypoint: the container's entrypoint for cbsync.
#
#   cbsync-entrypoint                       run the agent (cbsync agent)
#   cbsync-entrypoint restore-then-agent [AGENT OPTIONS]
#                                           restore the database if it is
#                                           missing, then run the agent
#   cbsync-entrypoint agent [OPTIONS]       run the agent; first restore as
#                                           above if CBSYNC_RESTORE_ON_START
#                                           is true
#   cbsync-entrypoint --option ...          the same as: agent --option ...
#   cbsync-entrypoint VERB [ARGS]           cbsync VERB [ARGS], e.g. list,
#                                           backup --type manual, status
#
# The restore step is
#     cbsync restore --latest --if-db-not-exists --if-backup-exists
# which does nothing when the database exists, does nothing (and says so)
# when no tier holds a backup yet (a first deployment), and otherwise
# installs the newest backup any tier holds, after checking it.  If it fails
# the agent is not started and this script exits with cbsync's exit status,
# after one line saying so.
#
# Environment read here (everything else is cbsync's own configuration):
#   CBSYNC_RESTORE_ON_START  true/false (default false): restore before `agent`
#   CBSYNC_BIN               the cbsync binary (default: cbsync on PATH)
# Both are removed from the environment cbsync sees.
#
# The agent is exec'd, so it receives the container's signals directly
# (SIGTERM: stop, exit 0; SIGHUP: reload).  During the restore step a
# SIGTERM or SIGINT is passed on to the restore, and the agent is then not
# started.
set -u

me=cbsync-entrypoint
bin=${CBSYNC_BIN:-cbsync}
restore_on_start=${CBSYNC_RESTORE_ON_START:-false}
unset CBSYNC_BIN CBSYNC_RESTORE_ON_START

# [log] format = json: every line of the container's log is JSON, this
# script's and the restore's included (its summary on stdout is left out;
# its operations-log line on stderr says the same).  The format is
# CBSYNC_LOG_FORMAT's, else the configuration file's ([log] format in the
# file --config, CBSYNC_CONFIG or /etc/cbsync/cbsync.conf names).
log_json=false
find_log_format() {
	file=${CBSYNC_CONFIG:-/etc/cbsync/cbsync.conf}
	prev=
	for a in "$@"; do
		[ "$prev" = --config ] && file=$a
		case $a in --config=*) file=${a#--config=} ;; esac
		prev=$a
	done
	format=${CBSYNC_LOG_FORMAT:-}
	if [ -z "$format" ] && [ -r "$file" ]; then
		# As cbsync reads it: CRLF, a BOM, comments after # or ;, any case,
		# "=" or ":".
		format=$(awk '
			{ sub(/\r$/, ""); if (NR == 1) sub(/^\357\273\277/, "") }
			/^[ \t]*\[/ {
				s = $0; sub(/\].*$/, "", s); gsub(/[[ \t"]/, "", s)
				section = tolower(s); next
			}
			section == "log" && tolower($0) ~ /^[ \t]*format[ \t]*[=:]/ {
				v = $0; sub(/^[^=:]*[=:][ \t]*/, "", v); sub(/[ \t]*[#;].*$/, "", v)
				gsub(/["\047 \t]/, "", v); print tolower(v); exit
			}' "$file")
	fi
	case $(printf '%s' "$format" | tr '[:upper:]' '[:lower:]') in
	json) log_json=true ;;
	esac
}

# A JSON string's body for $1: backslashes and quotes escaped, control
# characters dropped.
json_text() {
	printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'
}

say() {
	if [ "$log_json" = true ]; then
		printf '{"time":"%s","level":"error","component":"%s","msg":"%s"}\n' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$me" "$(json_text "$*")" >&2
	else
		printf '%s: %s\n' "$me" "$*" >&2
	fi
}

usage() {
	cat <<EOF
usage: $me [restore-then-agent | agent | VERB] [ARGS...]

  (no arguments)              cbsync agent
  restore-then-agent [OPTS]   cbsync restore --latest --if-db-not-exists
                              --if-backup-exists, then cbsync agent [OPTS]
  agent [OPTS]                cbsync agent [OPTS]; restore first as above if
                              CBSYNC_RESTORE_ON_START=true
  --OPTION ...                cbsync agent --OPTION ...
  VERB [ARGS]                 cbsync VERB [ARGS] (list, status, backup, ...)

cbsync is configured by CBSYNC_* environment variables or a file named by
CBSYNC_CONFIG; see cbsync(1).
EOF
}

# Run "$@" in the background and wait for it, passing SIGTERM and SIGINT on,
# so that the shell (PID 1 in a container) does not swallow them.  Sets
# status to the command's exit status, and stopping to 1 if a signal came.
status=0
stopping=0
run_forwarding_signals() {
	"$@" &
	child=$!
	trap 'stopping=1; kill -TERM "$child" 2>/dev/null' TERM
	trap 'stopping=1; kill -INT "$child" 2>/dev/null' INT
	while :; do
		wait "$child"
		status=$?
		# A trapped signal interrupts wait; the child may still be running.
		kill -0 "$child" 2>/dev/null || break
	done
	trap - TERM INT
}

restore_then_agent() {
	find_log_format "$@"
	if [ "$log_json" = true ]; then
		run_forwarding_signals sh -c 'exec "$@" >/dev/null' restore "$bin" restore --latest \
			--if-db-not-exists --if-backup-exists
	else
		run_forwarding_signals "$bin" restore --latest --if-db-not-exists --if-backup-exists
	fi
	if [ "$stopping" = 1 ]; then
		[ "$status" -ne 0 ] || status=130
		say "stopped during the restore (exit $status); the agent was not started"
		exit "$status"
	fi
	if [ "$status" -ne 0 ]; then
		say "the restore before start failed (cbsync exit $status); the agent was not started"
		exit "$status"
	fi
	exec "$bin" agent "$@"
}

find_log_format "$@"

case $restore_on_start in
true | yes | on | 1) restore_on_start=true ;;
false | no | off | 0 | "") restore_on_start=false ;;
*)
	say "CBSYNC_RESTORE_ON_START: \"$restore_on_start\" is not a boolean (true or false)"
	exit 2
	;;
esac

case ${1-} in
-h | --help)
	usage
	exit 0
	;;
esac

if ! command -v "$bin" >/dev/null 2>&1; then
	say "cannot run cbsync: \"$bin\" is neither an executable file nor a command on PATH"
	exit 127
fi

if [ $# -eq 0 ]; then
	set -- agent
fi
case $1 in
restore-then-agent)
	shift
	restore_then_agent "$@"
	;;
agent)
	shift
	[ "$restore_on_start" = false ] || restore_then_agent "$@"
	exec "$bin" agent "$@"
	;;
-*)
	[ "$restore_on_start" = false ] || restore_then_agent "$@"
	exec "$bin" agent "$@"
	;;
*)
	exec "$bin" "$@"
	;;
esac
