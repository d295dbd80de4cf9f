<#
.SYNOPSIS
    Restores Pester 5.9.1 from NuGet (build/Pester.csproj) and returns the path of its module manifest.
.EXAMPLE
    Import-Module (./build/Resolve-Pester.ps1) -MinimumVersion 5.9.1
#>
[CmdletBinding()]
[OutputType([string])]
param()
$ErrorActionPreference = 'Stop'
$project = Join-Path $PSScriptRoot 'Pester.csproj'
$output = dotnet restore $project --verbosity quiet 2>&1
if ($LASTEXITCODE) { throw "dotnet restore $project failed ($LASTEXITCODE):`n$($output -join "`n")" }

# The restore records where it put packages (NUGET_PACKAGES, a NuGet.Config or ~/.nuget/packages).
$assets = Get-Content -Raw (Join-Path $PSScriptRoot 'obj/project.assets.json') | ConvertFrom-Json -AsHashtable
$version = ([xml](Get-Content -Raw $project)).Project.ItemGroup.PackageDownload.Version.Trim('[', ']')
foreach ($folder in $assets.packageFolders.Keys) {
    $manifest = Join-Path $folder "pester/$version/tools/Pester.psd1"
    if (Test-Path $manifest) { Write-Verbose "Pester $version at $manifest"; return $manifest }
}
throw "Pester $version was restored, but tools/Pester.psd1 is in none of: $($assets.packageFolders.Keys -join ', ')"
