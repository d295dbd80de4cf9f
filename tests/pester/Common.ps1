# Dot-sourced by every tests/pester/*.Tests.ps1 in BeforeAll (and BeforeDiscovery where discovery needs it).
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
$script:ModuleManifest = Join-Path $RepoRoot 'artifacts/module/NeuralJit/NeuralJit.psd1'
if (-not (Test-Path $ModuleManifest)) { throw "The staged module is missing ($ModuleManifest): build first (dotnet pwsh ./build.ps1)." }
Import-Module $ModuleManifest

# Runs this same pwsh (the dotnet tool's pwsh.dll under this dotnet) as a child process with redirected output,
# as CI and users' scripts do. -Environment adds or (with $null) removes variables for the child.
function Invoke-Pwsh {
    param(
        [Parameter(Mandatory)] [string[]] $ArgumentList,
        [string] $WorkingDirectory = $RepoRoot,
        [hashtable] $Environment = @{},
        [timespan] $Timeout = [timespan]::FromMinutes(4)
    )
    $psi = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll'))
    foreach ($a in @('-NoProfile', '-NonInteractive', '-WorkingDirectory', $WorkingDirectory) + $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $psi.RedirectStandardError = $psi.RedirectStandardInput = $true
    $psi.UseShellExecute = $false
    $null = $psi.Environment.Remove('GITHUB_ACTIONS')
    # pwsh 7.6 colours redirected output unless NO_COLOR is set; the assertions read plain text.
    $psi.Environment['NO_COLOR'] = '1'
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { $null = $psi.Environment.Remove($k) } else { $psi.Environment[$k] = [string]$Environment[$k] }
    }
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    if (-not $p.WaitForExit([int]$Timeout.TotalMilliseconds)) {
        $p.Kill($true)
        throw "pwsh $($ArgumentList -join ' ') did not finish in $Timeout."
    }
    [pscustomobject]@{
        ExitCode = $p.ExitCode
        StdOut   = $out.Result -replace "`r`n", "`n"
        StdErr   = $err.Result -replace "`r`n", "`n"
    } | Add-Member -MemberType ScriptMethod -Name ToString -Force -PassThru -Value {
        "exit $($this.ExitCode)`n--- stdout ---`n$($this.StdOut)`n--- stderr ---`n$($this.StdErr)"
    }
}

# The properties of an object whose values are numbers (what must stay numbers in JSON and CSV).
function Get-NumericProperty([psobject] $InputObject) {
    foreach ($p in $InputObject.PSObject.Properties) {
        if ($p.MemberType -notin 'Property', 'NoteProperty') { continue }
        $v = try { $p.Value } catch { $null }
        if ($v -is [double] -or $v -is [float] -or $v -is [int] -or $v -is [long] -or $v -is [decimal]) { $p.Name }
    }
}
