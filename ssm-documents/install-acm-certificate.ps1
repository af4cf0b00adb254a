# Install-ACMCertificate, Windows step: installs the certificate in the secret SSM_SecretId into the
# machine's certificate store, moves the configured IIS and HTTP.sys bindings to it, and checks that the
# endpoint serves it; on any failure the bindings go back to the previous certificate and the new one
# leaves the store. SSM Agent runs it as SYSTEM with Windows PowerShell 5.1
# (powershell.exe -NoProfile -ExecutionPolicy Unrestricted -f <file>), each document parameter in an
# SSM_* variable. With SSM_Action=Remove it takes the certificate out of the bindings it owns and out of
# the store; with Check it reports the store's certificate, the bindings' and the served one, and changes
# nothing. Guarantees:
# - Every SSM_* value is checked again, by the document's allowedPattern, before any use; nothing from
#   a parameter reaches a command line, a path or a registry name unchecked.
# - Windows PowerShell 5.1 syntax only (a test parses this file and refuses anything newer).
# - The key is never on disk unprotected: the secret carries a PKCS #12 keystore made at export under its
#   own random password, imported straight into the store; not exportable unless KeyExportable=true.
# - One install of a CertName at a time (a named mutex, Global\CertLifecycle-<CertName>).
# - Before a binding moves, what it pointed at is recorded (HKLM:\SOFTWARE\CertLifecycle, writable by
#   administrators only): a run killed in between (SSM's cancel and timeout) is undone by the next run of
#   the name before it does anything else.
# - Idempotent: when the store holds the certificate and every binding points at it, nothing changes.
# - After success the previous certificate stays in the store for rollback; older ones this product
#   installed under the name are removed.
# - It never prints key material or a password. Every failure ends with one ERROR: line. A good run
#   ends with RESULT cert_name=... status=installed|unchanged serial=... not_after=... sha256=...
#   thumbprint=... served=...|unchecked (Remove: status=removed|absent; Check: status=present serial=...
#   not_after=... sha256=... bindings=... [served=...], or status=missing).
# The Windows-only operations (store location, secret read, bindings, key ACL, friendly name, state,
# compliance) are the functions under "Host operations"; tests dot-source this file with -DefineOnly,
# replace those, and run the rest for real.
param([switch]$DefineOnly)
# A member account's documents set the central account's secret ARN prefix here.
$SecretsArn = ''

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$X509 = 'System.Security.Cryptography.X509Certificates'
$ProductPrefix = 'cert-lifecycle'
$StateKey = 'HKLM:\SOFTWARE\CertLifecycle\Certificates'

# --- Output and failures -------------------------------------------------------------------------------

# A line of the run's output. Functions return values through the pipeline, so words go straight out.
function Write-Line([string]$Text) { [Console]::Out.WriteLine($Text) }


function Stop-Install([string]$Message) {
  throw (New-Object System.InvalidOperationException -ArgumentList "CERT-LIFECYCLE: $Message")
}

function Get-FailureText($ErrorRecord) {
  $text = $ErrorRecord.Exception.Message
  if ($text.StartsWith('CERT-LIFECYCLE: ')) { return $text.Substring(16) }
  $line = $ErrorRecord.InvocationInfo.ScriptLineNumber
  return "the run stopped: $($text -replace '[\r\n]+', ' ') (line $line); run it again, and report it if it persists"
}

# --- Parameters, checked again -----------------------------------------------------------------------

# A value and the rule of its document parameter: the whole value (no newline slips past an anchor),
# case-sensitive, at most max characters.
function Test-Parameter([string]$Value, [string]$Pattern, [int]$MaxChars) {
  if ($Value.Length -gt $MaxChars -or $Value.IndexOfAny([char[]]"`r`n") -ge 0) { return $false }
  $anchored = '\A(?:' + $Pattern.Substring(1, $Pattern.Length - 2) + ')\z'
  return [regex]::IsMatch($Value, $anchored, [System.Text.RegularExpressions.RegexOptions]::CultureInvariant)
}

function Read-Parameter([string]$Name, [string]$Default, [string]$Pattern, [int]$MaxChars) {
  $value = [Environment]::GetEnvironmentVariable("SSM_$Name")
  if ($null -eq $value) { $value = $Default }
  if (-not (Test-Parameter $value $Pattern $MaxChars)) { Stop-Install "parameter $Name is not valid" }
  return $value
}

function Read-Parameters {
  $p = @{}
  $p.Action = Read-Parameter 'Action' 'Install' '^(Install|Remove|Check)$' 7
  $p.Certificates = Read-Parameter 'Certificates' '' '^(acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}( acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}){0,99})?$' 10099
  $p.CertName = Read-Parameter 'CertName' '' '^([A-Za-z0-9]+([._-][A-Za-z0-9]+)*)?$' 64
  $p.SecretId = Read-Parameter 'SecretId' '' '^(acm-passphrase/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16})?$' 100
  $p.Region = Read-Parameter 'Region' '' '^[a-z]{2}(-[a-z]+)+-[0-9]+$' 32
  $p.VerifyEndpoint = Read-Parameter 'VerifyEndpoint' '' '^(([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5})?$' 262
  $p.VerifySeconds = Read-Parameter 'VerifySeconds' '10' '^([0-9]|[1-9][0-9]|[12][0-9][0-9]|300)$' 3
  $p.VerifyServerName = Read-Parameter 'VerifyServerName' '' '^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)?$' 253
  $p.IisBindings = Read-Parameter 'IisBindings' '' '^([A-Za-z0-9][A-Za-z0-9 ._-]{0,63}:[0-9]{1,5}:[A-Za-z0-9.*-]{0,253}(;[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}:[0-9]{1,5}:[A-Za-z0-9.*-]{0,253}){0,4})?$' 400
  $p.HttpSysBindings = Read-Parameter 'HttpSysBindings' '' '^((ipport=([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:]+\])|hostnameport=[A-Za-z0-9.-]{1,253}):[0-9]{1,5}( (ipport=([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:]+\])|hostnameport=[A-Za-z0-9.-]{1,253}):[0-9]{1,5}){0,4})?$' 300
  $p.KeyReaders = Read-Parameter 'KeyReaders' '' '^([A-Za-z0-9][A-Za-z0-9 ._-]{0,31}\\[A-Za-z0-9][A-Za-z0-9 ._$-]{0,63}(;[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}\\[A-Za-z0-9][A-Za-z0-9 ._$-]{0,63}){0,4})?$' 200
  $p.KeyExportable = Read-Parameter 'KeyExportable' 'false' '^(true|false)$' 5
  if ($p.Action -eq 'Install' -and -not $p.Region) { Stop-Install 'parameter Region is not valid' }
  foreach ($port in ([regex]::Matches($p.IisBindings + ';' + $p.HttpSysBindings, ':([0-9]{1,5})(?=;| |$)') | ForEach-Object { [int]$_.Groups[1].Value })) {
    if ($port -lt 1 -or $port -gt 65535) { Stop-Install "a binding's port $port is not a TCP port" }
  }
  if ($p.VerifyEndpoint) {
    $port = [int]($p.VerifyEndpoint.Substring($p.VerifyEndpoint.LastIndexOf(':') + 1))
    if ($port -lt 1 -or $port -gt 65535) { Stop-Install 'parameter VerifyEndpoint is not valid' }
  }
  return $p
}

# The configured bindings, each with a Key that names it in messages and the record.
function Get-ConfiguredBindings($P) {
  $bindings = @()
  if ($P.IisBindings) {
    foreach ($entry in $P.IisBindings.Split(';')) {
      $parts = $entry.Split(':')
      $bindings += @{ Kind = 'iis'; Site = $parts[0]; Port = [int]$parts[1]; HostName = $parts[2]; Key = "iis:$entry" }
    }
  }
  if ($P.HttpSysBindings) {
    foreach ($entry in $P.HttpSysBindings.Split(' ')) {
      $kind, $endpoint = $entry.Split('=', 2)
      $bindings += @{ Kind = 'httpsys'; Type = $kind; Endpoint = $endpoint; Key = "httpsys:$entry" }
    }
  }
  return , $bindings
}

# --- Host operations: Windows-only, replaced by the tests --------------------------------------------

function Get-StoreLocation { return 'LocalMachine' }

# The secret's text, read with this host's own credentials: AWS Tools for PowerShell where installed
# (every AWS Windows AMI), else the AWS CLI from its install directory (never a PATH lookup).
function Read-SecretText([string]$SecretId, [string]$Region) {
  if (Get-Command -Name Get-SECSecretValue -ErrorAction SilentlyContinue) {
    return (Get-SECSecretValue -SecretId $SecretId -Region $Region).SecretString
  }
  $cli = Join-Path $env:ProgramFiles 'Amazon\AWSCLIV2\aws.exe'
  if (-not (Test-Path -LiteralPath $cli -PathType Leaf)) {
    Stop-Install 'neither AWS Tools for PowerShell (Get-SECSecretValue) nor the AWS CLI v2 is installed on this host'
  }
  $text = & $cli secretsmanager get-secret-value --region $Region --secret-id $SecretId --query SecretString --output text 2>&1
  if ($LASTEXITCODE -ne 0) { throw ($text | Select-Object -Last 1) }
  return ($text -join "`n")
}

function Add-StoreCertificate($Certificate) {
  $store = Open-Store 'ReadWrite'
  try { $store.Add($Certificate) } finally { $store.Close() }
}

function Set-CertificateFriendlyName($Certificate, [string]$Name) { $Certificate.FriendlyName = $Name }

# Read on the private key's file for each identity (an IIS application pool, a service account).
function Grant-PrivateKeyRead($Certificate, [string[]]$Identities) {
  if ($Identities.Count -eq 0) { return }
  $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
  if ($rsa -is [System.Security.Cryptography.RSACng]) { $name = $rsa.Key.UniqueName; $folder = 'Microsoft\Crypto\Keys' }
  elseif ($null -ne $rsa) { $name = $rsa.CspKeyContainerInfo.UniqueKeyContainerName; $folder = 'Microsoft\Crypto\RSA\MachineKeys' }
  else {
    $ec = [System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($Certificate)
    $name = $ec.Key.UniqueName; $folder = 'Microsoft\Crypto\Keys'
  }
  $file = Join-Path (Join-Path $env:ProgramData $folder) $name
  $acl = Get-Acl -LiteralPath $file
  $changed = $false
  foreach ($identity in $Identities) {
    $held = @($acl.Access | Where-Object { $_.IdentityReference.Value -eq $identity -and $_.AccessControlType -eq 'Allow' -and ($_.FileSystemRights -band [System.Security.AccessControl.FileSystemRights]::Read) -eq [System.Security.AccessControl.FileSystemRights]::Read })
    if ($held.Count -gt 0) { continue }
    $rule = New-Object System.Security.AccessControl.FileSystemAccessRule -ArgumentList $identity, 'Read', 'Allow'
    $acl.AddAccessRule($rule)
    $changed = $true
  }
  if ($changed) { Set-Acl -LiteralPath $file -AclObject $acl }
}

# Deletes the persisted private key of a certificate leaving the store (the store keeps only a link to it).
function Remove-PrivateKey($Certificate) {
  if (-not $Certificate.HasPrivateKey) { return }
  $key = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
  if ($null -eq $key) { $key = [System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($Certificate) }
  if ($key -is [System.Security.Cryptography.RSACng] -or $key -is [System.Security.Cryptography.ECDsaCng]) { $key.Key.Delete() }
  elseif ($key -is [System.Security.Cryptography.RSACryptoServiceProvider]) { $key.PersistKeyInCsp = $false; $key.Clear() }
}

# Whether any IIS or HTTP.sys binding on this host, configured here or not, still uses the thumbprint.
function Test-CertificateInUse([string]$Thumbprint) {
  if (Get-Module -ListAvailable -Name WebAdministration) {
    Import-Module WebAdministration
    foreach ($binding in @(Get-ChildItem -Path IIS:\SslBindings -ErrorAction SilentlyContinue)) {
      if ([string]$binding.Thumbprint -eq $Thumbprint) { return $true }
    }
  }
  $lines = & "$env:SystemRoot\System32\netsh.exe" http show sslcert
  return [bool]($lines | Select-String -SimpleMatch -Pattern $Thumbprint.ToLowerInvariant())
}

function Get-IisBindingThumbprint($Binding) {
  Import-Module WebAdministration
  $found = Get-WebBinding -Name $Binding.Site -Protocol https -Port $Binding.Port -HostHeader $Binding.HostName
  if ($null -eq $found) { Stop-Install "site $($Binding.Site) has no https binding on port $($Binding.Port) for host name '$($Binding.HostName)'" }
  return [string]$found.certificateHash
}

function Set-IisBindingCertificate($Binding, [string]$Thumbprint) {
  Import-Module WebAdministration
  $found = Get-WebBinding -Name $Binding.Site -Protocol https -Port $Binding.Port -HostHeader $Binding.HostName
  if ($Thumbprint) { $found.AddSslCertificate($Thumbprint, 'My') } else { $found.RemoveSslCertificate() }
}

function Get-HttpSysBinding($Binding) {
  $lines = & "$env:SystemRoot\System32\netsh.exe" http show sslcert "$($Binding.Type)=$($Binding.Endpoint)"
  if ($LASTEXITCODE -ne 0) { Stop-Install "HTTP.sys has no certificate binding for $($Binding.Type)=$($Binding.Endpoint); create it once with netsh http add sslcert" }
  $hash = ($lines | Select-String 'Certificate Hash\s+:\s+([0-9a-fA-F]+)').Matches[0].Groups[1].Value
  $app = ($lines | Select-String 'Application ID\s+:\s+(\{[0-9a-fA-F-]+\})').Matches[0].Groups[1].Value
  return @{ Thumbprint = $hash.ToUpperInvariant(); AppId = $app }
}

function Set-HttpSysBindingCertificate($Binding, [string]$Thumbprint, [string]$AppId) {
  $netsh = "$env:SystemRoot\System32\netsh.exe"
  $target = "$($Binding.Type)=$($Binding.Endpoint)"
  if ($Thumbprint) { $out = & $netsh http update sslcert $target "certhash=$Thumbprint" "appid=$AppId" certstorename=MY }
  else { $out = & $netsh http delete sslcert $target }
  if ($LASTEXITCODE -ne 0) { throw "netsh http: $($out -join ' ')" }
}

# What this product installed under a CertName: Current, Previous, and while bindings move, Pending (the
# new thumbprint) and Was (each binding's thumbprint before). Administrators only may write the key.
function Get-InstallState([string]$CertName) {
  $text = (Get-ItemProperty -LiteralPath $StateKey -Name $CertName -ErrorAction SilentlyContinue).$CertName
  if (-not $text) { return @{} }
  return ConvertTo-Hashtable (ConvertFrom-Json $text)
}

function Set-InstallState([string]$CertName, $State) {
  if (-not (Test-Path -LiteralPath $StateKey)) { New-Item -Path $StateKey -Force | Out-Null }
  if ($State.Count -eq 0) { Remove-ItemProperty -LiteralPath $StateKey -Name $CertName -ErrorAction SilentlyContinue; return }
  Set-ItemProperty -LiteralPath $StateKey -Name $CertName -Value (ConvertTo-Json $State -Compress -Depth 4)
}

function Write-ComplianceItem([string]$SecretId, [string]$CertName, [string]$Status, $Details) {
  $node = $env:AWS_SSM_INSTANCE_ID
  $region = $env:AWS_SSM_REGION_NAME
  if (-not (Test-Parameter ([string]$node) '^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$' 20) -or -not (Test-Parameter ([string]$region) '^[a-z]{2}(-[a-z]+)+-[0-9]+$' 32)) { return }
  $item = New-Object Amazon.SimpleSystemsManagement.Model.ComplianceItemEntry
  $item.Id = $CertName; $item.Title = $CertName; $item.Severity = 'HIGH'; $item.Status = $Status; $item.Details = $Details
  Write-SMComplianceItem -ResourceId $node -ResourceType ManagedInstance -ComplianceType "Custom:CertLifecycle_$($SecretId.Split('/')[-1])" -Item $item -ExecutionSummary_ExecutionTime ([DateTime]::UtcNow) -ExecutionSummary_ExecutionType Command -Region $region
}

# --- The certificate ----------------------------------------------------------------------------------

function ConvertTo-Hashtable($Object) {
  $table = @{}
  if ($null -eq $Object) { return $table }
  foreach ($property in $Object.PSObject.Properties) {
    if ($property.Value -is [System.Management.Automation.PSCustomObject]) { $table[$property.Name] = ConvertTo-Hashtable $property.Value }
    else { $table[$property.Name] = $property.Value }
  }
  return $table
}

# The secret's PEM blocks: the leaf, its chain, and the Windows keystore with its password.
function Split-Bundle([string]$Text, [string]$SecretId) {
  $blocks = [regex]::Matches($Text, '-----BEGIN ([A-Z0-9 #]+)-----\r?\n([A-Za-z0-9+/=\r\n]*)-----END \1-----')
  $bundle = @{ Certificates = @(); Pkcs12 = $null; Pkcs12Password = $null }
  foreach ($block in $blocks) {
    $bytes = [Convert]::FromBase64String(($block.Groups[2].Value -replace '\s', ''))
    switch ($block.Groups[1].Value) {
      'CERTIFICATE' { $bundle.Certificates += , (New-Object "$X509.X509Certificate2" -ArgumentList (, $bytes)) }
      'PKCS12' { $bundle.Pkcs12 = $bytes }
      'PKCS12 PASSWORD' { $bundle.Pkcs12Password = [Text.Encoding]::ASCII.GetString($bytes) }
    }
  }
  if ($bundle.Certificates.Count -eq 0) { Stop-Install "secret $SecretId holds no certificate; export the certificate again" }
  if ($bundle.Certificates.Count -lt 2) { Stop-Install "secret $SecretId holds no certificate chain; export the certificate again" }
  if ($null -eq $bundle.Pkcs12 -or -not $bundle.Pkcs12Password) {
    Stop-Install "secret $SecretId holds no Windows keystore (it was exported before Windows hosts were supported); export the certificate again"
  }
  return $bundle
}

function Get-CertificateFacts($Certificate) {
  $serial = ($Certificate.SerialNumber.ToLowerInvariant() -replace '(..)(?!$)', '$1:')
  $sha = New-Object System.Security.Cryptography.SHA256Managed
  $hash = ($sha.ComputeHash($Certificate.RawData) | ForEach-Object { $_.ToString('X2') }) -join ':'
  return @{
    Serial = $serial
    Sha256 = $hash
    NotAfter = $Certificate.NotAfter.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
    Thumbprint = $Certificate.Thumbprint.ToUpperInvariant()
  }
}

# The leaf valid now and vouched for by the chain beside it (the host's trust store is not asked).
function Assert-Certificate($Bundle, [string]$SecretId) {
  $leaf = $Bundle.Certificates[0]
  $again = 'export the certificate again'
  $now = [DateTime]::UtcNow
  if ($leaf.NotAfter.ToUniversalTime() -le $now) { Stop-Install "the certificate in secret $SecretId expired on $($leaf.NotAfter.ToUniversalTime().ToString('u')); export the renewed certificate" }
  if ($leaf.NotBefore.ToUniversalTime() -gt $now.AddMinutes(5)) { Stop-Install "the certificate in secret $SecretId is valid only from $($leaf.NotBefore.ToUniversalTime().ToString('u')); check this host's clock" }
  $chain = New-Object "$X509.X509Chain"
  $chain.ChainPolicy.RevocationMode = 'NoCheck'
  $chain.ChainPolicy.VerificationFlags = 'AllowUnknownCertificateAuthority'
  $issuers = @($Bundle.Certificates | Select-Object -Skip 1)
  foreach ($issuer in $issuers) {
    if ($issuer.Thumbprint -eq $leaf.Thumbprint) { Stop-Install "the chain in secret $SecretId holds the certificate itself, not its issuer; $again" }
    [void]$chain.ChainPolicy.ExtraStore.Add($issuer)
  }
  $built = $chain.Build($leaf)
  $thumbprints = @($issuers | ForEach-Object { $_.Thumbprint })
  if (-not $built -or $chain.ChainElements.Count -lt 2 -or $thumbprints -notcontains $chain.ChainElements[1].Certificate.Thumbprint) {
    Stop-Install "the certificate chain in the secret does not verify the certificate; $again"
  }
}

# The keystore opened into a certificate with its key, persisted where the store keeps keys.
function Open-Keystore($Bundle, [string]$SecretId, [bool]$Exportable) {
  $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::PersistKeySet
  if ((Get-StoreLocation) -eq 'LocalMachine') { $flags = $flags -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::MachineKeySet }
  if ($Exportable) { $flags = $flags -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable }
  $collection = New-Object "$X509.X509Certificate2Collection"
  try { $collection.Import($Bundle.Pkcs12, $Bundle.Pkcs12Password, $flags) }
  catch { Stop-Install "cannot open the Windows keystore in secret $SecretId with the password stored beside it; export the certificate again" }
  $leaf = $Bundle.Certificates[0]
  $withKey = @($collection | Where-Object { $_.Thumbprint -eq $leaf.Thumbprint -and $_.HasPrivateKey })
  if ($withKey.Count -ne 1) { Stop-Install "the Windows keystore in secret $SecretId holds no key for its certificate; export the certificate again" }
  if (-not (Test-KeyPair $withKey[0])) { Stop-Install "the private key does not belong to the certificate in secret $SecretId; export the certificate again" }
  return $withKey[0]
}

# The key signs what the certificate's public key verifies.
function Test-KeyPair($Certificate) {
  $data = New-Object byte[] 32
  (New-Object System.Security.Cryptography.RNGCryptoServiceProvider).GetBytes($data)
  $sha256 = [System.Security.Cryptography.HashAlgorithmName]::SHA256
  $private = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
  if ($null -ne $private) {
    $padding = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
    $public = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPublicKey($Certificate)
    return $public.VerifyData($data, $private.SignData($data, $sha256, $padding), $sha256, $padding)
  }
  $private = [System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($Certificate)
  if ($null -eq $private) { return $false }
  $public = [System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPublicKey($Certificate)
  return $public.VerifyData($data, $private.SignData($data, $sha256), $sha256)
}

function Open-Store([string]$Mode) {
  $store = New-Object "$X509.X509Store" -ArgumentList 'My', (Get-StoreLocation)
  $store.Open($Mode)
  return $store
}

function Find-StoreCertificate([string]$Thumbprint) {
  if (-not $Thumbprint) { return $null }
  $store = Open-Store 'ReadOnly'
  try {
    $found = @($store.Certificates | Where-Object { $_.Thumbprint -eq $Thumbprint })
    if ($found.Count -gt 0) { return $found[0] }
    return $null
  } finally { $store.Close() }
}

# Takes a certificate of this product out of the store, with its key.
function Remove-StoreCertificate([string]$Thumbprint) {
  $certificate = Find-StoreCertificate $Thumbprint
  if ($null -eq $certificate) { return }
  $store = Open-Store 'ReadWrite'
  try { $store.Remove($certificate) } finally { $store.Close() }
  Remove-PrivateKey $certificate
}

# --- Bindings -----------------------------------------------------------------------------------------

function Get-BindingThumbprint($Binding) {
  if ($Binding.Kind -eq 'iis') { return ([string](Get-IisBindingThumbprint $Binding)).ToUpperInvariant() }
  return ([string](Get-HttpSysBinding $Binding).Thumbprint).ToUpperInvariant()
}

function Set-BindingThumbprint($Binding, [string]$Thumbprint) {
  if ($Binding.Kind -eq 'iis') { Set-IisBindingCertificate $Binding $Thumbprint; return }
  $current = Get-HttpSysBinding $Binding
  Set-HttpSysBindingCertificate $Binding $Thumbprint $current.AppId
}

# Every binding recorded in Was goes back to its thumbprint there; says which could not.
function Restore-Bindings($Bindings, $Was) {
  $failed = @()
  foreach ($binding in $Bindings) {
    if (-not $Was.ContainsKey($binding.Key)) { continue }
    try {
      if ((Get-BindingThumbprint $binding) -ne $Was[$binding.Key]) { Set-BindingThumbprint $binding $Was[$binding.Key] }
    } catch { $failed += $binding.Key }
  }
  return , $failed
}

# --- The endpoint -------------------------------------------------------------------------------------

# The certificate the endpoint serves (asking for the SNI name, if any), or $null when nothing answers.
function Get-ServedCertificate([string]$Endpoint, [string]$ServerName) {
  $split = $Endpoint.LastIndexOf(':')
  $hostName = $Endpoint.Substring(0, $split).Trim('[', ']')
  $port = [int]$Endpoint.Substring($split + 1)
  $client = New-Object System.Net.Sockets.TcpClient
  try {
    if (-not $client.ConnectAsync($hostName, $port).Wait(5000)) { return $null }
    $stream = $client.GetStream()
    $stream.ReadTimeout = 5000; $stream.WriteTimeout = 5000
    $accept = [System.Net.Security.RemoteCertificateValidationCallback] { param($s, $c, $ch, $e) return $true }
    $tls = New-Object System.Net.Security.SslStream -ArgumentList $stream, $false, $accept
    $name = $ServerName
    if (-not $name) { $name = $hostName }
    $tls.AuthenticateAsClient($name)
    if ($null -eq $tls.RemoteCertificate) { return $null }
    return New-Object "$X509.X509Certificate2" -ArgumentList (, $tls.RemoteCertificate.GetRawCertData())
  } catch { return $null }
  finally { $client.Close() }
}

# Asks until the endpoint serves $Thumbprint, for up to $Seconds (0: once). Returns the serial served last.
function Wait-Served($P, [string]$Thumbprint, [int]$Seconds) {
  $until = [DateTime]::UtcNow.AddSeconds($Seconds)
  while ($true) {
    $served = Get-ServedCertificate $P.VerifyEndpoint $P.VerifyServerName
    if ($null -ne $served -and $served.Thumbprint -eq $Thumbprint) { return @{ Ok = $true; Serial = (Get-CertificateFacts $served).Serial } }
    if ([DateTime]::UtcNow -ge $until) {
      if ($null -eq $served) { return @{ Ok = $false; Serial = '' } }
      return @{ Ok = $false; Serial = (Get-CertificateFacts $served).Serial }
    }
    Start-Sleep -Seconds 1
  }
}

# --- One certificate ----------------------------------------------------------------------------------

# One run of a name at a time: the named mutex, held until the returned object is released. A mutex
# abandoned by a killed run is taken over.
function Enter-NameLock([string]$CertName, [int]$Seconds) {
  $mutex = New-Object System.Threading.Mutex -ArgumentList $false, "Global\CertLifecycle-$CertName"
  try {
    if (-not $mutex.WaitOne([TimeSpan]::FromSeconds($Seconds))) {
      $mutex.Dispose()
      Stop-Install "another install of $CertName is still running after $Seconds s; the next run installs it"
    }
  } catch [System.Threading.AbandonedMutexException] { }
  return $mutex
}

function Exit-NameLock($Lock) {
  $Lock.ReleaseMutex()
  $Lock.Dispose()
}

# A run killed while bindings moved left Pending: every binding goes back to what it was, and the new
# certificate leaves the store unless it is the current one.
function Undo-Pending([string]$CertName, $State, $Bindings) {
  if (-not $State.ContainsKey('Pending')) { return $State }
  $was = $State['Was']
  if ($null -eq $was) { $was = @{} }
  $failed = Restore-Bindings $Bindings $was
  if ($failed.Count -gt 0) { Stop-Install "an interrupted install of $CertName could not be undone: $($failed -join ', ') still point at its certificate; the next run tries again" }
  if ($State['Pending'] -ne $State['Current'] -and $State['Pending'] -ne $State['Previous']) { Remove-StoreCertificate $State['Pending'] }
  $State.Remove('Pending'); $State.Remove('Was')
  Set-InstallState $CertName $State
  Write-Line "an interrupted install of $CertName was undone: its bindings are back on their previous certificate"
  return $State
}

function Install-Certificate($P, [string]$CertName, [string]$SecretId, [int]$Seconds) {
  $bindings = Get-ConfiguredBindings $P
  $lock = Enter-NameLock $CertName ([Math]::Max(1, $Seconds - 120))
  try {
    $state = Undo-Pending $CertName (Get-InstallState $CertName) $bindings
    try { $text = Read-SecretText ($SecretsArn + $SecretId) $P.Region }
    catch {
      if ($_.Exception.Message.StartsWith('CERT-LIFECYCLE: ')) { throw }
      Stop-Install "cannot read secret ${SecretId}: $(($_.Exception.Message -replace '[\r\n]+', ' ')); check the host's network, its role's tags and the instance access policy"
    }
    $bundle = Split-Bundle $text $SecretId
    $text = $null
    Assert-Certificate $bundle $SecretId
    $facts = Get-CertificateFacts $bundle.Certificates[0]
    $new = $facts.Thumbprint
    $readers = @()
    if ($P.KeyReaders) { $readers = $P.KeyReaders.Split(';') }
    $served = 'unchecked'

    $inStore = Find-StoreCertificate $new
    $was = @{}
    foreach ($binding in $bindings) { $was[$binding.Key] = Get-BindingThumbprint $binding }
    $moving = @($bindings | Where-Object { $was[$_.Key] -ne $new })
    if ($null -ne $inStore -and $inStore.HasPrivateKey -and $moving.Count -eq 0 -and $state['Current'] -eq $new) {
      Grant-PrivateKeyRead $inStore $readers
      if ($P.VerifyEndpoint) {
        $check = Wait-Served $P $new 0
        if (-not $check.Ok) { Stop-Install "$($P.VerifyEndpoint) does not serve the installed certificate (it serves serial '$($check.Serial)'); check the service's bindings" }
        $served = $check.Serial
      }
      Write-Line "unchanged: the store holds $CertName (thumbprint $new) and every binding points at it; nothing was changed"
      return "cert_name=$CertName status=unchanged serial=$($facts.Serial) not_after=$($facts.NotAfter) sha256=$($facts.Sha256) thumbprint=$new served=$served"
    }

    # Recorded before anything changes, so that a killed run is undone by the next.
    $state.Pending = $new
    $state.Was = $was
    Set-InstallState $CertName $state
    $added = $false
    try {
      if ($null -eq $inStore -or -not $inStore.HasPrivateKey) {
        $certificate = Open-Keystore $bundle $SecretId ($P.KeyExportable -eq 'true')
        try { Add-StoreCertificate $certificate }
        catch { Stop-Install "cannot add the certificate to the $(Get-StoreLocation)\My store: $($_.Exception.Message -replace '[\r\n]+', ' ')" }
        $added = $true
        try { Set-CertificateFriendlyName $certificate "$ProductPrefix $CertName $($facts.Serial)" } catch { Write-Line "note: the certificate's friendly name could not be set" }
        $inStore = $certificate
      }
      Grant-PrivateKeyRead $inStore $readers
      foreach ($binding in $moving) {
        try { Set-BindingThumbprint $binding $new }
        catch { Stop-Install "cannot move binding $($binding.Key) to the new certificate: $($_.Exception.Message -replace '[\r\n]+', ' ')" }
      }
      if ($P.VerifyEndpoint) {
        $check = Wait-Served $P $new ([int]$P.VerifySeconds)
        if (-not $check.Ok) {
          if ($check.Serial) { Stop-Install "$($P.VerifyEndpoint) still serves serial $($check.Serial), not the installed certificate, after $($P.VerifySeconds) s" }
          Stop-Install "no TLS answer on $($P.VerifyEndpoint) after $($P.VerifySeconds) s"
        }
        $served = $check.Serial
      }
    } catch {
      $failure = Get-FailureText $_
      $failed = Restore-Bindings $bindings $was
      if ($failed.Count -gt 0) { Stop-Install "$failure; the bindings $($failed -join ', ') could not be put back (the next run tries again)" }
      if ($added -and $new -ne $state['Current'] -and $new -ne $state['Previous']) { Remove-StoreCertificate $new }
      $state.Remove('Pending'); $state.Remove('Was')
      Set-InstallState $CertName $state
      Stop-Install "$failure; the bindings are back on their previous certificate"
    }

    # Committed: the previous stays for rollback, older ones of this name leave the store. They are
    # recorded as Retired first, so that one a kill or a binding elsewhere kept is removed by a later run.
    $previous = $state['Current']
    if (-not $previous -or $previous -eq $new) { $previous = $state['Previous'] }
    $retired = @(@($state['Retired']) + @($state['Previous'], $state['Current']) | Where-Object { $_ -and $_ -ne $new -and $_ -ne $previous } | Select-Object -Unique)
    $state.Remove('Pending'); $state.Remove('Was')
    $state.Current = $new
    $state.Previous = $previous
    $state.Retired = $retired
    Set-InstallState $CertName $state
    $kept = @()
    foreach ($old in $retired) {
      if (Test-CertificateInUse $old) { Write-Line "note: $CertName's older certificate $old stays in the store: a binding not named here still uses it"; $kept += $old; continue }
      Remove-StoreCertificate $old
    }
    $state.Retired = $kept
    Set-InstallState $CertName $state
    Write-Line "installed: $CertName (thumbprint $new) is in the $(Get-StoreLocation)\My store and $($moving.Count) bindings moved to it"
    return "cert_name=$CertName status=installed serial=$($facts.Serial) not_after=$($facts.NotAfter) sha256=$($facts.Sha256) thumbprint=$new served=$served"
  } finally { Exit-NameLock $lock }
}

function Remove-Certificate($P, [string]$CertName) {
  $bindings = Get-ConfiguredBindings $P
  $lock = Enter-NameLock $CertName 300
  try {
    $state = Undo-Pending $CertName (Get-InstallState $CertName) $bindings
    $ours = @(@($state['Current'], $state['Previous']) + @($state['Retired']) | Where-Object { $_ })
    $cleared = 0
    foreach ($binding in $bindings) {
      if ($ours -contains (Get-BindingThumbprint $binding)) { Set-BindingThumbprint $binding ''; $cleared++ }
    }
    $removed = 0
    foreach ($thumbprint in $ours) {
      if ($null -ne (Find-StoreCertificate $thumbprint)) { Remove-StoreCertificate $thumbprint; $removed++ }
    }
    Set-InstallState $CertName @{}
    if ($removed -eq 0 -and $cleared -eq 0) { return "cert_name=$CertName status=absent files=0" }
    Write-Line "removed $removed certificates of $CertName from the store and took them out of $cleared bindings"
    return "cert_name=$CertName status=removed files=$removed"
  } finally { Exit-NameLock $lock }
}

function Test-Certificate($P, [string]$CertName) {
  $served = ''
  if ($P.VerifyEndpoint) {
    $certificate = Get-ServedCertificate $P.VerifyEndpoint $P.VerifyServerName
    $served = ' served=none'
    if ($null -ne $certificate) { $served = " served=$((Get-CertificateFacts $certificate).Serial)" }
  }
  $state = Get-InstallState $CertName
  $current = $null
  if ($state.ContainsKey('Current')) { $current = Find-StoreCertificate $state['Current'] }
  if ($null -eq $current) { return "cert_name=$CertName status=missing$served" }
  $facts = Get-CertificateFacts $current
  $bindings = Get-ConfiguredBindings $P
  $bound = @(foreach ($binding in $bindings) { try { Get-BindingThumbprint $binding } catch { 'none' } })
  $bindingWords = 'none'
  if ($bound.Count -gt 0) { $bindingWords = ($bound | ForEach-Object { if ($_) { $_ } else { 'none' } }) -join ',' }
  return "cert_name=$CertName status=present serial=$($facts.Serial) not_after=$($facts.NotAfter) sha256=$($facts.Sha256) bindings=$bindingWords$served"
}

# --- A target's certificates, or one -----------------------------------------------------------------

function Invoke-Certificate($P, [string]$CertName, [string]$SecretId, [int]$Seconds) {
  try {
    switch ($P.Action) {
      'Remove' { $result = Remove-Certificate $P $CertName }
      'Check' { $result = Test-Certificate $P $CertName }
      default { $result = Install-Certificate $P $CertName $SecretId $Seconds }
    }
    Write-Line "RESULT $result"
    return @{ Ok = $true; Result = $result }
  } catch {
    $message = Get-FailureText $_
    [Console]::Error.WriteLine("ERROR: $message")
    return @{ Ok = $false; Error = $message }
  }
}

function Invoke-Main {
  try { $p = Read-Parameters }
  catch { [Console]::Error.WriteLine("ERROR: $(Get-FailureText $_)"); return 1 }
  $started = [DateTime]::UtcNow
  $runSeconds = 3600
  if ($p.Certificates) {
    if ($p.Action -ne 'Install') { [Console]::Error.WriteLine('ERROR: parameter Certificates is for Action=Install only'); return 1 }
    $listed = $p.Certificates.Split(' ')
    $names = @($listed | ForEach-Object { $_.Split('/')[1] })
    $twice = @($names | Group-Object | Where-Object { $_.Count -gt 1 } | Select-Object -First 1)
    if ($twice.Count -gt 0) { [Console]::Error.WriteLine("ERROR: parameter Certificates names $($twice[0].Name) twice: two certificates would share its store entry"); return 1 }
    $failed = 0
    for ($i = 0; $i -lt $listed.Count; $i++) {
      $left = [int]($runSeconds - ([DateTime]::UtcNow - $started).TotalSeconds - 15)
      if ($listed.Count -gt 1) { Write-Line "--- $($names[$i])" }
      if ($left -lt 120) { $outcome = @{ Ok = $false; Error = "not installed: the run's time is up; the next run installs it" }; [Console]::Error.WriteLine("ERROR: $($outcome.Error)") }
      else { $outcome = Invoke-Certificate $p $names[$i] $listed[$i] ([Math]::Min(600, $left)) }
      Send-Outcome $listed[$i] $names[$i] $outcome
      if (-not $outcome.Ok) { $failed++ }
    }
    if ($listed.Count -gt 1) { Write-Line "RESULTS certificates=$($listed.Count) failed=$failed" }
    if ($failed -gt 0) { return 1 }
    return 0
  }
  if (-not $p.CertName) { [Console]::Error.WriteLine('ERROR: parameter CertName is not valid'); return 1 }
  if ($p.Action -eq 'Install' -and -not $p.SecretId) { [Console]::Error.WriteLine('ERROR: parameter SecretId is not valid'); return 1 }
  $outcome = Invoke-Certificate $p $p.CertName $p.SecretId 600
  if ($p.Action -eq 'Install' -and $p.SecretId) { Send-Outcome $p.SecretId $p.CertName $outcome }
  if ($outcome.Ok) { return 0 }
  return 1
}

# The outcome as the certificate's own compliance item, which SSM keeps whole where it cuts output.
function Send-Outcome([string]$SecretId, [string]$CertName, $Outcome) {
  $details = New-Object 'System.Collections.Generic.Dictionary[string,string]'
  if ($Outcome.Ok) {
    foreach ($field in $Outcome.Result.Split(' ')) {
      $name, $value = $field.Split('=', 2)
      if (@('status', 'serial', 'not_after', 'sha256', 'served') -contains $name) { $details[$name] = $value }
    }
    $status = 'COMPLIANT'
  } else {
    $details['status'] = 'failed'
    $details['error'] = (($Outcome.Error -replace '[^ -~]', '') -replace '["\\]', '')
    if ($details['error'].Length -gt 300) { $details['error'] = $details['error'].Substring(0, 300) }
    $status = 'NON_COMPLIANT'
  }
  $details['secret_id'] = $SecretId
  try { Write-ComplianceItem $SecretId $CertName $status $details }
  catch { Write-Line "note: ${CertName}: its outcome is not recorded in Systems Manager compliance; the node's role needs ssm:PutComplianceItems (in AmazonSSMManagedInstanceCore)" }
}

if ($DefineOnly) { return }
exit (Invoke-Main)
