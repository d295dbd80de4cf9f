<#
.SYNOPSIS
    Runs every tests/pester/*.Tests.ps1 with Pester 5.9.1 from NuGet, writes NUnit and JUnit XML and the counts.
.DESCRIPTION
    build.ps1 -Task Test starts this in a pwsh of its own, so the tests see neither the build script's variables
    nor its strict mode, and import the module into a fresh process.
.PARAMETER ResultsDir
    Where pester.nunit.xml, pester.junit.xml and counts.json go (created if needed).
.PARAMETER TestPath
    Test files or folders; every tests/pester/*.Tests.ps1 by default.
.EXAMPLE
    dotnet pwsh -NoProfile -File build/Invoke-PesterSuite.ps1 -ResultsDir artifacts/test-results/native/pester
.EXAMPLE
    dotnet pwsh -NoProfile -Command './build/Invoke-PesterSuite.ps1 -ResultsDir /tmp/p -TestPath tests/pester/Views.Tests.ps1, tests/pester/Jobs.Tests.ps1'
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ResultsDir,
    [string[]] $TestPath = (Join-Path $PSScriptRoot '../tests/pester')
)
$ErrorActionPreference = 'Stop'
Import-Module (& (Join-Path $PSScriptRoot 'Resolve-Pester.ps1')) -MinimumVersion 5.9.1
$null = New-Item -ItemType Directory -Force $ResultsDir
$config = New-PesterConfiguration
$config.Run.Path = $TestPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Normal'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path $ResultsDir 'pester.nunit.xml'
$result = Invoke-Pester -Configuration $config
Export-JUnitReport -Result $result -Path (Join-Path $ResultsDir 'pester.junit.xml')
[ordered]@{
    Passed  = $result.PassedCount
    # Failed blocks and containers (a BeforeAll that threw, a file that does not parse) fail the run too.
    Failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    Skipped = $result.SkippedCount + $result.NotRunCount
} | ConvertTo-Json | Set-Content -Path (Join-Path $ResultsDir 'counts.json')
