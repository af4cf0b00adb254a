#!/bin/bash
# Check-ACMCertificate: reports which certificate this host holds under a name (serial, expiry,
# fingerprint), or that it holds none. SSM Agent runs it as root, with each document parameter in an
# SSM_* environment variable.
#
# What it guarantees:
# - It changes nothing on the host.
# - Every SSM_* value is checked again here, by the rules of the document's allowedPattern.
# - It reads <CertDirectory>/<CertName>-cert.pem only when that is a regular file, not a link: a link
#   planted there by whoever owns the directory is reported as status=missing, never followed. The
#   read is bounded in time, so nothing planted there can hold it.
# - A run ends with: RESULT cert_name=… status=present serial=… not_after=… sha256=…, or status=missing.
set -euo pipefail

cert_name=${SSM_CertName:-}
cert_dir=${SSM_CertDirectory:-/etc/ssl/certs}
if [[ ${#cert_name} -gt 64 || ! $cert_name =~ ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$ ]]; then
  echo "ERROR: parameter CertName is not valid" >&2
  exit 1
fi
if [[ ${#cert_dir} -gt 200 || ! $cert_dir =~ ^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$ ]]; then
  echo "ERROR: parameter CertDirectory is not valid" >&2
  exit 1
fi

file="$cert_dir/$cert_name-cert.pem"
if [[ -L $file || ! -f $file ]]; then
  echo "RESULT cert_name=$cert_name status=missing"
  exit 0
fi
if ! pem=$(timeout 10 openssl x509 -in "$file" 2>/dev/null); then
  echo "RESULT cert_name=$cert_name status=missing"
  exit 0
fi
serial_hex=$(openssl x509 -noout -serial <<<"$pem")
serial_hex=${serial_hex#*=}
serial_hex=${serial_hex,,}
serial=""
for ((k = 0; k < ${#serial_hex}; k += 2)); do serial+="${serial_hex:k:2}:"; done
not_after=$(openssl x509 -noout -enddate <<<"$pem")
not_after=$(date -u -d "${not_after#*=}" +%Y-%m-%dT%H:%M:%SZ)
fingerprint=$(openssl x509 -noout -fingerprint -sha256 <<<"$pem")
echo "RESULT cert_name=$cert_name status=present serial=${serial%:} not_after=$not_after sha256=${fingerprint#*=}"
