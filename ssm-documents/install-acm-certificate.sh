#!/bin/bash
# Install-ACMCertificate: installs the certificate bundle held in the secret SSM_SecretId in the
# formats asked for, runs the reload command, if any, and checks that the service serves the new
# certificate, if an endpoint is named. SSM Agent runs it as root, with each document parameter in an
# SSM_* environment variable. The files, by format (any combination):
#   always    CertDirectory/<CertName>-cert.pem        the certificate (0644; the drift check reads it)
#   pem       CertDirectory/<CertName>-chain.pem, -fullchain.pem (0644), KeyDirectory/<CertName>-privkey.pem
#   combined  KeyDirectory/<CertName>-combined.pem     private key, certificate and chain in one (HAProxy)
#   pkcs12    KeyDirectory/<CertName>-keystore.p12     key, certificate and chain (Java keystores), and
#             KeyDirectory/<CertName>-keystore.pass    its password. The password is made on the host on
#             the first install and kept: the next installs reuse what that file holds, so a service
#             configured with it keeps working; an administrator may put a password of their own there
#             first (8-128 printable characters, no spaces). It never leaves the host.
# Every key-bearing file is 0600, owned by FileOwner:FileGroup. The Remove document runs this same
# script with SSM_Action=Remove: it removes every one of these files and their .previous copies,
# through the same directory checks and under the same lock, and reads no secret.
#
# What it guarantees:
# - Every SSM_* value is checked again here, by the rules of the document's allowedPattern, before it
#   reaches a path or a command.
# - Nothing a non-root user can write turns it against the host. Every directory on the way to the files
#   must be writable by root and FileOwner only (a world-writable parent with the sticky bit, such as
#   /tmp, is allowed, because nobody else may rename what is in it), or the install stops before it
#   writes anything. Each file is made whole (content, mode, owner) in a root-only staging directory
#   created inside its target directory, then renamed into place. Both directories are reached through
#   descriptors opened once and checked, never through a path an owner could swap. A link or file
#   planted at a target, staging or .previous path is replaced by the rename: never followed, never
#   read. Outside <dir>/<CertName>-* it changes nothing but its own staging directories.
# - One install of a CertName at a time on a host: it holds a lock in a root-only directory
#   (/run/cert-lifecycle). A second install waits for it, up to 300 s, then installs; past that it
#   stops with an error and changes nothing. The lock is released on every exit (it is a descriptor).
# - Atomic and reversible: every file is the new one, or every file is what it was before. A failed
#   write, a failed reload command, a service that does not serve the new certificate, or
#   SIGTERM/SIGINT/SIGHUP part-way puts the previous files back. The replaced files are kept as
#   <file>.previous.
# - Proof of service: with VerifyEndpoint (host:port, optionally VerifyServerName for SNI) it connects
#   after the reload, for up to VerifySeconds (10 s by default), and compares the certificate
#   served with the one installed. A mismatch or no answer puts the previous files back, reloads again
#   and fails, saying what is served. When the files were already current but the service serves
#   another certificate, it reloads once and checks again.
# - Idempotent: when the files already are what this secret makes (bytes, mode and owner; for the
#   keystore, the same contents and algorithms under the same password), it renames nothing and does
#   not reload; a run every day costs a read of the secret.
# - It never prints key material or a password; they reach openssl through descriptors and files in
#   root-only directories.
# - A good run ends with: RESULT cert_name=… status=installed|unchanged serial=… not_after=… sha256=…
#   formats=… served=<serial>|unchecked (a removal with: RESULT cert_name=… status=removed|absent files=…)
#
# Two variables that only root can set on a host change where the lock lives and how long to wait for
# it (the tests set them; SSM Agent does not): CERT_LIFECYCLE_RUN_DIRECTORY, CERT_LIFECYCLE_LOCK_WAIT_SECONDS.
set -euo pipefail
umask 077
export LC_ALL=C

fail() {
  echo "ERROR: $*" >&2
  exit 1
}

require() { # name value pattern max-length
  if [[ ${#2} -gt $4 || ! $2 =~ $3 ]]; then
    fail "parameter $1 is not valid"
  fi
}

action=${SSM_Action:-Install}
cert_name=${SSM_CertName:-}
secret_id=${SSM_SecretId:-}
region=${SSM_Region:-}
cert_dir=${SSM_CertDirectory:-/etc/ssl/certs}
key_dir=${SSM_KeyDirectory:-/etc/ssl/private}
owner=${SSM_FileOwner:-root}
group=${SSM_FileGroup:-root}
reload=${SSM_ReloadCommand:-}
formats=${SSM_Formats:-pem}
p12_encryption=${SSM_Pkcs12Encryption:-aes-256}
verify_endpoint=${SSM_VerifyEndpoint:-}
verify_name=${SSM_VerifyServerName:-}
verify_seconds=${SSM_VerifySeconds:-10}

require Action "$action" '^(Install|Remove)$' 7
require CertName "$cert_name" '^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$' 64
if [[ $action == Install ]]; then
  require SecretId "$secret_id" '^acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}$' 100
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
if [[ -n $verify_endpoint ]] && ! ((10#${verify_endpoint##*:} >= 1 && 10#${verify_endpoint##*:} <= 65535)); then
  fail "parameter VerifyEndpoint is not valid"
fi
want_pem=0 want_combined=0 want_pkcs12=0
if [[ ,$formats, == *,pem,* ]]; then want_pem=1; fi
if [[ ,$formats, == *,combined,* ]]; then want_combined=1; fi
if [[ ,$formats, == *,pkcs12,* ]]; then want_pkcs12=1; fi

run_dir=${CERT_LIFECYCLE_RUN_DIRECTORY:-/run/cert-lifecycle}
lock_wait=${CERT_LIFECYCLE_LOCK_WAIT_SECONDS:-300}
require CERT_LIFECYCLE_RUN_DIRECTORY "$run_dir" '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$' 200
require CERT_LIFECYCLE_LOCK_WAIT_SECONDS "$lock_wait" '^[0-9]+$' 4

if [[ $action == Install ]]; then
  command -v aws >/dev/null || fail "the AWS CLI (aws) is not installed on this host"
  command -v openssl >/dev/null || fail "openssl is not installed on this host"
  if [[ -n $verify_endpoint ]]; then command -v timeout >/dev/null || fail "timeout (coreutils) is not installed on this host"; fi
fi
command -v flock >/dev/null || fail "flock (util-linux) is not installed on this host"
owner_uid=$(id -u "$owner" 2>/dev/null) || fail "user $owner does not exist on this host"
getent group "$group" >/dev/null || fail "group $group does not exist on this host"
fds=/proc/$$/fd
[[ -d $fds ]] || fail "/proc is not mounted"

# --- Directories -----------------------------------------------------------------------------------

# Fails unless the directory at $1 may be trusted: owned by root or the file owner, and writable by
# nobody else. With $3 = ancestor it may instead be sticky, like /tmp, where nobody may rename or remove
# an entry they do not own. $2 names it in messages. Sets ROOT_ONLY to 1 when only root may change it.
check_directory() { # stat-path name [ancestor]
  local uid mode
  read -r uid mode < <(stat -L -c '%u %a' -- "$1" 2>/dev/null) || fail "cannot inspect $2"
  ROOT_ONLY=0
  if [[ $uid == 0 ]] && ! ((8#$mode & 8#022)); then ROOT_ONLY=1; fi
  if [[ $uid != 0 && $uid != "$owner_uid" ]]; then
    fail "refusing to install: $2 belongs to $(stat -L -c %U -- "$1"), who could replace what is" \
      "installed below it; only root or $owner may own it (chown root '$2')"
  fi
  if ((8#$mode & 8#022)); then
    if [[ ${3:-} == ancestor ]] && ((8#$mode & 8#1000)); then return 0; fi
    fail "refusing to install: $2 is writable by users other than its owner (mode $mode), who could" \
      "replace what is installed below it (chmod go-w '$2')"
  fi
}

# Walks directory $1 from / one component at a time and checks every directory it passes
# (check_directory). It follows a symbolic link only where root made it in a directory only root may
# change (as /etc/ssl/certs -> ../pki/tls/certs): a link the file owner could have made or moved there
# might point anywhere. A missing directory is made, owned by root, mode 0755; the last one mode $2
# and group $3; with $4 = missing-ok nothing is made and RESOLVED is empty. Sets RESOLVED to the real
# path.
resolve_directory() { # path last-mode last-group [missing-ok]
  local -a rest more
  local current="" root_only part next target hops=0
  IFS=/ read -r -a rest <<<"${1#/}"
  check_directory / / ancestor
  root_only=$ROOT_ONLY
  while ((${#rest[@]} > 0)); do
    part=${rest[0]}
    rest=("${rest[@]:1}")
    case $part in
      "" | .) continue ;;
      ..)
        current=${current%/*}
        check_directory "${current:-/}" "${current:-/}" ancestor
        root_only=$ROOT_ONLY
        continue
        ;;
    esac
    next="$current/$part"
    if [[ -L $next ]]; then
      if [[ $root_only != 1 || $(stat -c %u -- "$next") != 0 ]]; then
        fail "refusing to install: $next is a symbolic link that $(stat -c %U -- "$next") could have" \
          "placed (it is not root's, in a directory only root may change); name the real directory instead"
      fi
      ((++hops <= 40)) || fail "too many symbolic links in $1"
      target=$(readlink -- "$next")
      IFS=/ read -r -a more <<<"$target"
      if [[ $target == /* ]]; then current=""; fi
      rest=(${more[@]+"${more[@]}"} ${rest[@]+"${rest[@]}"})
      continue
    fi
    if [[ ! -e $next ]]; then
      if [[ ${4:-} == missing-ok ]]; then
        RESOLVED=""
        return 0
      fi
      if [[ -z ${rest[*]-} ]]; then
        mkdir -m "$2" -- "$next" 2>/dev/null || fail "cannot create $next"
        chgrp -h -- "$3" "$next" || fail "cannot give $next to group $3"
      else
        mkdir -m 0755 -- "$next" 2>/dev/null || fail "cannot create $next"
      fi
    fi
    [[ -d $next && ! -L $next ]] || fail "$next is not a directory"
    if [[ -n ${rest[*]-} ]]; then check_directory "$next" "$next" ancestor; else check_directory "$next" "$next"; fi
    current=$next
    root_only=$ROOT_ONLY
  done
  RESOLVED=${current:-/}
}

# Enters $1 and opens it, then checks that what was opened is the directory at the real path $2 and
# trusted (or, with $3 = private, root's alone). Sets OPENED to the descriptor: from here on the
# directory is reached as $fds/<descriptor>, which no rename or link can redirect.
open_directory() { # path real-path [private]
  local fd
  cd -P -- "$1" 2>/dev/null || fail "cannot enter $2"
  exec {fd}<.
  cd /
  [[ $(readlink -- "$fds/$fd") == "$2" ]] || fail "$2 was moved or replaced during the install; nothing was changed"
  if [[ ${3:-} == private ]]; then
    [[ $(stat -L -c '%u %a' -- "$fds/$fd") == "0 700" ]] ||
      fail "$2 was replaced during the install; nothing was changed"
  else
    check_directory "$fds/$fd" "$2"
  fi
  OPENED=$fd
}

# --- One install of a CertName at a time -----------------------------------------------------------

[[ -d $run_dir && ! -L $run_dir ]] || mkdir -m 0700 -- "$run_dir" 2>/dev/null || true
[[ -d $run_dir && ! -L $run_dir ]] || fail "cannot create the lock directory $run_dir"
[[ $(stat -c '%u %a' -- "$run_dir") == "$(id -u) 700" ]] ||
  fail "the lock directory $run_dir must belong to $(id -un) with mode 0700"
exec {lock_fd}>>"$run_dir/install-$cert_name.lock"
if ! flock -w "$lock_wait" "$lock_fd"; then
  fail "another install of $cert_name has run on this host for more than $lock_wait s; nothing was changed (try again when it has finished)"
fi

# --- Remove (the Remove document) -----------------------------------------------------------------

# Removes <CertName>-<suffix> and its .previous in directory $1 for each suffix, through the
# directory's checked descriptor; a link there is removed, never followed. A missing directory holds
# nothing to remove.
remove_files() { # directory suffix...
  local dir=$1 suffix name entry
  shift
  resolve_directory "$dir" 0755 root missing-ok
  [[ -n $RESOLVED ]] || return 0
  open_directory "$RESOLVED" "$RESOLVED"
  for suffix in "$@"; do
    for name in "$cert_name-$suffix" "$cert_name-$suffix.previous"; do
      entry="$fds/$OPENED/$name"
      [[ -e $entry || -L $entry ]] || continue
      [[ -L $entry || ! -d $entry ]] || fail "$RESOLVED/$name is a directory; it was left alone"
      rm -f -- "$entry" || fail "cannot remove $RESOLVED/$name"
      removed=$((removed + 1))
    done
  done
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

work=$(mktemp -d)
stage_paths=()   # the staging directories made, as paths inside their target directories
stage_fds=()     # and their descriptors
targets=()       # each target's name in its directory
target_dirs=()   # descriptor of each target's directory
target_stages=() # descriptor of each target's staging directory
had_old=()       # 1 where the target existed: its old version is linked as old-<i> in its staging directory
replaced=0       # how many targets hold the new file
committed=0      # 1 once the reload succeeded: from then on the new files stay
restore() {
  local j failed=0 old target
  for ((j = replaced - 1; j >= 0; j--)); do
    target="$fds/${target_dirs[j]}/${targets[j]}"
    if [[ ${had_old[j]} == 1 ]]; then
      old="$fds/${target_stages[j]}/old-$j"
      # Where the new file never got there, the target still is the old one (the same inode).
      if [[ $(stat -c %d:%i -- "$old") == "$(stat -c %d:%i -- "$target" 2>/dev/null)" ]]; then continue; fi
      mv -fT -- "$old" "$target" || failed=1
    else
      rm -f -- "$target" || failed=1
    fi
  done
  replaced=0
  if ((failed)); then echo "ERROR: the previous files could not all be put back; check $cert_dir and $key_dir" >&2; fi
}
cleanup() {
  if ((replaced > 0 && !committed)); then restore; fi
  local i
  for i in "${!stage_paths[@]}"; do
    if [[ -n ${stage_fds[i]:-} ]]; then rm -f -- "$fds/${stage_fds[i]}"/*; fi
    rmdir -- "${stage_paths[i]}" 2>/dev/null || true
  done
  rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Read the bundle with this host's own credentials (ABAC: the secret's tag must match the role's).
if ! aws secretsmanager get-secret-value --region "$region" --secret-id "$secret_id" \
  --query SecretString --output text >"$work/bundle.pem" 2>"$work/aws.err"; then
  fail "cannot read secret $secret_id: $(tail -n 1 "$work/aws.err")"
fi

# 2. Split it: passphrase (base64), encrypted key, leaf certificate, then the chain.
begin='^-----BEGIN (.+)-----$'
label=""
out=""
certificates=0
while IFS= read -r line || [[ -n $line ]]; do
  line=${line%$'\r'}
  if [[ $line =~ $begin ]]; then
    label=${BASH_REMATCH[1]}
    case $label in
      "ACM EXPORT PASSPHRASE") out="$work/passphrase.b64" ;;
      "ENCRYPTED PRIVATE KEY") out="$work/key.enc.pem" ;;
      CERTIFICATE)
        certificates=$((certificates + 1))
        if ((certificates == 1)); then out="$work/cert.pem"; else out="$work/chain.pem"; fi
        ;;
      *) out="" ;;
    esac
    if [[ $label == "ACM EXPORT PASSPHRASE" ]]; then continue; fi
  fi
  if [[ -n $out ]]; then
    if [[ $label == "ACM EXPORT PASSPHRASE" && $line == -----END* ]]; then
      out=""
      continue
    fi
    printf '%s\n' "$line" >>"$out"
  fi
  if [[ $line == -----END* ]]; then out=""; fi
done <"$work/bundle.pem"

[[ -s $work/passphrase.b64 ]] || fail "secret $secret_id holds no passphrase"
[[ -s $work/key.enc.pem ]] || fail "secret $secret_id holds no encrypted private key"
[[ -s $work/cert.pem ]] || fail "secret $secret_id holds no certificate"
[[ -s $work/chain.pem ]] || fail "secret $secret_id holds no certificate chain"

# 3. Decrypt the key; the passphrase goes to openssl through a file descriptor, never an argument.
if ! openssl pkey -in "$work/key.enc.pem" -passin fd:3 -out "$work/privkey.pem" \
  3< <(base64 -d "$work/passphrase.b64") 2>"$work/openssl.err"; then
  fail "cannot decrypt the private key with the passphrase stored beside it"
fi

# 4. The key must belong to the certificate, and the chain must vouch for it.
key_public=$(openssl pkey -in "$work/privkey.pem" -pubout)
cert_public=$(openssl x509 -in "$work/cert.pem" -noout -pubkey)
[[ $key_public == "$cert_public" ]] || fail "the private key does not belong to the certificate"
if ! openssl verify -partial_chain -CAfile "$work/chain.pem" "$work/cert.pem" >/dev/null 2>&1; then
  fail "the certificate chain in the secret does not verify the certificate"
fi
cat "$work/cert.pem" "$work/chain.pem" >"$work/fullchain.pem"

# --- Stage, then swap --------------------------------------------------------------------------------

# 5. Open each target directory and clear out what a killed install of this name left there (the lock
#    says none is running), then make a staging directory in each that only root may enter.
open_target_directory() { # path mode group → sets OPENED
  local stale
  resolve_directory "$1" "$2" "$3"
  open_directory "$RESOLVED" "$RESOLVED"
  for stale in "$fds/$OPENED/.$cert_name~install."*; do
    if [[ -d $stale && ! -L $stale && $(stat -c %u -- "$stale") == 0 ]]; then
      rm -rf --one-file-system -- "$stale"
    fi
  done
}
make_stage() { # directory-descriptor → sets OPENED
  local real path
  real=$(readlink -- "$fds/$1")
  path=$(mktemp -d -- "$fds/$1/.$cert_name~install.XXXXXX") || fail "cannot write in $real"
  stage_paths+=("$path")
  open_directory "$path" "$real/${path##*/}" private
  stage_fds+=("$OPENED")
}
open_target_directory "$cert_dir" 0755 root
cert_dir_fd=$OPENED
open_target_directory "$key_dir" 0710 "$group"
key_dir_fd=$OPENED
make_stage "$cert_dir_fd"
cert_stage=$OPENED
make_stage "$key_dir_fd"
key_stage=$OPENED

# 6. The files the formats ask for: name, where its content is made, mode, directory.
sources=()
modes=()
add_target() { # name source mode directory-descriptor staging-descriptor
  targets+=("$1")
  sources+=("$2")
  modes+=("$3")
  target_dirs+=("$4")
  target_stages+=("$5")
}
add_target "$cert_name-cert.pem" "$work/cert.pem" 0644 "$cert_dir_fd" "$cert_stage"
if ((want_pem)); then
  add_target "$cert_name-chain.pem" "$work/chain.pem" 0644 "$cert_dir_fd" "$cert_stage"
  add_target "$cert_name-fullchain.pem" "$work/fullchain.pem" 0644 "$cert_dir_fd" "$cert_stage"
  add_target "$cert_name-privkey.pem" "$work/privkey.pem" 0600 "$key_dir_fd" "$key_stage"
fi
if ((want_combined)); then
  cat "$work/privkey.pem" "$work/cert.pem" "$work/chain.pem" >"$work/combined.pem"
  add_target "$cert_name-combined.pem" "$work/combined.pem" 0600 "$key_dir_fd" "$key_stage"
fi
keystore_index=-1
if ((want_pkcs12)); then
  add_target "$cert_name-keystore.pass" "$work/keystore.pass" 0600 "$key_dir_fd" "$key_stage"
  add_target "$cert_name-keystore.p12" "$work/keystore.p12" 0600 "$key_dir_fd" "$key_stage"
  keystore_index=$((${#targets[@]} - 1))
fi

# 7. Keep each current file, whatever it is, as a hard link in the staging directory: for the rollback,
#    and for the reads below, which go through the link there (nobody else can swap it for a link or a
#    pipe). A target is never read through its own name.
for i in "${!targets[@]}"; do
  current="$fds/${target_dirs[i]}/${targets[i]}"
  had_old[i]=0
  if [[ -e $current || -L $current ]]; then
    ln -PT -- "$current" "$fds/${target_stages[i]}/old-$i" 2>/dev/null ||
      fail "cannot keep the current ${targets[i]} (is it a directory?); nothing was changed"
    had_old[i]=1
  fi
done

# A regular file kept in step 7 (not a link, pipe or device), or nothing.
kept_file() { # index → prints the kept file's path, or fails
  local old="$fds/${target_stages[$1]}/old-$1"
  [[ ${had_old[$1]} == 1 && ! -L $old && -f $old ]] && printf '%s' "$old"
}

# 8. The keystore: its password is the one the host already keeps beside it, when that is usable, so
#    a service configured with it keeps working; otherwise a new random one. It reaches openssl in a
#    root-only file, never on a command line. The kept file is read only when it is root's or the file
#    owner's and has no other name than its own (and the staging link): otherwise a hard link the owner
#    planted there could copy the first line of a root-only file into a file the owner reads.
keystore_digest() { # keystore → a digest of what it holds and how it is protected (not its random salts)
  { timeout 20 openssl pkcs12 -in "$1" -passin "file:$work/keystore.pass" -info -nodes 2>&1 || true; } | sha256sum
}
if ((want_pkcs12)); then
  password=""
  if old=$(kept_file $((keystore_index - 1))); then
    read -r links file_uid < <(stat -c '%h %u' -- "$old")
    if [[ $links != 2 || ($file_uid != 0 && $file_uid != "$owner_uid") ]]; then
      echo "WARNING: $key_dir/$cert_name-keystore.pass is not a file of root or $owner with one name" \
        "($links links, owner uid $file_uid); it is not read, a new password is made" >&2
    else
      password=$(head -c 256 -- "$old" | head -n 1)
      if [[ ! $password =~ ^[[:graph:]]{8,128}$ ]]; then
        password=""
        echo "WARNING: $key_dir/$cert_name-keystore.pass holds no usable password (8-128 printable" \
          "characters, no spaces); a new one is made, and services that open the keystore need it" >&2
      fi
    fi
  fi
  if [[ -z $password ]]; then password=$(openssl rand -hex 16); fi
  printf '%s\n' "$password" >"$work/keystore.pass"
  unset password
  algorithms=()
  if [[ $p12_encryption == legacy-3des ]]; then
    # For JVMs before 8u301 / 11.0.12, which cannot read AES (PBES2) keystores or SHA-256 MACs.
    algorithms=(-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1)
  fi
  if ! openssl pkcs12 -export -inkey "$work/privkey.pem" -in "$work/cert.pem" -certfile "$work/chain.pem" \
    -name "$cert_name" ${algorithms[@]+"${algorithms[@]}"} -passout "file:$work/keystore.pass" \
    -out "$work/keystore.p12" 2>"$work/openssl.err"; then
    fail "cannot make the PKCS#12 keystore: $(tail -n 1 "$work/openssl.err" | tr -cd '[:print:]')"
  fi
fi

# 9. Make each new file whole in its staging directory: content, mode and owner.
for i in "${!targets[@]}"; do
  staged="$fds/${target_stages[i]}/new-$i"
  cat -- "${sources[i]}" >"$staged" || fail "cannot write ${targets[i]}"
  chmod "${modes[i]}" -- "$staged"
  chown "$owner:$group" -- "$staged" || fail "cannot give ${targets[i]} to $owner:$group"
done

# 10. Nothing to do when every target already is the file just made: a regular file with the same
#     bytes, mode and owner (the keystore: the same contents and algorithms under the same password,
#     since its salts are new each time). Then nothing is renamed and nothing reloaded.
unchanged=1
for i in "${!targets[@]}"; do
  new="$fds/${target_stages[i]}/new-$i"
  if ! old=$(kept_file "$i") ||
    [[ $(stat -c '%a %u %g' -- "$old") != "$(stat -c '%a %u %g' -- "$new")" ]]; then
    unchanged=0
    break
  fi
  if ((i == keystore_index)); then
    [[ $(keystore_digest "$old") == "$(keystore_digest "$new")" ]] || unchanged=0
  else
    [[ $(sha256sum <"$old") == "$(sha256sum <"$new")" ]] || unchanged=0
  fi
  ((unchanged)) || break
done

# The serial of a certificate, as lower-case hex pairs joined by colons.
colon_serial() { # certificate-pem-text
  local hex pairs="" k
  hex=$(openssl x509 -noout -serial <<<"$1")
  hex=${hex#*=}
  hex=${hex,,}
  for ((k = 0; k < ${#hex}; k += 2)); do pairs+="${hex:k:2}:"; done
  printf '%s' "${pairs%:}"
}
installed_pem=$(cat "$work/cert.pem")
serial=$(colon_serial "$installed_pem")
fingerprint=$(openssl x509 -noout -fingerprint -sha256 <<<"$installed_pem")
fingerprint=${fingerprint#*=}

# Runs the reload command, without this script's descriptors (a service it starts must not hold the
# lock). Sets RELOAD_FAILURE to what went wrong, when it fails.
reload_service() {
  local status said
  read -r -a reload_words <<<"$reload"
  if "${reload_words[@]}" >"$work/reload.out" 2>&1 {lock_fd}>&- {cert_dir_fd}>&- {key_dir_fd}>&- \
    {cert_stage}>&- {key_stage}>&-; then
    return 0
  else
    status=$?
  fi
  said=$(tail -n 1 "$work/reload.out" | tr -cd '[:print:]' | cut -c 1-300)
  if [[ -z $said ]]; then said="it printed nothing"; else said="its last line: $said"; fi
  RELOAD_FAILURE="reload command '$reload' failed (exit $status; $said)"
  return 1
}

# Asks the endpoint for its certificate until it is the installed one, for up to verify_seconds (with
# $1 = once, one question). Sets SERVED to the serial of the last certificate served ("" when nothing
# answered).
serves_installed() { # [once]
  local deadline=$((SECONDS + verify_seconds)) pem served_fingerprint
  if [[ ${1:-} == once ]]; then deadline=0; fi
  local -a sni=()
  if [[ -n $verify_name ]]; then sni=(-servername "$verify_name"); fi
  SERVED=""
  while :; do
    pem=$(timeout 5 openssl s_client -connect "$verify_endpoint" ${sni[@]+"${sni[@]}"} </dev/null 2>/dev/null |
      openssl x509 2>/dev/null) || pem=""
    if [[ -n $pem ]]; then
      SERVED=$(colon_serial "$pem")
      served_fingerprint=$(openssl x509 -noout -fingerprint -sha256 <<<"$pem")
      if [[ ${served_fingerprint#*=} == "$fingerprint" ]]; then return 0; fi
    fi
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 1
  done
}
served_words() {
  if [[ -n $SERVED ]]; then echo "$verify_endpoint serves serial $SERVED"; else echo "no TLS answer on $verify_endpoint"; fi
}

result=unchanged
if ! ((unchanged)); then
  # 11. Rename each new file over its target: a rename replaces whatever is there, never follows it.
  for i in "${!targets[@]}"; do
    # Counted before the rename, so that a signal right after it still puts this one back too.
    replaced=$((i + 1))
    if ! mv -fT -- "$fds/${target_stages[i]}/new-$i" "$fds/${target_dirs[i]}/${targets[i]}" 2>"$work/mv.err"; then
      fail "cannot put ${targets[i]} in place ($(tail -n 1 "$work/mv.err")); the previous files are restored"
    fi
  done

  # 12. Reload the service; if that fails, the previous files go back (cleanup).
  if [[ -n $reload ]] && ! reload_service; then
    fail "$RELOAD_FAILURE; the previous files are restored"
  fi

  # 13. The service must serve the new certificate; if it does not, the previous files go back and the
  #     service is reloaded with them.
  if [[ -n $verify_endpoint ]] && ! serves_installed; then
    served=$(served_words)
    restore
    again=""
    if [[ -n $reload ]]; then
      if reload_service; then again=" and the service reloaded"; else again=", but reloading with them failed too: $RELOAD_FAILURE"; fi
    fi
    fail "the service does not serve the new certificate (serial $serial) after $verify_seconds s: $served;" \
      "the previous files are restored$again"
  fi
  committed=1
  result=installed

  # 14. The replaced files become <file>.previous (a rename too: whatever is planted there is replaced).
  for i in "${!targets[@]}"; do
    if [[ ${had_old[i]} == 1 ]]; then
      mv -fT -- "$fds/${target_stages[i]}/old-$i" "$fds/${target_dirs[i]}/${targets[i]}.previous" 2>/dev/null ||
        echo "WARNING: could not keep the replaced ${targets[i]} as ${targets[i]}.previous" >&2
    fi
  done
elif [[ -n $verify_endpoint ]] && ! serves_installed once; then
  # The files are current but the service serves something else: it never took them. Reload once.
  served=$(served_words)
  [[ -n $reload ]] || fail "the files hold the current certificate (serial $serial) but $served, and no reload command is set"
  reload_service || fail "the files hold the current certificate (serial $serial) but $served; $RELOAD_FAILURE"
  serves_installed ||
    fail "the files hold the current certificate (serial $serial) but after a reload $(served_words)"
  result=reloaded
fi

# 15. The last line is for the workflow: what is installed now, and whether this run changed it.
not_after=$(openssl x509 -noout -enddate <<<"$installed_pem")
not_after=$(date -u -d "${not_after#*=}" +%Y-%m-%dT%H:%M:%SZ)
files=""
for i in "${!targets[@]}"; do
  if [[ ${target_dirs[i]} == "$cert_dir_fd" ]]; then files+=" $cert_dir/${targets[i]}"; else files+=" $key_dir/${targets[i]}"; fi
done
case $result in
  unchanged) echo "unchanged:$files already hold this certificate; nothing was written or reloaded" ;;
  reloaded) echo "unchanged:$files already hold this certificate; the service was reloaded to serve it" ;;
  installed) echo "installed$files" ;;
esac
if [[ -n $verify_endpoint ]]; then echo "$verify_endpoint serves serial $SERVED, the installed certificate"; fi
echo "RESULT cert_name=$cert_name status=$result serial=$serial not_after=$not_after sha256=$fingerprint" \
  "formats=$formats served=${SERVED:-unchecked}"
