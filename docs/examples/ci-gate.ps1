<#
.SYNOPSIS
    Fails a CI build when a JIT kernel is not fast enough or not accurate enough.

.DESCRIPTION
    Runs Compare-JitSpeedup (baseline and JIT measured side by side, interleaved) and checks every result:
    the Speedup must be at least -MinSpeedup and MaxAbsError at most -MaxError. Each failure is reported
    on stderr with the operation, the shape (Dims) and the ISA, and the script exits with 1. It exits with
    2 when it cannot run the comparison at all, and with 0 when every kernel passes.

    When the Utility cmdlets are there (pwsh), the results are written to -OutDir as ci-gate.csv
    (Export-Csv) and ci-gate.json (ConvertTo-Json); otherwise the script says which artifact it skipped.
    Under GitHub Actions the failures are also printed as ::error:: annotations.

.PARAMETER MinSpeedup
    The smallest acceptable speedup of the JIT kernel over its baseline (1.0 = not slower).

.PARAMETER MaxError
    The largest acceptable absolute difference between the JIT and baseline outputs.

.PARAMETER OutDir
    Where the CSV and JSON artifacts go (created if needed). Relative to the current location.

.PARAMETER Report
    Also write ci-gate.html to -OutDir: a self-contained HTML report (Export-NeuralReport) with the machine, the
    roofline chart and the results, to attach to the CI run.

.PARAMETER CompareParameters
    Extra parameters splatted to Compare-JitSpeedup (for example @{ Operation = 'Gemm' }).

.EXAMPLE
    dotnet run -c Release --project src/NeuralJit.Host -- -File docs/examples/ci-gate.ps1 -MinSpeedup 1.2 -MaxError 1e-4 -OutDir artifacts/ci-gate

.EXAMPLE
    pwsh -NoProfile -File docs/examples/ci-gate.ps1 -MinSpeedup 1.5 -Report
#>
[CmdletBinding()]
param(
    [double] $MinSpeedup = 1.0,
    [double] $MaxError = 1e-4,
    [string] $OutDir = 'artifacts/ci-gate',
    [hashtable] $CompareParameters = @{},
    [switch] $Report
)

$ErrorActionPreference = 'Stop'

function Write-GateError([string] $Message) {
    if ($env:GITHUB_ACTIONS -eq 'true') { $Host.UI.WriteErrorLine("::error::$Message") }
    else { $Host.UI.WriteErrorLine($Message) }
}

if (-not (Get-Command Compare-JitSpeedup -ErrorAction SilentlyContinue)) {
    Write-GateError 'ci-gate: Compare-JitSpeedup was not found. Import the NeuralJit module first, or run this script through NeuralJit.Host.'
    exit 2
}

try {
    $results = @(Compare-JitSpeedup @CompareParameters)
}
catch {
    Write-GateError "ci-gate: Compare-JitSpeedup failed: $($_.Exception.Message)"
    exit 2
}
if ($results.Count -eq 0) {
    Write-GateError 'ci-gate: Compare-JitSpeedup returned no results, so nothing was checked.'
    exit 2
}

$failures = [System.Collections.Generic.List[string]]::new()
foreach ($r in $results) {
    $kernel = '{0} {1} ({2})' -f $r.Operation, $r.Dims, $r.Isa
    $ok = $true
    # Written as "not (good)" so that a missing or NaN value fails too.
    if (-not ($r.Speedup -ge $MinSpeedup)) {
        $failures.Add(('{0}: speedup {1:N2}x over {2} is under the minimum {3:G4}x' -f $kernel, $r.Speedup, $r.Baseline, $MinSpeedup))
        $ok = $false
    }
    if (-not ($r.MaxAbsError -le $MaxError)) {
        $failures.Add(('{0}: max abs error {1:G3} is over the tolerance {2:G3}' -f $kernel, $r.MaxAbsError, $MaxError))
        $ok = $false
    }
    '{0} {1}: {2:N2}x over {3}, max abs error {4:G3}' -f $(if ($ok) { 'PASS' } else { 'FAIL' }), $kernel, $r.Speedup, $r.Baseline, $r.MaxAbsError
}

$dir = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutDir)
[void][System.IO.Directory]::CreateDirectory($dir)
if (Get-Command Export-Csv -ErrorAction SilentlyContinue) {
    $csv = [System.IO.Path]::Combine($dir, 'ci-gate.csv')
    $results | Export-Csv -Path $csv -NoTypeInformation
    "Wrote $csv"
}
else { 'Skipped the CSV artifact: Export-Csv is not available in this host.' }
if (Get-Command ConvertTo-Json -ErrorAction SilentlyContinue) {
    $json = [System.IO.Path]::Combine($dir, 'ci-gate.json')
    [System.IO.File]::WriteAllText($json, ($results | ConvertTo-Json -Depth 4))
    "Wrote $json"
}
else { 'Skipped the JSON artifact: ConvertTo-Json is not available in this host.' }
if ($Report) {
    $html = [System.IO.Path]::Combine($dir, 'ci-gate.html')
    $results | Export-NeuralReport -Path $html -Title 'NeuralJit CI gate'
    "Wrote $html"
}

if ($failures.Count -gt 0) {
    foreach ($f in $failures) { Write-GateError "ci-gate: FAIL $f" }
    Write-GateError ('ci-gate: {0} of {1} kernels failed (minimum speedup {2:G4}x, tolerance {3:G3}).' -f ($failures.Count), $results.Count, $MinSpeedup, $MaxError)
    exit 1
}
'ci-gate: all {0} kernels passed (minimum speedup {1:G4}x, tolerance {2:G3}).' -f $results.Count, $MinSpeedup, $MaxError
exit 0
