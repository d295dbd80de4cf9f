<#
.SYNOPSIS
    Builds, tests and packages the NeuralJit module (for people with pwsh; CI uses `dotnet` directly).
.EXAMPLE
    ./build.ps1 -Task Build
.EXAMPLE
    ./build.ps1 -Task Test, Package
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package')]
    [string[]] $Task = @('Build'),
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
$moduleDir = Join-Path $PSScriptRoot 'artifacts/module/NeuralJit'

foreach ($t in $Task) {
    switch ($t) {
        'Build' {
            dotnet build NeuralJit.PS.sln -c $Configuration
            if ($LASTEXITCODE) { throw "dotnet build failed ($LASTEXITCODE)" }
            Write-Verbose "Module staged at $moduleDir"
        }
        'Test' {
            dotnet test NeuralJit.PS.sln -c $Configuration
            if ($LASTEXITCODE) { throw "dotnet test failed ($LASTEXITCODE)" }
        }
        'Package' {
            dotnet build NeuralJit.PS.sln -c $Configuration
            if ($LASTEXITCODE) { throw "dotnet build failed ($LASTEXITCODE)" }
            $version = (Import-PowerShellDataFile ./NeuralJit.psd1).ModuleVersion
            $zip = Join-Path $PSScriptRoot "artifacts/NeuralJit-$version.zip"
            Compress-Archive -Path $moduleDir -DestinationPath $zip -Force
            Get-Item $zip
        }
    }
}
