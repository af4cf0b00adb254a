#!/bin/bash
# shellcheck disable=SC2030,SC2031 # probe() gives its subshell the path of its own descriptors (fds); nothing else is set in a subshell for later
# Install-ACMCertificate: installs the bundle in the secret SSM_SecretId in the formats asked for,
# reloads the service and checks that it serves the new certificate. SSM Agent runs it as root
# (sh -c <file>), each document parameter in an SSM_* variable. With SSM_Action=Remove (the Remove
# document) it removes every file below and its .previous; with Check (the drift check) it reports the
# certificate installed and served, and changes nothing. Files (README "What gets installed"):
#   CertDirectory: <CertName>-cert.pem (always), -chain.pem, -fullchain.pem (pem)           0644
#   KeyDirectory:  <CertName>-privkey.pem (pem), -combined.pem, -keystore.p12/.pass (pkcs12)  0600
# Guarantees:
# - Its own shell: it starts again without what the environment could set in it (SHELLOPTS=xtrace,
#   BASHOPTS, BASH_ENV, exported functions), and never uses TMPDIR.
# - Every SSM_* value is checked again, by the document's allowedPattern, before any use.
# - Nothing a non-root user can write turns it against the host. Every directory on the way must be
#   root's or FileOwner's and writable by nobody else (a parent may be sticky); each is opened through
#   the descriptor of the one before and checked, then reached only through its own. Links are followed
#   only where root made them in a directory only root may change. A missing directory is made through
#   its parent and given its group through its own descriptor. Files are made whole in a root-only
#   staging directory inside their directory and renamed into place: what is planted at a target is
#   replaced, never followed or opened. A file a user can write is read without following a link,
#   without blocking, bounded in size and time; the keystore's password file only when nobody but its
#   rightful owner could have put it there. It removes only what it made, proven by recorded inodes.
# - Never where the host trusts CAs (OpenSSL's CA directory, /etc/ssl/certs, /etc/pki/ca-trust, ...).
# - One run of a CertName at a time (a lock in /run/cert-lifecycle); a deadline inside the document's
#   600 s: the lock wait is what is left after the secret, reload, check and rollback are provided for.
# - SIGKILL of the process group at any instant (SSM's cancel and timeout) leaves the key only in the
#   target directories and /run/cert-lifecycle, and every change of a target directory is journaled
#   first (/var/lib/cert-lifecycle): the next run of the name first undoes an unverified install
#   (reloading the service if its reload had begun) or completes a verified one.
# - Atomic per file (a combined PEM or keystore switches key and certificate at once; PEM files switch
#   in turn: certificate, chain, full chain, key), reversible as a whole: a failed write, reload or
#   check, or SIGTERM/INT/HUP, puts every previous file back, uninterrupted. Replaced files are kept as
#   <file>.previous, never more readable than the new ones.
# - Idempotent: when every file already is what the secret makes, it writes nothing in the target
#   directories (no mtime or ctime changes) and does not reload.
# - It never prints key material or a password. Every failure ends with one ERROR: line. A good run
#   ends with RESULT cert_name=… status=installed|unchanged|reloaded serial=… not_after=… sha256=…
#   formats=… served=…|unchecked (Remove: status=removed|absent files=…; Check: status=present serial=…
#   not_after=… sha256=… [served=…], or status=missing).
# Only root can set (the tests do): CERT_LIFECYCLE_RUN_DIRECTORY, _STATE_DIRECTORY, _LOCK_WAIT_SECONDS,
# _EXECUTION_TIMEOUT, _RELOAD_SECONDS.

# exec keeps the process and its PID, which marks the second start.
# shellcheck disable=SC2317 # finish() and what it calls run from the EXIT trap
if [[ ${CERT_LIFECYCLE_SHELL:-} != "$$" ]]; then
  [[ -f $0 ]] || { echo "ERROR: run this script as a file, as SSM Agent does" >&2; exit 1; }
  clean=(-u SHELLOPTS -u BASHOPTS -u BASH_ENV -u ENV -u CDPATH -u GLOBIGNORE -u TMPDIR -u POSIXLY_CORRECT -u PS4)
  while read -r _ _ exported; do clean+=(-u "BASH_FUNC_${exported}%%"); done < <(declare -Fx)
  exec /usr/bin/env "${clean[@]}" CERT_LIFECYCLE_SHELL=$$ "$BASH" --norc --noprofile -- "$0"
fi
unset CERT_LIFECYCLE_SHELL
set -Eeuo pipefail
umask 077
export LC_ALL=C

# --- A target's certificates: each installed by its own run of this file, in turn ------------------
# SSM_Certificates (the target's association, and the export's own command) lists secrets. Each is
# installed by a run of this file of its own, so one that fails stops no other: each has its own lock,
# journal, files, RESULT or ERROR line, and deadline (what is left of the document's, 600 s at most).
# After each, the host records the outcome as its own Systems Manager compliance item (type
# Custom:CertLifecycle_<mapping id>), which the workflow and the convergence results read: SSM cuts a
# run's output, a compliance item it keeps whole. A failed record is said, and changes no outcome.
if [[ -n ${SSM_Certificates:-} ]]; then
  list_fail() {
    echo "ERROR: $*" >&2
    exit 1
  }
  [[ ${SSM_Action:-Install} == Install ]] || list_fail "parameter Certificates is for Action=Install only"
  listed_text=$SSM_Certificates
  [[ ${#listed_text} -le 10099 && $listed_text =~ ^[^\ ]+(\ [^\ ]+)*$ ]] || list_fail "parameter Certificates is not valid"
  read -r -a listed <<<"$listed_text"
  ((${#listed[@]} <= 100)) || list_fail "parameter Certificates is not valid"
  listed_names=" "
  for id in "${listed[@]}"; do
    if ((${#id} > 100)) || [[ ! $id =~ ^acm-passphrase/([A-Za-z0-9]+([._-][A-Za-z0-9]+)*)/[0-9a-f]{16}$ ]]; then
      list_fail "parameter Certificates is not valid"
    fi
    [[ $listed_names != *" ${BASH_REMATCH[1]} "* ]] || list_fail "parameter Certificates names ${BASH_REMATCH[1]} twice: two certificates would share its files"
    listed_names+="${BASH_REMATCH[1]} "
  done
  run_seconds=${CERT_LIFECYCLE_EXECUTION_TIMEOUT:-3600} # the document's; then SSM kills the group
  [[ $run_seconds =~ ^[1-9][0-9]{0,4}$ ]] || list_fail "parameter CERT_LIFECYCLE_EXECUTION_TIMEOUT is not valid"
  # Where SSM Agent manages this node: its compliance is recorded there. Elsewhere (not under the agent)
  # nothing is recorded.
  node_id=${AWS_SSM_INSTANCE_ID:-} node_region=${AWS_SSM_REGION_NAME:-}
  [[ $node_id =~ ^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$ && $node_region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || node_id=""
  json_text() { # words: printable ASCII without quotes or backslashes, at most 300 characters
    printf '%s' "$1" | tr -cd '[:print:]' | tr -d '\042\134' | cut -c 1-300
  }
  record_compliance() { # secret-id name COMPLIANT|NON_COMPLIANT RESULT-fields|ERROR-words
    local kind="Custom:CertLifecycle_${1##*/}" field fields details="" said=""
    if [[ $3 == COMPLIANT ]]; then
      read -r -a fields <<<"$4"
      for field in "${fields[@]}"; do
        case $field in
          status=* | serial=* | not_after=* | sha256=* | served=*) details+="\"${field%%=*}\":\"$(json_text "${field#*=}")\"," ;;
        esac
      done
    else
      details="\"status\":\"failed\",\"error\":\"$(json_text "$4")\","
    fi
    details+="\"secret_id\":\"$1\""
    said=$(timeout 30 aws ssm put-compliance-items --region "$node_region" --resource-id "$node_id" \
      --resource-type ManagedInstance --compliance-type "$kind" --output text \
      --items "[{\"Id\":\"$2\",\"Title\":\"$2\",\"Severity\":\"HIGH\",\"Status\":\"$3\",\"Details\":{$details}}]" \
      --execution-summary "{\"ExecutionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"ExecutionType\":\"Command\"}" 2>&1 >/dev/null) ||
      echo "note: $2: its outcome is not recorded in Systems Manager compliance ($(json_text "${said##*$'\n'}")); the node's role needs ssm:PutComplianceItems (in AmazonSSMManagedInstanceCore)"
  }
  failed=0
  for id in "${listed[@]}"; do
    name=${id#acm-passphrase/} name=${name%/*}
    left=$((run_seconds - SECONDS - 15))
    ((left <= 600)) || left=600
    if ((left < 120)); then
      output="ERROR: not installed: the run's time is up; the next run installs it" status=1
    else
      status=0
      output=$(SSM_Certificates='' SSM_CertName=$name SSM_SecretId=$id CERT_LIFECYCLE_EXECUTION_TIMEOUT=$left "$BASH" -- "$0" 2>&1) || status=$?
    fi
    ((${#listed[@]} == 1)) || echo "--- $name"
    result="" error=""
    while IFS= read -r line; do
      case $line in
        '') ;;
        'ERROR: '*) echo "$line" >&2 && error=${line#ERROR: } ;;
        'RESULT '*) echo "$line" && result=${line#RESULT } ;;
        *) echo "$line" ;;
      esac
    done <<<"$output"
    if ((status == 0)) && [[ -n $result ]]; then
      [[ -z $node_id ]] || record_compliance "$id" "$name" COMPLIANT "$result"
    else
      failed=$((failed + 1))
      [[ -z $node_id ]] || record_compliance "$id" "$name" NON_COMPLIANT "${error:-the run stopped (exit $status)}"
    fi
  done
  if ((${#listed[@]} > 1)); then echo "RESULTS certificates=${#listed[@]} failed=$failed"; fi
  exit $((failed > 0 ? 1 : 0))
fi

# --- Ending: one ERROR: line, and nothing left half done ----------------------------------------------

FAILURE=""      # what went wrong, said once by finish()
replaced=0      # how many targets may hold their new file
committed=0     # 1 once the new files are verified
checking=0      # Check: what it cannot read it reports as missing
check_served="" # Check: " served=…" when an endpoint was asked
work=""         # the scratch directory
journal=""      # this CertName's journal, once the lock is held
LOST=0          # 1 when a staging directory holding old files is gone
fds=/proc/$$/fd
targets=() target_dir=() modes=() had_old=() new_inodes=() # per file: name, directory 0|1, mode, inodes
dir_real=("" "") dir_fd=("" "") stage_name=("" "") stage_fd=("" "") stage_inode=("" "") # per directory
fail() {
  FAILURE="$*"
  exit 1
}
on_error() { # command line
  [[ -n $FAILURE ]] || FAILURE="the run stopped: '$1' failed at line $2; run it again, and report it if it persists"
}
trap 'on_error "$BASH_COMMAND" "$LINENO"' ERR
arm_signals() {
  trap 'FAILURE="stopped by SIGHUP"; exit 129' HUP
  trap 'FAILURE="stopped by SIGINT"; exit 130' INT
  trap 'FAILURE="stopped by SIGTERM"; exit 143' TERM
}
arm_signals
close_fd() { # descriptor-number
  local fd=$1
  [[ -z $fd ]] || exec {fd}<&-
}
FULL="cannot write in the scratch directory (is /run full?); nothing was changed"

# Puts back what the swap replaced, newest first: a target holding its new file (by inode) gets its old
# one back, or loses it where there was none. Returns 1 when a rename failed. Signals are held off.
undo_swap() {
  local j failed=0 k target
  for ((j = replaced - 1; j >= 0; j--)); do
    k=${target_dir[j]}
    [[ -n ${dir_fd[k]} && -n ${new_inodes[j]:-} ]] || continue
    target="$fds/${dir_fd[k]}/${targets[j]}"
    [[ $(stat -c %d:%i -- "$target" 2>/dev/null) == "${new_inodes[j]}" ]] || continue
    if [[ ${had_old[j]} != 1 ]]; then
      rm -f -- "$target" 2>/dev/null || failed=1
    elif [[ -n ${stage_fd[k]} ]]; then
      mv -fT -- "$fds/${stage_fd[k]}/old-$j" "$target" 2>/dev/null || failed=1
    else
      LOST=1
    fi
  done
  replaced=0
  return "$failed"
}

# Keeps each replaced file as <file>.previous (a rename: what is planted there is replaced), no more
# readable than its successor when it has no other name (one with other names is not ours to change).
keep_previous() {
  local i k old
  local -a facts
  for i in "${!targets[@]}"; do
    k=${target_dir[i]}
    old="$fds/${stage_fd[k]}/old-$i"
    [[ ${had_old[i]} == 1 && -n ${stage_fd[k]} && -n ${dir_fd[k]} && (-e $old || -L $old) ]] || continue
    if [[ -f $old && ! -L $old ]]; then
      read -r -a facts < <(stat -c '%a %h' -- "$old") || true
      if [[ ${facts[1]:-} == 1 ]] && ((8#${facts[0]:-0} & ~8#${modes[i]} & 8#7777)); then chmod "${modes[i]}" -- "$old"; fi
    fi
    mv -fT -- "$old" "$fds/${dir_fd[k]}/${targets[i]}.previous" 2>/dev/null ||
      echo "WARNING: could not keep the replaced ${targets[i]} as ${targets[i]}.previous" >&2
  done
}

# Removes what is in the staging directories (only this script writes there), then each by its name
# when that still has the recorded inode (made too late to be recorded: only if empty).
remove_stages() {
  local k entry
  for k in 0 1; do
    [[ -n ${stage_name[k]} && -n ${dir_fd[k]} ]] || continue
    if [[ -n ${stage_fd[k]} ]]; then
      rm -f -- "$fds/${stage_fd[k]}"/new-* "$fds/${stage_fd[k]}"/old-* 2>/dev/null || true
      close_fd "${stage_fd[k]}"
    fi
    entry="$fds/${dir_fd[k]}/${stage_name[k]}"
    if [[ ${stage_inode[k]} == - || $(stat -c %d:%i -- "$entry" 2>/dev/null) == "${stage_inode[k]}" ]]; then
      rmdir -- "$entry" 2>/dev/null || true
    fi
    stage_name[k]="" stage_fd[k]=""
  done
}

# Whatever ends the run: an unverified swap is put back, nothing interrupting it; staging directories
# and journal go (unless something could not be put back: the next run retries); one ERROR: line.
finish() {
  local status=$? outcome="" undone=1
  trap '' HUP INT TERM
  trap - ERR
  set +eu
  if ((replaced > 0 && !committed)); then
    if undo_swap; then
      outcome="; the previous files are restored"
    else
      undone=0
      outcome="; the previous files could not all be put back (the next run tries again): check $cert_dir and $key_dir"
    fi
  fi
  if ((undone)) && [[ -n ${stage_name[0]}${stage_name[1]} ]]; then
    remove_stages
    [[ -z $journal ]] || rm -f -- "$journal"
  fi
  [[ -z $work ]] || rm -rf -- "$work"
  if ((status != 0 && checking)); then
    echo "the installed certificate cannot be read: ${FAILURE:-exit $status}"
    echo "RESULT cert_name=$cert_name status=missing$check_served"
    exit 0
  fi
  ((status == 0)) || echo "ERROR: ${FAILURE:-the run stopped (exit $status); run it again}$outcome" >&2
  exit "$status"
}
trap finish EXIT

# The last line a command wrote to file $1, printable; of bash's own messages ("bash: line 9: …: No
# space left on device") only the reason.
said() {
  local line=""
  if [[ -s $1 ]]; then line=$({ grep -v '^[[:space:]]*$' -- "$1" || true; } | tail -n 1 | tr -cd '[:print:]' | cut -c 1-300); fi
  if [[ $line =~ ^[^:]*:\ line\ [0-9]+:\  ]]; then line=${line##*: }; fi
  printf '%s' "$line"
}

require() { # name value pattern max-length
  if [[ ${#2} -gt $4 || ! $2 =~ $3 ]]; then
    fail "parameter $1 is not valid"
  fi
}

# --- Parameters ----------------------------------------------------------------------------------------

action=${SSM_Action:-Install}
cert_name=${SSM_CertName:-}
secret_id=${SSM_SecretId:-}
region=${SSM_Region:-}
secrets_arn='' # a member account's documents set the central account's secret ARN prefix here
cert_dir=${SSM_CertDirectory:-/etc/cert-lifecycle/certs}
key_dir=${SSM_KeyDirectory:-/etc/cert-lifecycle/private}
owner=${SSM_FileOwner:-root}
group=${SSM_FileGroup:-root}
reload=${SSM_ReloadCommand:-}
formats=${SSM_Formats:-pem}
p12_encryption=${SSM_Pkcs12Encryption:-aes-256}
verify_endpoint=${SSM_VerifyEndpoint:-}
verify_name=${SSM_VerifyServerName:-}
verify_seconds=${SSM_VerifySeconds:-10}
certificate_arn=${SSM_CertificateArn:-}

require Action "$action" '^(Install|Remove|Check|Preflight|Rehearse)$' 9
require Certificates "${SSM_Certificates:-}" '^(acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}( acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}){0,99})?$' 10099
require CertName "$cert_name" '^([A-Za-z0-9]+([._-][A-Za-z0-9]+)*)?$' 64
[[ -n $cert_name ]] || fail "parameter CertName is not valid: name one certificate (CertName, SecretId) or list them (Certificates)"
dry_run=0 # Preflight and Rehearse (the dry run's document): report what an install would meet
if [[ $action == Preflight || $action == Rehearse ]]; then dry_run=1; fi
if [[ $action == Install ]] || ((dry_run)); then
  require SecretId "$secret_id" '^(acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16})?$' 100
  [[ -n $secret_id ]] || fail "parameter SecretId is not valid: name the secret of CertName"
  require Region "$region" '^[a-z]{2}(-[a-z]+)+-[0-9]+$' 32
fi
require CertDirectory "$cert_dir" '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$' 200
require KeyDirectory "$key_dir" '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$' 200
require FileOwner "$owner" '^[a-z_][a-z0-9_-]*$' 32
require FileGroup "$group" '^[a-z_][a-z0-9_-]*$' 32
require ReloadCommand "$reload" '^([A-Za-z0-9_./:@=+-]+( [A-Za-z0-9_./:@=+-]+)*)?$' 256
require Formats "$formats" '^(pem|combined|pkcs12)(,(pem|combined|pkcs12)){0,2}$' 32
require Pkcs12Encryption "$p12_encryption" '^(aes-256|legacy-3des)$' 11
require VerifyEndpoint "$verify_endpoint" '^(([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5})?$' 262
require VerifySeconds "$verify_seconds" '^([0-9]|[1-9][0-9]|[12][0-9][0-9]|300)$' 3
require VerifyServerName "$verify_name" '^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)?$' 253
require CertificateArn "$certificate_arn" '^(arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$' 2048
if [[ -n $verify_endpoint ]] && ! ((10#${verify_endpoint##*:} >= 1 && 10#${verify_endpoint##*:} <= 65535)); then
  fail "parameter VerifyEndpoint is not valid"
fi
want_pem=0 want_combined=0 want_pkcs12=0
if [[ ,$formats, == *,pem,* ]]; then want_pem=1; fi
if [[ ,$formats, == *,combined,* ]]; then want_combined=1; fi
if [[ ,$formats, == *,pkcs12,* ]]; then want_pkcs12=1; fi

run_dir=${CERT_LIFECYCLE_RUN_DIRECTORY:-/run/cert-lifecycle}
state_dir=${CERT_LIFECYCLE_STATE_DIRECTORY:-/var/lib/cert-lifecycle}
lock_wait=${CERT_LIFECYCLE_LOCK_WAIT_SECONDS:-300}
execution_timeout=600 # the document's; then SSM kills the group
if ((dry_run)); then execution_timeout=120; fi
execution_timeout=${CERT_LIFECYCLE_EXECUTION_TIMEOUT:-$execution_timeout}
reload_seconds=${CERT_LIFECYCLE_RELOAD_SECONDS:-60}        # a reload taking longer has failed
require CERT_LIFECYCLE_RUN_DIRECTORY "$run_dir" '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$' 200
require CERT_LIFECYCLE_STATE_DIRECTORY "$state_dir" '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$' 200
require CERT_LIFECYCLE_LOCK_WAIT_SECONDS "$lock_wait" '^[0-9]+$' 4
require CERT_LIFECYCLE_EXECUTION_TIMEOUT "$execution_timeout" '^[1-9][0-9]*$' 5
require CERT_LIFECYCLE_RELOAD_SECONDS "$reload_seconds" '^[1-9][0-9]*$' 4

# A dry run reports what is missing (below); any other run stops at the first.
missing=""
for tool in openssl timeout dd stat flock aws; do command -v "$tool" >/dev/null || missing+=" $tool"; done
NO_USER="does not exist on this host; create it or name another"
owner_uid=$(id -u "$owner" 2>/dev/null) || owner_uid=""
group_gid=$(getent group "$group" | cut -d : -f 3) || group_gid=""
if ((!dry_run)); then
  for tool in openssl timeout dd stat; do
    [[ " $missing " != *" $tool "* ]] || fail "$tool is not installed on this host (the install needs bash, coreutils, util-linux, openssl and the AWS CLI)"
  done
  if [[ $action == Install && " $missing " == *" aws "* ]]; then
    fail "the AWS CLI (aws) is not installed on this host; install it (docs.aws.amazon.com/cli, Install the AWS CLI) and run again"
  fi
  if [[ $action != Check && " $missing " == *" flock "* ]]; then fail "flock (util-linux) is not installed on this host"; fi
  [[ -n $owner_uid ]] || fail "user $owner $NO_USER FileOwner"
  [[ -n $group_gid ]] || fail "group $group $NO_USER FileGroup"
fi
[[ -d $fds ]] || fail "/proc is not mounted"

# Seconds from this shell's start (SECONDS). The run ends by `deadline`, before SSM's kill. Once it holds
# the lock it may need: the secret (bounded), 15 s of work, a reload an interrupted run left, the reload,
# the served check and a rollback's reload (each reload bounded, +5 s to die). The lock wait gets the rest.
deadline=$((execution_timeout - 30))
secret_seconds=40
after_lock=$((secret_seconds + 5 + 15 + 3 * (reload_seconds + 5) + verify_seconds))
if [[ $action == Rehearse ]]; then after_lock=$((secret_seconds + 5 + 15 + 10)); fi # no reload, one look

# --- Directories ---------------------------------------------------------------------------------------

# Fails unless directory $1 (a descriptor's path) is root's or the file owner's and writable by nobody
# else; with $3 = ancestor it may instead be sticky, like /tmp. $2 names it. ROOT_ONLY=1 when only root
# may change what is in it.
check_directory() { # descriptor-path name [ancestor]
  local -a facts=()
  read -r -a facts < <(stat -L -c '%u %a %U' -- "$1" 2>/dev/null) || true
  ((${#facts[@]} == 3)) || fail "cannot inspect $2"
  ROOT_ONLY=0
  if [[ ${facts[0]} == 0 ]] && ! ((8#${facts[1]} & 8#022)); then ROOT_ONLY=1; fi
  if [[ ${facts[0]} != 0 && ${facts[0]} != "$owner_uid" ]]; then
    fail "refusing to install: $2 belongs to ${facts[2]}, who could replace what is installed below it;" \
      "only root or $owner may own it (chown root '$2')"
  fi
  local sticky_ancestor=0
  if [[ ${3:-} == ancestor ]] && ((8#${facts[1]} & 8#1000)); then sticky_ancestor=1; fi
  if ((8#${facts[1]} & 8#022 && !sticky_ancestor)); then
    fail "refusing to install: $2 is writable by users other than its owner (mode ${facts[1]}), who could" \
      "replace what is installed below it (chmod go-w '$2')"
  fi
}

# Enters $1 (a path through a descriptor, which cd -L hands to the kernel as it is, a link there followed,
# so what was entered is proven by its descriptor's real path; -P for a .., which -L would drop) and
# opens it. Returns 1 unless that real path is $2. Sets OPENED to the descriptor.
enter_directory() { # path expected-real-path [P]
  local fd
  cd "-${3:-L}" -- "$1" 2>/dev/null || return 1
  exec {fd}<.
  cd /
  if [[ $(readlink -- "$fds/$fd") != "$2" ]]; then
    exec {fd}<&-
    return 1
  fi
  OPENED=$fd
}
MOVED="was moved or replaced during the install; nothing was changed"

# Walks to directory $1 from /, entering each directory through the descriptor of the one before and
# checking it (the last strictly, the others as ancestors). A link is followed only where root made it in
# a directory only root may change (as /etc/ssl/certs -> ../pki/tls/certs). With $2 = create a missing
# directory is made through its parent's descriptor, root's, 0755 (the last: mode $3, and group $4 given
# through its own descriptor once proven to be the one just made); with existing the walk stops there and
# OPENED is empty. Sets OPENED and RESOLVED, the real path (or the one it would have).
walk_directory() { # path create|existing [last-mode last-group]
  local -a rest more facts
  local fd part entry target real=/ hops=0 made mode root_only
  IFS=/ read -r -a rest <<<"${1#/}" || true
  enter_directory / / || fail "cannot open /"
  fd=$OPENED
  check_directory "$fds/$fd" / ancestor
  root_only=$ROOT_ONLY
  while ((${#rest[@]} > 0)); do
    part=${rest[0]}
    rest=("${rest[@]:1}")
    [[ -n $part && $part != . ]] || continue
    if [[ $part == .. ]]; then
      real=${real%/*}
      real=${real:-/}
      enter_directory "$fds/$fd/.." "$real" P || fail "cannot enter $real"
      close_fd "$fd"
      fd=$OPENED
      check_directory "$fds/$fd" "$real" ancestor
      root_only=$ROOT_ONLY
      continue
    fi
    entry="$fds/$fd/$part"
    if [[ -L $entry ]]; then
      if [[ $root_only != 1 || $(stat -c %u -- "$entry" 2>/dev/null) != 0 ]]; then
        fail "refusing to install: ${real%/}/$part is a symbolic link that $(stat -c %U -- "$entry" 2>/dev/null)" \
          "could have placed (it is not root's, in a directory only root may change); name the real directory instead"
      fi
      ((++hops <= 40)) || fail "too many symbolic links in $1"
      target=$(readlink -- "$entry")
      IFS=/ read -r -a more <<<"$target" || true
      if [[ $target == /* ]]; then
        close_fd "$fd"
        enter_directory / / || fail "cannot open /"
        fd=$OPENED real=/
      fi
      rest=(${more[@]+"${more[@]}"} ${rest[@]+"${rest[@]}"})
      continue
    fi
    made=0 mode=0755
    if ((${#rest[@]} == 0)); then mode=${3:-0755}; fi
    if [[ ! -e $entry ]]; then
      if [[ $2 != create ]]; then
        close_fd "$fd"
        OPENED="" RESOLVED="${real%/}/$part"
        ((${#rest[@]} == 0)) || RESOLVED+=$(printf '/%s' "${rest[@]}")
        return 0
      fi
      mkdir -m "$mode" -- "$entry" 2>/dev/null || fail "cannot create ${real%/}/$part"
      made=1
    fi
    enter_directory "$entry" "${real%/}/$part" || fail "${real%/}/$part $MOVED"
    close_fd "$fd"
    fd=$OPENED real="${real%/}/$part"
    if ((made)); then
      read -r -a facts < <(stat -L -c '%u %a' -- "$fds/$fd") || true
      if [[ ${facts[0]:-} != 0 ]] || (((8#${facts[1]:-0} & 8#5777) != 8#$mode)); then fail "$real $MOVED"; fi
      if ((${#rest[@]} == 0)) && [[ -n ${4:-} ]]; then
        chgrp -- "$4" "$fds/$fd" 2>/dev/null || fail "cannot give $real to group $4"
      fi
    fi
    if ((${#rest[@]} > 0)); then check_directory "$fds/$fd" "$real" ancestor; else check_directory "$fds/$fd" "$real"; fi
    root_only=$ROOT_ONLY
  done
  OPENED=$fd RESOLVED=$real
  [[ $RESOLVED =~ ^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$ ]] ||
    fail "refusing to install: $1 is really $RESOLVED, a path with characters the install does not use; name a plain one"
}

# Where this host's trust-store tooling reads or rehashes CA certificates (as lambda/shared/
# install-parameters.ts lists them), OpenSSL's own CA directory and SSL_CERT_DIR: a chain there could
# become a trust anchor for every program on the host.
TRUST_STORE_DIRECTORIES=(/etc/ssl/certs /etc/pki/tls/certs /etc/pki/ca-trust /usr/share/pki/ca-trust-source
  /usr/local/share/ca-certificates /usr/share/ca-certificates /etc/ca-certificates /etc/pki/trust
  /usr/share/pki/trust /var/lib/ca-certificates)
refuse_trust_store() { # real-path parameter
  local -a extra=() real=()
  local dir
  if [[ -z ${TRUSTED[*]-} ]]; then
    dir=${OPENSSL_DIR#*\"}
    if [[ ${dir%\"*} == /* ]]; then TRUST_STORE_DIRECTORIES+=("${dir%\"*}/certs"); fi
    IFS=: read -r -a extra <<<"${SSL_CERT_DIR:-}" || true
    for dir in ${extra[@]+"${extra[@]}"}; do [[ $dir != /* ]] || TRUST_STORE_DIRECTORIES+=("$dir"); done
    mapfile -t real < <(realpath -e -- "${TRUST_STORE_DIRECTORIES[@]}" 2>/dev/null || true)
    TRUSTED=("${TRUST_STORE_DIRECTORIES[@]}" ${real[@]+"${real[@]}"})
  fi
  for dir in "${TRUSTED[@]}"; do
    if [[ $1 == "$dir" || $1 == "$dir"/* ]]; then
      fail "refusing to install: $2 $1 is in $dir, where this host's trust-store tooling looks for CA certificates:" \
        "a chain installed there would become trusted by every program on the host; give the profile a" \
        "directory of its own, such as /etc/cert-lifecycle/certs"
    fi
  done
}

# Copies the regular file at $1 (through a checked directory's descriptor) to $2 (- for standard output)
# if it holds at most $3 bytes: not following a link there, not blocking on a pipe, bounded in time, and
# only when it is the same file (inode, size, ctime) after. Sets READ_STAT to "mode uid gid". Else 1.
read_checked() { # path copy|- max-bytes
  local -a before=() after=() output=()
  read -r -a before < <(stat -c '%f %a %u %g %s %d:%i %Z' -- "$1" 2>/dev/null) || true
  ((${#before[@]} == 7)) || return 1
  (((16#${before[0]} & 16#f000) == 16#8000 && before[4] <= $3)) || return 1
  if [[ $2 != - ]]; then output=("of=$2"); fi
  timeout --foreground -k 1 10 dd if="$1" ${output[@]+"${output[@]}"} iflag=nofollow,nonblock,count_bytes \
    bs=65536 count="$3" status=none 2>/dev/null || return 1
  read -r -a after < <(stat -c '%f %a %u %g %s %d:%i %Z' -- "$1" 2>/dev/null) || true
  [[ ${after[*]-} == "${before[*]}" ]] || return 1
  READ_STAT="${before[1]} ${before[2]} ${before[3]}"
}

# What one openssl call says of the certificate in file $1 (- for the first on standard input): SERIAL
# (lower-case hex pairs joined by colons), FINGERPRINT (SHA-256), NOT_BEFORE, NOT_AFTER, PUBLIC_KEY and
# EXPIRED (1 when past its end). Returns 1 when there is no readable certificate.
certificate_facts() { # pem-file|-
  local out="" status=0 line hex k key=0
  out=$(openssl x509 -noout -serial -fingerprint -sha256 -startdate -enddate -pubkey -checkend 0 \
    -in "${1/#-//dev/stdin}" 2>/dev/null) || status=$?
  [[ $out == serial=* ]] || return 1
  EXPIRED=$((status != 0)) SERIAL="" PUBLIC_KEY=""
  while IFS= read -r line; do
    if [[ $line == "-----BEGIN PUBLIC KEY-----" ]]; then key=1; fi
    if ((key)); then PUBLIC_KEY+=$line$'\n'; fi
    case $line in
      serial=*) hex=${line#*=} && hex=${hex,,} ;;
      *[Ff]ingerprint=*) FINGERPRINT=${line#*=} ;;
      notBefore=*) NOT_BEFORE=${line#*=} ;;
      notAfter=*) NOT_AFTER=${line#*=} ;;
      "-----END PUBLIC KEY-----") key=0 ;;
    esac
  done <<<"$out"
  for ((k = 0; k < ${#hex}; k += 2)); do SERIAL+="${hex:k:2}:"; done
  SERIAL=${SERIAL%:} PUBLIC_KEY=${PUBLIC_KEY%$'\n'}
}

# Asks the endpoint for its certificate until it has fingerprint $2, for up to $1 s (0: once). Sets
# SERVED to the serial served last ("" when nothing answered).
serves() { # seconds fingerprint
  local until=$((SECONDS + $1))
  local -a sni=()
  if [[ -n $verify_name ]]; then sni=(-servername "$verify_name"); fi
  SERVED=""
  while :; do
    if certificate_facts - < <(timeout --foreground -k 1 5 openssl s_client -connect "$verify_endpoint" \
      ${sni[@]+"${sni[@]}"} </dev/null 2>/dev/null); then
      SERVED=$SERIAL
      [[ $FINGERPRINT != "$2" ]] || return 0
    fi
    ((SECONDS < until)) || return 1
    sleep 1
  done
}
served_words() {
  if [[ -n $SERVED ]]; then echo "$verify_endpoint serves serial $SERVED"; else echo "no TLS answer on $verify_endpoint"; fi
}

# --- Check (the drift check): no lock, no journal, nothing written -----------------------------------

if [[ $action == Check ]]; then
  if [[ -n $verify_endpoint ]]; then
    serves 0 none || true
    check_served=" served=${SERVED:-none}"
  fi
  checking=1
  walk_directory "$cert_dir" existing
  pem=""
  if [[ -n $OPENED ]]; then { pem=$(read_checked "$fds/$OPENED/$cert_name-cert.pem" - 1048576) || pem=""; } 2>/dev/null; fi
  if [[ -z $pem ]] || ! certificate_facts - <<<"$pem"; then
    echo "RESULT cert_name=$cert_name status=missing$check_served"
    exit 0
  fi
  echo "RESULT cert_name=$cert_name status=present serial=$SERIAL not_after=$(date -u -d "$NOT_AFTER" +%Y-%m-%dT%H:%M:%SZ)" \
    "sha256=$FINGERPRINT$check_served"
  exit 0
fi

# --- Preflight and Rehearse (the dry run): what an install here would meet -----------------------------
# Each thing an install needs is looked at and reported as a CHECK line (ok, problem or note), all of
# them, not only the first that fails: the tools, the file owner and group, the secret as this host's
# role reads it, the directories by the install's own walk, the reload command, the endpoint, an
# interrupted install. Preflight (no secret yet) ends there. Rehearse then does what the install does up
# to the first write: the lock, the secret, the key decrypted and checked against the certificate and
# chain, the files made in the scratch directory and compared with what is installed; it says what the
# install would do, and writes nothing in the target directories, reloads nothing and recovers nothing.

PROBLEMS=0 VERDICT=""
report() { # item ok|problem|note words
  local words
  words=$(printf '%s' "${*:3}" | tr -cd '[:print:]' | cut -c 1-240)
  echo "CHECK $1 $2 $words"
  if [[ $2 == problem ]]; then PROBLEMS=$((PROBLEMS + 1)); fi
}

# Runs "$@" in a subshell, as the install would run it: prints its VERDICT, or the FAILURE that would
# stop the install (and returns 1). Whatever it opens is closed with the subshell, whose descriptors are
# its own.
probe() { # command...
  (
    trap probe_end EXIT
    printf -v fds /proc/%s/fd "$BASHPID"
    "$@" 2>/dev/null # standard output stays the caller's: probe_end prints there, even from an exit in "$@"
  )
}
probe_end() {
  if [[ -n $FAILURE ]]; then
    printf '%s' "$FAILURE"
    exit 1
  fi
  printf '%s' "$VERDICT"
}

directory_verdict() { # path parameter
  walk_directory "$1" existing
  refuse_trust_store "$RESOLVED" "$2"
  VERDICT="$RESOLVED does not exist yet; the install makes it, below directories that pass its checks"
  if [[ -n $OPENED ]]; then VERDICT="$RESOLVED passes the install's checks"; fi
}

# The secret as this host's role reads it: only whether it can (the value goes to /dev/null). A refusal
# names the role that asked, which the dry run compares with the instance access policy. Sets IDENTITY.
secret_verdict() {
  local status=0 err="" arn='(arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[A-Za-z0-9+=,.@_-]+/[A-Za-z0-9+=,.@_-]+)'
  err=$(timeout --foreground -k 5 "$secret_seconds" aws secretsmanager get-secret-value --region "$region" \
    --secret-id "$secrets_arn$secret_id" --query VersionId --output text 2>&1 >/dev/null) || status=$?
  IDENTITY=""
  if [[ $err =~ $arn ]]; then IDENTITY=${BASH_REMATCH[1]}; fi
  err=$(printf '%s' "$err" | grep -v '^[[:space:]]*$' | tail -n 1 | tr -cd '[:print:]' | cut -c 1-200) || err=""
  if ((status == 0)); then
    report secret ok "this host's role reads $secret_id"
  elif ((status == 124 || status == 137)); then
    report secret problem "the AWS CLI did not answer within $secret_seconds s; check the host's network and the Secrets Manager endpoint"
  elif [[ $err == *"Unable to locate credentials"* || $err == *"NoCredentialProviders"* ]]; then
    report secret problem "this host has no AWS credentials: give the instance a profile with a role (EC2) or register it with a hybrid activation"
  elif [[ $action == Preflight && ($err == *AccessDenied* || $err == *ResourceNotFound*) ]]; then
    report secret note "$secret_id does not exist until the first export; Secrets Manager answered as ${IDENTITY:-the role of this host}"
  else
    report secret problem "cannot read $secret_id: ${err:-the AWS CLI exited $status}"
  fi
}

reload_verdict() {
  local -a words
  local unit="" state=""
  read -r -a words <<<"$reload" || true
  if ((${#words[@]} == 0)); then
    report reload ok "no reload command is set"
    return 0
  fi
  if ! command -v -- "${words[0]}" >/dev/null; then
    report reload problem "'${words[0]}' is not a command on this host, so '$reload' would fail and the install be rolled back"
    return 0
  fi
  if [[ ${words[0]##*/} == systemctl && ${#words[@]} == 3 && ${words[1]} =~ ^(reload|restart|try-restart|reload-or-restart|try-reload-or-restart)$ ]]; then
    unit=${words[2]}
    state=$(timeout --foreground -k 1 10 "${words[0]}" show --property=LoadState --value -- "$unit" 2>/dev/null) || state=""
    if [[ $state != loaded ]]; then
      report reload problem "systemd has no unit $unit loaded (LoadState ${state:-unknown}), so '$reload' would fail"
      return 0
    fi
  fi
  report reload ok "'$reload' can run${unit:+ (unit $unit is loaded)}"
}

if ((dry_run)); then
  if [[ -z $missing ]]; then
    report tools ok "$(openssl version 2>/dev/null | cut -d ' ' -f 1-2), $(timeout --foreground -k 1 20 aws --version 2>&1 | head -n 1 | cut -d ' ' -f 1), flock"
  else
    report tools problem "missing:$missing; the README (Hosts, what a host needs) says how to install them on each distribution"
  fi
  users_known=1
  if [[ -z $owner_uid ]]; then report owner problem "user $owner $NO_USER FileOwner" && users_known=0; fi
  if [[ -z $group_gid ]]; then report owner problem "group $group $NO_USER FileGroup" && users_known=0; fi
  if ((users_known)); then report owner ok "the files would belong to $owner:$group"; fi
  IDENTITY=""
  if [[ " $missing " == *" aws "* || " $missing " == *" timeout "* ]]; then
    report secret problem "not tried: the AWS CLI is needed to read it"
  else
    secret_verdict
  fi
  if [[ " $missing " =~ \ (openssl|stat|timeout|dd)\  ]] || ((!users_known)); then
    report directories problem "not checked: the tools and users above are needed first"
  else
    OPENSSL_DIR=$(openssl version -v -d 2>/dev/null) || OPENSSL_DIR=""
    for parameter in CertDirectory KeyDirectory; do
      if [[ $parameter == CertDirectory ]]; then directory=$cert_dir; else directory=$key_dir; fi
      if verdict=$(probe directory_verdict "$directory" "$parameter"); then
        report "$parameter" ok "$verdict"
      else
        report "$parameter" problem "${verdict:-cannot check $directory}"
      fi
    done
  fi
  reload_verdict
  if [[ -z $verify_endpoint ]]; then
    report endpoint ok "no endpoint to check is set"
  elif [[ " $missing " == *" openssl "* || " $missing " == *" timeout "* ]]; then
    report endpoint problem "not checked: openssl is needed to ask it"
  elif serves 0 none || [[ -n $SERVED ]]; then
    report endpoint ok "$verify_endpoint answers with serial $SERVED"
  else
    report endpoint problem "no TLS answer on $verify_endpoint; the install's check after the reload would fail there"
  fi
  if [[ -e $state_dir/$cert_name.journal || -L $state_dir/$cert_name.journal ]]; then
    report journal note "an install of $cert_name here was interrupted; the next install first undoes or completes it"
  fi
  summary="cert_name=$cert_name mode=${action,,} problems=$PROBLEMS${IDENTITY:+ identity=$IDENTITY}"
  if ((PROBLEMS > 0)); then
    echo "RESULT $summary status=not-ready"
    exit 0
  fi
  if [[ $action == Preflight ]]; then
    echo "RESULT $summary status=ready"
    exit 0
  fi
fi

# --- One run of a CertName at a time ---------------------------------------------------------------

own_directory() { # path what: root-only, made if missing (checked once a run)
  [[ " $OWN_CHECKED " != *" $1 "* ]] || return 0
  [[ -d $1 && ! -L $1 ]] || mkdir -m 0700 -- "$1" 2>/dev/null || true
  [[ -d $1 && ! -L $1 && $(stat -c '%u %a' -- "$1") == "$EUID 700" ]] ||
    fail "the $2 directory $1 must be a directory of $(id -un)'s with mode 0700"
  OWN_CHECKED+=" $1"
}
OWN_CHECKED=""
own_directory "$run_dir" lock
exec {lock_fd}>>"$run_dir/install-$cert_name.lock"
wait_for_lock=$((deadline - SECONDS - after_lock))
((wait_for_lock >= 0)) || fail "a run with VerifySeconds $verify_seconds and reloads of up to $reload_seconds s" \
  "cannot finish within the command's $execution_timeout s; nothing was changed"
if ((wait_for_lock > lock_wait)); then wait_for_lock=$lock_wait; fi
flock -w "$wait_for_lock" "$lock_fd" || fail "another install of $cert_name has run on this host for more than" \
  "$wait_for_lock s; nothing was changed (try again when it has finished)"
journal="$state_dir/$cert_name.journal"

# Runs the reload command, bounded in time, without this script's descriptors (a service it starts must
# not hold the lock or a directory). Sets RELOAD_FAILURE when it fails.
reload_service() {
  local status=0 out=/dev/null last=""
  local -a words
  read -r -a words <<<"$reload" || true
  if [[ -n $work ]]; then out="$work/reload.out"; fi
  (
    for fd in "/proc/$BASHPID/fd"/*; do
      fd=${fd##*/}
      if ((fd > 2)); then { exec {fd}>&-; } 2>/dev/null; fi
    done
    exec timeout --foreground -k 5 "$reload_seconds" "${words[@]}"
  ) >"$out" 2>&1 || status=$?
  ((status != 0)) || return 0
  [[ $out == /dev/null ]] || last=$(said "$out")
  RELOAD_FAILURE="reload command '$reload' failed (exit $status; ${last:+its last line: }${last:-it printed nothing})"
  if ((status == 124 || status == 137)); then RELOAD_FAILURE="reload command '$reload' did not finish within $reload_seconds s"; fi
  return 1
}

# --- The journal of a run that changes the target directories ----------------------------------------
# "phase staging|swapping|reloading|committed", "dir <k> <real path> <staging name> <dev:ino|->",
# "target <i> <k> <name> <had old 0|1> <mode> <dev:ino of the new file|->", "reload <command>"; written
# whole to a new file in the root-only state directory, then renamed over the old.
journal_write() { # phase
  own_directory "$state_dir" state
  local k i
  {
    printf 'phase %s\n' "$1"
    for k in 0 1; do
      [[ -z ${stage_name[k]} ]] || printf 'dir %s %s %s %s\n' "$k" "${dir_real[k]}" "${stage_name[k]}" "${stage_inode[k]}"
    done
    for i in "${!targets[@]}"; do
      printf 'target %s %s %s %s %s %s\n' "$i" "${target_dir[i]}" "${targets[i]}" "${had_old[i]:-0}" "${modes[i]}" "${new_inodes[i]:--}"
    done
    printf 'reload %s\n' "$reload"
  } >"$journal.new" 2>/dev/null && mv -f -- "$journal.new" "$journal" 2>/dev/null
}

# Opens staging directory k of an interrupted run: by name, or (renamed by the directory's owner) by
# inode among its neighbours; only a root-only directory with the recorded inode. Sets stage_fd[k].
find_stage() { # k
  local k=$1 entry
  local -a facts
  [[ ${stage_inode[k]} != - ]] || return 0
  for entry in "$fds/${dir_fd[k]}/${stage_name[k]}" "$fds/${dir_fd[k]}"/.* "$fds/${dir_fd[k]}"/*; do
    [[ -d $entry && ! -L $entry && $(stat -c %d:%i -- "$entry" 2>/dev/null) == "${stage_inode[k]}" ]] || continue
    enter_directory "$entry" "${dir_real[k]%/}/${entry##*/}" || continue
    read -r -a facts < <(stat -L -c '%d:%i %u %a' -- "$fds/$OPENED") || true
    if [[ ${facts[*]-} == "${stage_inode[k]} 0 700" ]]; then
      stage_fd[k]=$OPENED stage_name[k]=${entry##*/}
      return 0
    fi
    close_fd "$OPENED"
  done
}

# Before anything else: an interrupted run of this name is undone when it was not verified (the service
# reloaded too when its reload had begun), completed when it was; what it staged is removed.
recover_interrupted() {
  # A journal being rewritten when the run was killed: the one it was to replace still holds.
  if [[ -e $journal.new || -L $journal.new ]]; then rm -f -- "$journal.new"; fi
  [[ -e $journal || -L $journal ]] || return 0
  own_directory "$state_dir" state
  local phase="" recorded_reload="" damaged=0 k done_words
  local -a line
  [[ -f $journal && ! -L $journal ]] || damaged=1
  while ((!damaged)) && read -r -a line; do
    set -- "${line[@]}"
    case ${1:-} in
      phase) if [[ ${2:-} =~ ^(staging|swapping|reloading|committed)$ ]]; then phase=$2; else damaged=1; fi ;;
      dir)
        if [[ $# == 5 && $2 =~ ^[01]$ && $3 =~ ^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$ && $4 == ".$cert_name~install."* &&
          ${4#".$cert_name~install."} =~ ^[0-9a-f]{16}$ && $5 =~ ^([0-9]+:[0-9]+|-)$ ]]; then
          dir_real[$2]=$3 stage_name[$2]=$4 stage_inode[$2]=$5
        else damaged=1; fi
        ;;
      target)
        if [[ $# == 7 && $2 =~ ^[0-9]$ && $3 =~ ^[01]$ && $4 == "$cert_name-"* && $5 =~ ^[01]$ && $6 =~ ^0(600|644)$ &&
          ${4#"$cert_name-"} =~ ^((cert|chain|fullchain|privkey|combined)\.pem|keystore\.(p12|pass))$ &&
          $7 =~ ^([0-9]+:[0-9]+|-)$ ]]; then
          targets[$2]=$4 target_dir[$2]=$3 had_old[$2]=$5 modes[$2]=$6 new_inodes[$2]=${7/#-/}
        else damaged=1; fi
        ;;
      reload) recorded_reload=${line[*]:1} ;;
      *) damaged=1 ;;
    esac
  done <"$journal"
  [[ $damaged == 0 && -n $phase && $recorded_reload =~ ^([A-Za-z0-9_./:@=+-]+( [A-Za-z0-9_./:@=+-]+)*)?$ ]] ||
    fail "the journal of an interrupted install, $journal, cannot be read; check $cert_dir and $key_dir, then remove it"
  for k in 0 1; do
    [[ -n ${stage_name[k]} ]] || continue
    walk_directory "${dir_real[k]}" existing
    dir_fd[k]=$OPENED
    if [[ -n $OPENED ]]; then find_stage "$k"; fi
  done
  trap '' HUP INT TERM
  if [[ $phase == committed ]]; then
    keep_previous
    done_words="completed: its new files were verified, and stay"
  elif [[ $phase == staging ]]; then
    done_words="undone: it had replaced nothing"
  else
    replaced=${#targets[@]}
    undo_swap || fail "an install of $cert_name was interrupted ($phase) and its previous files could not all be put back;" \
      "check $cert_dir and $key_dir (the next run tries again)"
    done_words="undone: the previous files are back"
    if ((LOST)); then done_words="undone but for files whose staging directory the owner of their directory moved away"; fi
    if [[ $phase == reloading && -n $recorded_reload ]]; then
      local current_reload=$reload
      reload=$recorded_reload
      if reload_service; then done_words+=", and the service reloaded with them"; else done_words+="; $RELOAD_FAILURE"; fi
      reload=$current_reload
    fi
  fi
  remove_stages
  rm -f -- "$journal"
  arm_signals
  close_fd "${dir_fd[0]}"
  close_fd "${dir_fd[1]}"
  targets=() target_dir=() modes=() had_old=() new_inodes=() dir_fd=("" "") dir_real=("" "") stage_inode=("" "")
  echo "an install of $cert_name on this host was interrupted ($phase); it is $done_words"
}
if [[ $action != Rehearse ]]; then recover_interrupted; fi

# --- Remove ----------------------------------------------------------------------------------------

# Removes <CertName>-<suffix> and its .previous in directory $1 through its checked descriptor (a link
# there is removed, never followed). A missing directory holds nothing.
remove_files() { # directory suffix...
  local suffix name entry
  walk_directory "$1" existing
  shift
  [[ -n $OPENED ]] || return 0
  for suffix in "$@"; do
    for name in "$cert_name-$suffix" "$cert_name-$suffix.previous"; do
      entry="$fds/$OPENED/$name"
      [[ -e $entry || -L $entry ]] || continue
      [[ -L $entry || ! -d $entry ]] || fail "$RESOLVED/$name is a directory; it was left alone"
      rm -f -- "$entry" 2>/dev/null || fail "cannot remove $RESOLVED/$name"
      removed=$((removed + 1))
    done
  done
  close_fd "$OPENED"
}

if [[ $action == Remove ]]; then
  removed=0
  # Every format's files, whatever the profile asks for now: it may have asked for others before.
  remove_files "$cert_dir" cert.pem chain.pem fullchain.pem
  remove_files "$key_dir" privkey.pem combined.pem keystore.p12 keystore.pass
  if ((removed > 0)); then
    echo "removed $removed files of $cert_name from $cert_dir and $key_dir"
    echo "RESULT cert_name=$cert_name status=removed files=$removed"
  else
    echo "nothing of $cert_name in $cert_dir or $key_dir"
    echo "RESULT cert_name=$cert_name status=absent files=0"
  fi
  exit 0
fi

# --- Read and check the bundle ---------------------------------------------------------------------

# The scratch directory: root's alone, in the root-only run directory (tmpfs on systemd hosts); a killed
# run's is removed here.
work="$run_dir/$cert_name.work"
rm -rf -- "$work"
mkdir -m 0700 -- "$work" 2>/dev/null || fail "$FULL"

# 1. The bundle, read with this host's own credentials (ABAC: the secret's tag must match the role's).
aws_status=0
timeout --foreground -k 5 "$secret_seconds" aws secretsmanager get-secret-value --region "$region" \
  --secret-id "$secrets_arn$secret_id" --query SecretString --output text 2>"$work/aws.err" >"$work/bundle.pem" || aws_status=$?
if ((aws_status != 0)); then
  printf x 2>/dev/null >"$work/probe" || fail "$FULL"
  reason=$(grep -v '^[[:space:]]*$' -- "$work/aws.err" | tail -n 1 | tr -cd '[:print:]' | cut -c 1-300) || reason=""
  reason=${reason:-the AWS CLI exited $aws_status and printed nothing}
  if ((aws_status == 124 || aws_status == 137)); then reason="the AWS CLI did not answer within $secret_seconds s"; fi
  fail "cannot read secret $secret_id: $reason; check the host's network, its role's tags and the instance access policy"
fi

# 2. Split: passphrase (base64), encrypted key, the leaf, then each certificate of the chain.
split_bundle() {
  local begin='^-----BEGIN (.+)-----$' out="" line
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line =~ $begin ]]; then
      case ${BASH_REMATCH[1]} in
        "ACM EXPORT PASSPHRASE")
          out="$work/passphrase.b64"
          continue
          ;;
        "ENCRYPTED PRIVATE KEY") out="$work/key.enc.pem" ;;
        CERTIFICATE)
          certificates=$((certificates + 1))
          out="$work/chain-$((certificates - 1)).pem"
          ;;
        *) out="" ;;
      esac
    fi
    if [[ $out == */passphrase.b64 && $line == -----END* ]]; then out="" && continue; fi
    if [[ -n $out ]]; then printf '%s\n' "$line" >>"$out" || return 1; fi
    if [[ $line == -----END* ]]; then out=""; fi
  done <"$work/bundle.pem"
}
certificates=0 chain_fingerprints=""
split_bundle 2>/dev/null || fail "$FULL"
rm -f -- "$work/bundle.pem"
[[ -s $work/passphrase.b64 ]] || fail "secret $secret_id holds no passphrase; export the certificate again"
[[ -s $work/key.enc.pem ]] || fail "secret $secret_id holds no encrypted private key; export the certificate again"
((certificates > 0)) || fail "secret $secret_id holds no certificate; export the certificate again"
((certificates > 1)) || fail "secret $secret_id holds no certificate chain; export the certificate again"
mv -f -- "$work/chain-0.pem" "$work/cert.pem"

# 3. Decrypt the key; the passphrase reaches openssl through a descriptor, never an argument.
openssl pkey -in "$work/key.enc.pem" -passin fd:3 -out "$work/privkey.pem" 3< <(base64 -d "$work/passphrase.b64" 2>/dev/null) \
  2>/dev/null || fail "cannot decrypt the private key with the passphrase stored beside it; export the certificate again"
rm -f -- "$work/key.enc.pem" "$work/passphrase.b64"

# 4. A readable leaf, valid now, the key its own, and a chain (not the leaf itself) that vouches for it
#    alone: the host's trust store is not asked.
again="export the certificate again"
OPENSSL_DIR=$(openssl version -v -d 2>/dev/null) || OPENSSL_DIR="" # OpenSSL 3.0.2 …\nOPENSSLDIR: "/usr/lib/ssl"
for ((c = 1; c < certificates; c++)); do
  certificate_facts "$work/chain-$c.pem" ||
    fail "certificate $c of the chain in secret $secret_id is not a readable X.509 certificate; $again"
  chain_fingerprints+=" $FINGERPRINT"
  cat -- "$work/chain-$c.pem" >>"$work/chain.pem" 2>/dev/null || fail "$FULL"
done
certificate_facts "$work/cert.pem" || fail "the certificate in secret $secret_id is not a readable X.509 certificate; $again"
fingerprint=$FINGERPRINT installed_serial=$SERIAL
not_after=$(date -u -d "$NOT_AFTER" +%Y-%m-%dT%H:%M:%SZ)
[[ $chain_fingerprints != *" $fingerprint"* ]] || fail "the chain in secret $secret_id holds the certificate itself, not its issuer; $again"
((!EXPIRED)) || fail "the certificate in secret $secret_id expired on $NOT_AFTER; export the renewed certificate"
(($(date -u -d "$NOT_BEFORE" +%s) <= $(date -u +%s) + 300)) ||
  fail "the certificate in secret $secret_id is valid only from $NOT_BEFORE; check this host's clock"
key_public=$(openssl pkey -in "$work/privkey.pem" -pubout 2>/dev/null) || key_public=""
[[ -n $key_public && $key_public == "$PUBLIC_KEY" ]] || fail "the private key does not belong to the certificate in secret $secret_id; $again"
no_default_trust=(-no-CApath -no-CAfile)
if [[ $OPENSSL_DIR == "OpenSSL 3"* ]]; then no_default_trust+=(-no-CAstore); fi
if ! openssl verify "${no_default_trust[@]}" -partial_chain -CAfile "$work/chain.pem" "$work/cert.pem" >"$work/verify.out" 2>&1; then
  why=$(sed -n 's/^error [0-9]* at \([0-9]*\) depth lookup: \(.*\)$/\2 (depth \1)/p' -- "$work/verify.out" | head -n 1)
  fail "the certificate chain in the secret does not verify the certificate (${why:-openssl could not check it}); $again"
fi
cat -- "$work/cert.pem" "$work/chain.pem" >"$work/fullchain.pem" 2>/dev/null || fail "$FULL"

# --- What is there, and what would change ----------------------------------------------------------

# 5. The target directories as they are (nothing made yet), neither where CAs are trusted.
for k in 0 1; do
  if ((k == 0)); then walk_directory "$cert_dir" existing; else walk_directory "$key_dir" existing; fi
  dir_fd[k]=$OPENED dir_real[k]=$RESOLVED
done
key_root_only=0
if [[ -n ${dir_fd[1]} ]]; then key_root_only=$ROOT_ONLY; fi
refuse_trust_store "${dir_real[0]}" CertDirectory
refuse_trust_store "${dir_real[1]}" KeyDirectory

# 6. The files: name, content, mode, directory.
sources=()
add_target() { # name source mode directory
  targets+=("$1") sources+=("$2") modes+=("$3") target_dir+=("$4")
}
add_target "$cert_name-cert.pem" "$work/cert.pem" 0644 0
if ((want_pem)); then
  add_target "$cert_name-chain.pem" "$work/chain.pem" 0644 0
  add_target "$cert_name-fullchain.pem" "$work/fullchain.pem" 0644 0
  add_target "$cert_name-privkey.pem" "$work/privkey.pem" 0600 1
fi
if ((want_combined)); then
  cat -- "$work/privkey.pem" "$work/cert.pem" "$work/chain.pem" >"$work/combined.pem" 2>/dev/null || fail "$FULL"
  add_target "$cert_name-combined.pem" "$work/combined.pem" 0600 1
fi
keystore_index=-1
if ((want_pkcs12)); then
  add_target "$cert_name-keystore.pass" "$work/keystore.pass" 0600 1
  add_target "$cert_name-keystore.p12" "$work/keystore.p12" 0600 1
  keystore_index=$((${#targets[@]} - 1))
fi

# 7. The keystore's password: what the kept file $1 (owned by uid $2) says, when nobody but its rightful
#    owner could have put it there (the file owner's own file, or root's in a directory only root may
#    change: not a root file renamed or hard-linked into another's directory), else a new random one.
#    Written to the scratch directory as keystore.pass.new; warnings unless $4 = quiet.
choose_password() { # kept-file uid key-directory-root-only [quiet]
  local password="" why=""
  if [[ -z $1 ]]; then
    :
  elif [[ ! ($2 == "$owner_uid" && $2 != 0) && ! ($2 == 0 && $3 == 1) ]]; then
    why="is not the file owner's own file nor root's in a directory only root may change (owner uid $2), so another user could have put it there; it is not read"
  else
    password=$(head -c 256 -- "$1" | head -n 1) || password=""
    [[ $password =~ ^[[:graph:]]{8,128}$ ]] || password="" why="holds no usable password (8-128 printable characters, no spaces)"
  fi
  if [[ -n $why && -z ${4:-} ]]; then
    echo "WARNING: $key_dir/$cert_name-keystore.pass $why; a new password is made, and services that open the keystore need it" >&2
  fi
  printf '%s\n' "${password:-$(openssl rand -hex 16)}" >"$work/keystore.pass.new" 2>/dev/null || fail "$FULL"
}
keystore_digest() { # keystore: what it holds and how it is protected, not its random salts
  { head -c 1048576 -- "$1" | timeout --foreground -k 1 20 openssl pkcs12 -passin "file:$work/keystore.pass" -info -nodes 2>&1 || true; } | sha256sum
}
make_keystore() {
  local -a algorithms=()
  # legacy-3des: for JVMs before 8u301 / 11.0.12, which read neither AES keystores nor SHA-256 MACs.
  if [[ $p12_encryption == legacy-3des ]]; then algorithms=(-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1); fi
  mv -f -- "$work/keystore.pass.new" "$work/keystore.pass"
  openssl pkcs12 -export -inkey "$work/privkey.pem" -in "$work/cert.pem" -certfile "$work/chain.pem" -name "$cert_name" \
    ${algorithms[@]+"${algorithms[@]}"} -passout "file:$work/keystore.pass" -out "$work/keystore.p12" 2>"$work/openssl.err" ||
    fail "cannot make the PKCS#12 keystore: $(said "$work/openssl.err")"
}
if ((want_pkcs12)); then
  kept="" kept_uid=""
  if [[ -n ${dir_fd[1]} ]] && read_checked "$fds/${dir_fd[1]}/$cert_name-keystore.pass" "$work/kept.pass" 4096; then
    kept="$work/kept.pass" kept_uid=${READ_STAT#* }
  fi
  choose_password "$kept" "${kept_uid%% *}" "$key_root_only" quiet
  make_keystore
fi

# 8. Nothing to do when every target already is the file this run would make: a regular file of the same
#    mode, owner, group and bytes (a keystore: the same contents and algorithms under the same password).
#    Only read, through the checked reads: the directories' mtimes and files' ctimes stay as they are.
unchanged_on_disk() {
  local i k
  for i in "${!targets[@]}"; do
    k=${target_dir[i]}
    [[ -n ${dir_fd[k]} ]] || return 1
    read_checked "$fds/${dir_fd[k]}/${targets[i]}" "$work/current" 1048576 || return 1
    [[ $READ_STAT == "${modes[i]#0} $owner_uid $group_gid" ]] || return 1
    if ((i == keystore_index)); then
      [[ $(keystore_digest "$work/current") == "$(keystore_digest "${sources[i]}")" ]] || return 1
    else
      cmp -s -- "$work/current" "${sources[i]}" || return 1
    fi
  done
}

good_end() { # installed|unchanged|reloaded
  local i files=""
  for i in "${!targets[@]}"; do
    if ((target_dir[i] == 0)); then files+=" $cert_dir/${targets[i]}"; else files+=" $key_dir/${targets[i]}"; fi
  done
  case $1 in
    unchanged) echo "unchanged:$files already hold this certificate; nothing was written or reloaded" ;;
    reloaded) echo "unchanged:$files already hold this certificate; the service was reloaded to serve it" ;;
    installed) echo "installed$files" ;;
  esac
  if [[ -n $verify_endpoint ]]; then echo "$verify_endpoint serves serial $SERVED, the installed certificate"; fi
  echo "RESULT cert_name=$cert_name status=$1 serial=$installed_serial not_after=$not_after sha256=$fingerprint" \
    "formats=$formats served=${SERVED:-unchecked}"
  exit 0
}

# A rehearsal ends here: what the install would do, with nothing written or reloaded.
rehearsed() { # would words
  echo "rehearsal: $2"
  echo "RESULT $summary status=ready would=$1 serial=$installed_serial not_after=$not_after sha256=$fingerprint"
  exit 0
}
if [[ $action == Rehearse ]]; then
  if unchanged_on_disk; then
    if [[ -z $verify_endpoint ]] || serves 0 "$fingerprint"; then rehearsed unchanged "the files already hold serial $installed_serial; the install would write nothing"; fi
    [[ -n $reload ]] || fail "the files hold the current certificate (serial $installed_serial) but $(served_words), and no reload command is set"
    rehearsed reload "the files already hold serial $installed_serial but $(served_words); the install would reload the service"
  fi
  made=""
  for k in 0 1; do if [[ -z ${dir_fd[k]} && " $made " != *" ${dir_real[k]} "* ]]; then made+=" ${dir_real[k]}"; fi; done
  plan="the install would write ${targets[*]}"
  if [[ -n $made ]]; then plan+=", making$made"; fi
  if [[ -n $reload ]]; then plan+=", then run: $reload"; fi
  if [[ -n $verify_endpoint ]]; then plan+=", then check that $verify_endpoint serves serial $installed_serial"; fi
  rehearsed install "$plan"
fi

if unchanged_on_disk; then
  if [[ -n $verify_endpoint ]] && ! serves 0 "$fingerprint"; then
    # Current files, but the service serves something else: it never took them. Reload once.
    current="the files hold the current certificate (serial $installed_serial) but $(served_words)"
    [[ -n $reload ]] || fail "$current, and no reload command is set"
    reload_service || fail "$current; $RELOAD_FAILURE"
    serves "$verify_seconds" "$fingerprint" || fail "the files hold the current certificate (serial $installed_serial) but after a reload $(served_words)"
    good_end reloaded
  fi
  good_end unchanged
fi

# --- Stage, then swap ------------------------------------------------------------------------------

# 9. The target directories, made where missing (certificates 0755, keys 0710 with the file group), and
#    in each a root-only staging directory: its random name journaled before it is made, its inode after.
random=$(openssl rand -hex 16)
for k in 0 1; do
  if [[ -z ${dir_fd[k]} ]]; then
    if ((k == 0)); then walk_directory "$cert_dir" create 0755 root; else walk_directory "$key_dir" create 0710 "$group"; fi
    dir_fd[k]=$OPENED dir_real[k]=$RESOLVED
    if ((k == 1)); then key_root_only=$ROOT_ONLY; fi
  fi
  stage_name[k]=".$cert_name~install.${random:k*16:16}" stage_inode[k]=-
done
NOTED="cannot journal the install in $state_dir (is the disk full?); nothing was changed"
journal_write staging || fail "$NOTED"
for k in 0 1; do
  mkdir -m 0700 -- "$fds/${dir_fd[k]}/${stage_name[k]}" 2>"$work/err" ||
    fail "cannot write in ${dir_real[k]} ($(said "$work/err")); nothing was changed"
  enter_directory "$fds/${dir_fd[k]}/${stage_name[k]}" "${dir_real[k]%/}/${stage_name[k]}" || fail "${stage_name[k]} $MOVED"
  stage_fd[k]=$OPENED
  read -r -a facts < <(stat -L -c '%d:%i %u %a' -- "$fds/$OPENED") || true
  [[ ${facts[1]:-}${facts[2]:-} == 0700 ]] || fail "${stage_name[k]} $MOVED"
  stage_inode[k]=${facts[0]}
done
journal_write staging || fail "$NOTED"

# 10. Each current file, whatever it is, kept as a hard link in the staging directory: for the rollback,
#     and for reading the password file (nobody can swap the link there). No target is opened by name.
for i in "${!targets[@]}"; do
  k=${target_dir[i]}
  had_old[i]=0
  if [[ -e $fds/${dir_fd[k]}/${targets[i]} || -L $fds/${dir_fd[k]}/${targets[i]} ]]; then
    ln -PT -- "$fds/${dir_fd[k]}/${targets[i]}" "$fds/${stage_fd[k]}/old-$i" 2>/dev/null ||
      fail "cannot keep the current ${targets[i]} (is it a directory?); nothing was changed"
    had_old[i]=1
  fi
done
if ((want_pkcs12)); then
  old="$fds/${stage_fd[1]}/old-$((keystore_index - 1))"
  if [[ ${had_old[keystore_index - 1]} == 1 && -f $old && ! -L $old ]]; then
    choose_password "$old" "$(stat -c %u -- "$old")" "$key_root_only"
  else
    choose_password "" "" "$key_root_only"
  fi
  if cmp -s -- "$work/keystore.pass.new" "$work/keystore.pass"; then rm -f -- "$work/keystore.pass.new"; else make_keystore; fi
fi

# 11. Each new file made whole in its staging directory: content, mode, owner.
for i in "${!targets[@]}"; do
  k=${target_dir[i]}
  staged="$fds/${stage_fd[k]}/new-$i"
  cat -- "${sources[i]}" 2>"$work/err" >"$staged" ||
    fail "cannot write ${targets[i]} in ${dir_real[k]} ($(said "$work/err")); nothing was changed"
  chmod "${modes[i]}" -- "$staged"
  chown "$owner:$group" -- "$staged" 2>/dev/null || fail "cannot give ${targets[i]} to $owner:$group; nothing was changed"
  new_inodes[i]=$(stat -c %d:%i -- "$staged")
done
rm -f -- "$work/privkey.pem" "$work/combined.pem" "$work/keystore.p12"

# 12. Each renamed over its target (a rename replaces what is there, never follows it): journaled first,
#     and only with the time left to reload, check and roll back.
((deadline - SECONDS >= 2 * (reload_seconds + 5) + verify_seconds)) ||
  fail "too little time is left before the command's timeout to reload, check and roll back; nothing was changed"
journal_write swapping || fail "$NOTED"
for i in "${!targets[@]}"; do
  k=${target_dir[i]}
  replaced=$((i + 1)) # before the rename, so that a signal right after it puts this one back too
  mv -fT -- "$fds/${stage_fd[k]}/new-$i" "$fds/${dir_fd[k]}/${targets[i]}" 2>"$work/err" ||
    fail "cannot put ${targets[i]} in place ($(said "$work/err"))"
done

# 13. Reload; if that fails, finish() puts the previous files back.
if [[ -n $reload ]]; then
  journal_write reloading || fail "${NOTED%%;*}"
  reload_service || fail "$RELOAD_FAILURE"
fi

# 14. The service must serve the new certificate, or the previous files go back and it is reloaded.
if [[ -n $verify_endpoint ]] && ! serves "$verify_seconds" "$fingerprint"; then
  current="the service does not serve the new certificate (serial $installed_serial) after $verify_seconds s: $(served_words)"
  trap '' HUP INT TERM
  undo_swap || fail "$current; the previous files could not all be put back: check $cert_dir and $key_dir"
  arm_signals
  outcome=""
  if [[ -n $reload ]]; then
    if reload_service; then outcome=" and the service reloaded"; else outcome=", but reloading with them failed too: $RELOAD_FAILURE"; fi
  fi
  fail "$current; the previous files are restored$outcome"
fi

# 15. Verified: the new files stay, the replaced ones become .previous, the staging and journal go.
journal_write committed || true
committed=1
trap '' HUP INT TERM
keep_previous
remove_stages
rm -f -- "$journal"
arm_signals
good_end installed
