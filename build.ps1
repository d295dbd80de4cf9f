<#
.SYNOPSIS
    Builds, tests, packages and installs the NeuralJit module. Run it in the repo's pwsh: `dotnet pwsh ./build.ps1`.

.DESCRIPTION
    Build    dotnet build: stages the importable module at artifacts/module/NeuralJit (with LICENSE and notices).
    Test     every xunit test (dotnet test, TRX) and every tests/pester/*.Tests.ps1 (build/Invoke-PesterSuite.ps1:
             Pester 5.9.1 from NuGet, NUnit and JUnit XML), results under artifacts/test-results/<pass>; prints one line per runner,
             "xunit: N passed, N failed, N skipped" and "pester: ...", and fails when either failed.
    Package  Compress-PSResource: artifacts/packages/NeuralJit.<version>.nupkg, installable by Install-PSResource.
    Install  registers artifacts/packages as the PSResource repository 'NeuralJitLocal' (trusted) and installs
             NeuralJit from it for the current user.

.PARAMETER Task
    What to do, in order: Build, Test, Package, Install. From `pwsh -File` (where every argument is one string)
    write them as one word, "Package,Install".

.PARAMETER Configuration
    The dotnet build configuration.

.PARAMETER NoBuild
    Test or Package what is already built (a second test pass, as .ci/run does under NEURALJIT_MAX_ISA, or the
    Pester test that installs the package).

.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Test

.EXAMPLE
    dotnet pwsh -File ./build.ps1 -Task Package,Install
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [ArgumentCompleter({ param($c, $p, $word) 'Build', 'Test', 'Package', 'Install' | Where-Object { $_ -like "$word*" } })]
    [string[]] $Task = @('Build'),
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    [switch] $NoBuild
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3
$Task = @($Task -split ',' | ForEach-Object Trim | Where-Object { $_ })
$unknown = @($Task | Where-Object { $_ -notin 'Build', 'Test', 'Package', 'Install' })
if ($unknown) { throw "Unknown task(s) $($unknown -join ', '): the tasks are Build, Test, Package and Install." }
$root = $PSScriptRoot
$moduleDir = Join-Path $root 'artifacts/module/NeuralJit'
$packageDir = Join-Path $root 'artifacts/packages'
$repositoryName = 'NeuralJitLocal'

# Native output goes to the host, never into a function's return value.
function Invoke-Dotnet {
    dotnet @args | Out-Host
    if ($LASTEXITCODE) { throw "dotnet $($args -join ' ') failed ($LASTEXITCODE)" }
}

function Invoke-SolutionBuild {
    Invoke-Dotnet build (Join-Path $root 'NeuralJit.PS.sln') -c $Configuration
    Write-Verbose "Module staged at $moduleDir"
}

# One results folder per pass, so a second pass under NEURALJIT_MAX_ISA keeps the first pass's files.
function Get-ResultsDir {
    $pass = if ($env:NEURALJIT_MAX_ISA) { "max-isa-$($env:NEURALJIT_MAX_ISA.ToLowerInvariant())" } else { 'native' }
    Join-Path $root "artifacts/test-results/$pass"
}

function Invoke-XunitTests([string] $ResultsDir) {
    $dir = Join-Path $ResultsDir 'xunit'
    if (Test-Path $dir) { Remove-Item -Recurse -Force $dir }
    dotnet test (Join-Path $root 'NeuralJit.PS.sln') -c $Configuration --no-build --logger 'trx' --results-directory $dir | Out-Host
    $exit = $LASTEXITCODE
    $trx = @(Get-ChildItem $dir -Filter *.trx -ErrorAction SilentlyContinue)
    if ($trx.Count -eq 0) { throw "dotnet test wrote no TRX file under $dir (exit $exit)" }
    $counts = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0 }
    foreach ($file in $trx) {
        $c = ([xml](Get-Content -Raw $file.FullName)).TestRun.ResultSummary.Counters
        $counts.Passed += [int]$c.passed
        $counts.Failed += [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
        $counts.Skipped += [int]$c.notExecuted
    }
    # A non-zero exit with no failed test (a crashed test host) still fails the run.
    if ($exit -and $counts.Failed -eq 0) { $counts.Failed = 1 }
    [pscustomobject]$counts
}

function Invoke-PesterTests([string] $ResultsDir) {
    $dir = Join-Path $ResultsDir 'pester'
    $counts = Join-Path $dir 'counts.json'
    if (Test-Path $counts) { Remove-Item $counts }
    # This same pwsh (the dotnet tool's pwsh.dll), as a process of its own.
    & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -File (Join-Path $root 'build/Invoke-PesterSuite.ps1') -ResultsDir $dir | Out-Host
    if (-not (Test-Path $counts)) { return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 } }
    Get-Content -Raw $counts | ConvertFrom-Json
}

function Invoke-Test {
    if (-not $NoBuild) { Invoke-SolutionBuild }
    $results = Get-ResultsDir
    $xunit = Invoke-XunitTests $results
    $pester = Invoke-PesterTests $results
    $line = '{0}: {1} passed, {2} failed, {3} skipped'
    $line -f 'xunit', $xunit.Passed, $xunit.Failed, $xunit.Skipped
    $line -f 'pester', $pester.Passed, $pester.Failed, $pester.Skipped
    if ($xunit.Failed -or $pester.Failed) { throw "Tests failed: xunit $($xunit.Failed), Pester $($pester.Failed) (results under $results)." }
}

function Invoke-Package {
    if (-not $NoBuild) { Invoke-SolutionBuild }
    $version = (Import-PowerShellDataFile (Join-Path $moduleDir 'NeuralJit.psd1')).ModuleVersion
    $null = New-Item -ItemType Directory -Force $packageDir
    $nupkg = Join-Path $packageDir "NeuralJit.$version.nupkg"
    if (Test-Path $nupkg) { Remove-Item $nupkg }
    Compress-PSResource -Path $moduleDir -DestinationPath $packageDir
    if (-not (Test-Path $nupkg)) { throw "Compress-PSResource did not write $nupkg" }
    Get-Item $nupkg
}

function Invoke-Install {
    if (-not (Get-ChildItem $packageDir -Filter 'NeuralJit.*.nupkg' -ErrorAction SilentlyContinue)) { Invoke-Package | Out-Null }
    $existing = Get-PSResourceRepository -Name $repositoryName -ErrorAction SilentlyContinue
    if (-not $existing) {
        if ($PSCmdlet.ShouldProcess($packageDir, "Register PSResource repository '$repositoryName'")) {
            Register-PSResourceRepository -Name $repositoryName -Uri $packageDir -Trusted
        }
    }
    elseif ($existing.Uri.LocalPath.TrimEnd('/') -ne $packageDir.TrimEnd('/')) {
        throw "A PSResource repository named '$repositoryName' already points at $($existing.Uri); unregister it first."
    }
    if ($PSCmdlet.ShouldProcess('NeuralJit', "Install-PSResource from '$repositoryName'")) {
        Install-PSResource -Name NeuralJit -Repository $repositoryName -Scope CurrentUser -Reinstall -PassThru
    }
}

foreach ($t in $Task) {
    Write-Verbose "Task $t"
    switch ($t) {
        'Build' { Invoke-SolutionBuild }
        'Test' { Invoke-Test }
        'Package' { Invoke-Package }
        'Install' { Invoke-Install }
    }
}
