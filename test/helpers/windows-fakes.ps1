# The Windows-only host operations of install-acm-certificate.ps1, replaced for tests on Linux: the store
# is the real CurrentUser\My of a test HOME; bindings, key grants, friendly names, state and compliance
# are files under $env:FAKE_ROOT that the tests read. FAKE_ROOT/faults/<name> makes an operation fail.
$FakeRoot = $env:FAKE_ROOT

function Write-FakeCall([string]$Text) { Add-Content -LiteralPath (Join-Path $FakeRoot 'calls.log') -Value $Text }
function Test-Fault([string]$Name) { return Test-Path -LiteralPath (Join-Path (Join-Path $FakeRoot 'faults') $Name) }
function Read-FakeJson([string]$Name) {
  $file = Join-Path $FakeRoot $Name
  if (-not (Test-Path -LiteralPath $file)) { return @{} }
  return ConvertTo-Hashtable (Get-Content -Raw -LiteralPath $file | ConvertFrom-Json)
}
function Write-FakeJson([string]$Name, $Value) {
  Set-Content -LiteralPath (Join-Path $FakeRoot $Name) -Value (ConvertTo-Json $Value -Depth 5)
}

function Get-StoreLocation { return 'CurrentUser' }

function Read-SecretText([string]$SecretId, [string]$Region) {
  Write-FakeCall "read $SecretId $Region"
  $file = Join-Path (Join-Path $FakeRoot 'secrets') ($SecretId -replace '/', '_')
  if (-not (Test-Path -LiteralPath $file)) { throw "AccessDeniedException: not authorized to perform secretsmanager:GetSecretValue on $SecretId" }
  return Get-Content -Raw -LiteralPath $file
}

${function:Add-RealStoreCertificate} = ${function:Add-StoreCertificate}
function Add-StoreCertificate($Certificate) {
  if (Test-Fault 'store-add') { throw 'Access is denied.' }
  Add-RealStoreCertificate $Certificate
  Write-FakeCall "store-add $($Certificate.Thumbprint)"
}

function Remove-PrivateKey($Certificate) { Write-FakeCall "delete-key $($Certificate.Thumbprint)" }

# In use: by a configured binding, or by one named in FAKE_ROOT/in-use (a binding the profile does not name).
function Test-CertificateInUse([string]$Thumbprint) {
  $others = Join-Path $FakeRoot 'in-use'
  if ((Test-Path -LiteralPath $others) -and (Get-Content -LiteralPath $others) -contains $Thumbprint) { return $true }
  return @((Read-FakeJson 'bindings.json').Values | Where-Object { $_.Thumbprint -eq $Thumbprint }).Count -gt 0
}

function Set-CertificateFriendlyName($Certificate, [string]$Name) { Write-FakeCall "friendly-name $($Certificate.Thumbprint) $Name" }

function Grant-PrivateKeyRead($Certificate, [string[]]$Identities) {
  if ($Identities.Count -eq 0) { return }
  if (-not $Certificate.HasPrivateKey) { throw 'no private key to grant' }
  Write-FakeCall "grant $($Certificate.Thumbprint) $($Identities -join ';')"
}

function Get-FakeBinding($Binding) {
  $bindings = Read-FakeJson 'bindings.json'
  if (-not $bindings.ContainsKey($Binding.Key)) { Stop-Install "no such binding: $($Binding.Key)" }
  return $bindings[$Binding.Key]
}
function Set-FakeBinding($Binding, [string]$Thumbprint) {
  if ((Test-Fault 'binding') -and $Thumbprint -and (Get-Content -Raw -LiteralPath (Join-Path (Join-Path $FakeRoot 'faults') 'binding')).Trim() -eq $Thumbprint) {
    throw "the binding refused certificate $Thumbprint"
  }
  $bindings = Read-FakeJson 'bindings.json'
  $entry = $bindings[$Binding.Key]
  $entry.Thumbprint = $Thumbprint
  $bindings[$Binding.Key] = $entry
  Write-FakeJson 'bindings.json' $bindings
  Write-FakeCall "bind $($Binding.Key) $Thumbprint"
  if ((Test-Fault 'hang-after-bind') -and $Thumbprint) {
    New-Item -ItemType File -Path (Join-Path $FakeRoot 'bound') -Force | Out-Null
    Start-Sleep -Seconds 120
  }
}
function Get-IisBindingThumbprint($Binding) { return (Get-FakeBinding $Binding).Thumbprint }
function Set-IisBindingCertificate($Binding, [string]$Thumbprint) { Set-FakeBinding $Binding $Thumbprint }
function Get-HttpSysBinding($Binding) { return Get-FakeBinding $Binding }
function Set-HttpSysBindingCertificate($Binding, [string]$Thumbprint, [string]$AppId) {
  if ($AppId -ne (Get-FakeBinding $Binding).AppId) { throw "the binding's application id was not kept" }
  Set-FakeBinding $Binding $Thumbprint
}

function Get-InstallState([string]$CertName) { return Read-FakeJson "state-$CertName.json" }
function Set-InstallState([string]$CertName, $State) {
  if ($State.Count -eq 0) { Remove-Item -LiteralPath (Join-Path $FakeRoot "state-$CertName.json") -ErrorAction SilentlyContinue; return }
  Write-FakeJson "state-$CertName.json" $State
}

function Write-ComplianceItem([string]$SecretId, [string]$CertName, [string]$Status, $Details) {
  if (Test-Fault 'compliance') { throw 'AccessDeniedException' }
  $item = @{ Type = "Custom:CertLifecycle_$($SecretId.Split('/')[-1])"; Id = $CertName; Status = $Status; Details = $Details }
  Add-Content -LiteralPath (Join-Path $FakeRoot 'compliance.log') -Value (ConvertTo-Json $item -Compress -Depth 4)
}
