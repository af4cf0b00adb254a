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
# - With VerifyEndpoint (host:port, optionally VerifyServerName for SNI) it also asks the service, once,
#   bounded in time, which certificate it serves there, and reports that serial as served=…, or
#   served=none when nothing answers TLS.
# - A run ends with: RESULT cert_name=… status=present serial=… not_after=… sha256=… [served=…], or
#   status=missing [served=…].
set -euo pipefail
export LC_ALL=C

cert_name=${SSM_CertName:-}
cert_dir=${SSM_CertDirectory:-/etc/ssl/certs}
verify_endpoint=${SSM_VerifyEndpoint:-}
verify_name=${SSM_VerifyServerName:-}
if [[ ${#cert_name} -gt 64 || ! $cert_name =~ ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$ ]]; then
  echo "ERROR: parameter CertName is not valid" >&2
  exit 1
fi
if [[ ${#cert_dir} -gt 200 || ! $cert_dir =~ ^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$ ]]; then
  echo "ERROR: parameter CertDirectory is not valid" >&2
  exit 1
fi

if [[ ${#verify_endpoint} -gt 262 || ! $verify_endpoint =~ ^(([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5})?$ ]]; then
  echo "ERROR: parameter VerifyEndpoint is not valid" >&2
  exit 1
fi
if [[ ${#verify_name} -gt 253 || ! $verify_name =~ ^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)?$ ]]; then
  echo "ERROR: parameter VerifyServerName is not valid" >&2
  exit 1
fi

# The serial of a certificate, as lower-case hex pairs joined by colons.
colon_serial() { # certificate-pem-text
  local hex pairs="" k
  hex=$(openssl x509 -noout -serial <<<"$1")
  hex=${hex#*=}
  hex=${hex,,}
  for ((k = 0; k < ${#hex}; k += 2)); do pairs+="${hex:k:2}:"; done
  printf '%s' "${pairs%:}"
}

served=""
if [[ -n $verify_endpoint ]]; then
  sni=()
  if [[ -n $verify_name ]]; then sni=(-servername "$verify_name"); fi
  served_pem=$(timeout 10 openssl s_client -connect "$verify_endpoint" ${sni[@]+"${sni[@]}"} </dev/null 2>/dev/null |
    openssl x509 2>/dev/null) || served_pem=""
  if [[ -n $served_pem ]]; then served=" served=$(colon_serial "$served_pem")"; else served=" served=none"; fi
fi

file="$cert_dir/$cert_name-cert.pem"
if [[ -L $file || ! -f $file ]] || ! pem=$(timeout 10 openssl x509 -in "$file" 2>/dev/null); then
  echo "RESULT cert_name=$cert_name status=missing$served"
  exit 0
fi
not_after=$(openssl x509 -noout -enddate <<<"$pem")
not_after=$(date -u -d "${not_after#*=}" +%Y-%m-%dT%H:%M:%SZ)
fingerprint=$(openssl x509 -noout -fingerprint -sha256 <<<"$pem")
echo "RESULT cert_name=$cert_name status=present serial=$(colon_serial "$pem") not_after=$not_after sha256=${fingerprint#*=}$served"
