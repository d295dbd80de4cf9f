<#
.SYNOPSIS
    Fails a CI build when a JIT kernel is not fast enough or not accurate enough.

.DESCRIPTION
    Runs Compare-JitSpeedup (baseline and JIT measured side by side, interleaved) and checks every result:
    the Speedup must be at least -MinSpeedup and MaxAbsError at most -MaxError. Each failure is reported
    on stderr with the operation, the shape (Dims) and the ISA, and the script exits with 1. It exits with
    2 when it cannot run the comparison at all, and with 0 when every kernel passes.

    The results are written to -OutDir as ci-gate.csv (Export-Csv) and ci-gate.json (ConvertTo-Json).
    Under GitHub Actions the failures are also printed as ::error:: annotations.

.PARAMETER MinSpeedup
    The smallest acceptable speedup of the JIT kernel over its baseline (1.0 = not slower).

.PARAMETER MaxError
    The largest acceptable absolute difference between the JIT and baseline outputs.

.PARAMETER OutDir
    Where the CSV and JSON artifacts go (created if needed). Relative to the current location.

.PARAMETER Operation
    Only these operations (each passed to Compare-JitSpeedup -Operation); every built-in target when omitted.
    From -File, separate them with commas: -Operation Gemm,LstmStep.

.PARAMETER Dims
    Only this shape (passed to Compare-JitSpeedup -Dims), for example 512x192.

.PARAMETER Baseline
    What the JIT kernel is measured against: ManagedSimd, Scalar or All (Compare-JitSpeedup -Baseline).

.PARAMETER Seconds
    Measuring time per target (Compare-JitSpeedup -Seconds); longer is steadier on a loaded machine.

.PARAMETER ModulePath
    The NeuralJit module to import (a .psd1 or its folder). Without it the script uses the module already
    imported, else the build beside the script (artifacts/module/NeuralJit in a clone), else NeuralJit by name.

.PARAMETER Report
    Also write ci-gate.html to -OutDir: a self-contained HTML report (Export-NeuralReport) with the machine, the
    roofline chart and the results, to attach to the CI run.

.EXAMPLE
    dotnet pwsh -NoProfile -File docs/examples/ci-gate.ps1 -MinSpeedup 1.2 -MaxError 1e-4 -OutDir artifacts/ci-gate

.EXAMPLE
    dotnet pwsh -NoProfile -File docs/examples/ci-gate.ps1 -MinSpeedup 1.5 -Operation Gemm, LstmStep -Baseline ManagedSimd

.EXAMPLE
    dotnet pwsh -NoProfile -File docs/examples/ci-gate.ps1 -MinSpeedup 1.5 -Report
#>
[CmdletBinding()]
param(
    [double] $MinSpeedup = 1.0,
    [double] $MaxError = 1e-4,
    [string] $OutDir = 'artifacts/ci-gate',
    [string[]] $Operation,
    [string] $Dims,
    [ValidateSet('ManagedSimd', 'Scalar', 'All')]
    [string] $Baseline = 'All',
    [double] $Seconds,
    [string] $ModulePath,
    [switch] $Report
)

$ErrorActionPreference = 'Stop'

function Write-GateError([string] $Message) {
    if ($env:GITHUB_ACTIONS -eq 'true') { $Host.UI.WriteErrorLine("::error::$Message") }
    else { $Host.UI.WriteErrorLine($Message) }
}

# From -File nothing is imported: the build beside the script (in a clone), else the module installed by name.
# A Compare-JitSpeedup already there (the module, or a stand-in function in a test) is used as it is.
try {
    if ($ModulePath) { Import-Module $ModulePath }
    elseif (-not (Get-Module NeuralJit) -and -not (Get-Command Compare-JitSpeedup -CommandType Function -ErrorAction SilentlyContinue)) {
        $built = Join-Path $PSScriptRoot '../../artifacts/module/NeuralJit/NeuralJit.psd1'
        if (Test-Path $built) { Import-Module $built } else { Import-Module NeuralJit }
    }
}
catch {
    Write-GateError "ci-gate: the NeuralJit module did not import: $($_.Exception.Message)"
    exit 2
}
if (-not (Get-Command Compare-JitSpeedup -ErrorAction SilentlyContinue)) {
    Write-GateError 'ci-gate: Compare-JitSpeedup was not found: install NeuralJit (Install-PSResource NeuralJit), build it (dotnet pwsh ./build.ps1), or pass -ModulePath.'
    exit 2
}

# From -File a list arrives as one word ("Gemm,LstmStep").
$Operation = @($Operation -split ',' | ForEach-Object Trim | Where-Object { $_ })
$compare = @{ Baseline = $Baseline }
if ($Dims) { $compare.Dims = $Dims }
if ($Seconds) { $compare.Seconds = $Seconds }
try {
    # Compare-JitSpeedup takes one -Operation at a time; none means every built-in target.
    $results = @(if ($Operation) { foreach ($op in $Operation) { Compare-JitSpeedup -Operation $op @compare } }
                 else { Compare-JitSpeedup @compare })
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
$null = New-Item -ItemType Directory -Force -Path $dir
$csv = Join-Path $dir 'ci-gate.csv'
$results | Export-Csv -Path $csv -NoTypeInformation
"Wrote $csv"
$json = Join-Path $dir 'ci-gate.json'
$results | ConvertTo-Json -Depth 4 -AsArray | Set-Content -Path $json
"Wrote $json"
if ($Report) {
    $html = Join-Path $dir 'ci-gate.html'
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
