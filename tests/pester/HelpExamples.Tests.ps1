# Every example of every cmdlet's help runs without error in the real pwsh (Utility cmdlets and all), each in
# a fresh runspace in an empty folder of one child pwsh, so examples that change the engine leave this one alone.
BeforeDiscovery {
    . $PSScriptRoot/Common.ps1
    $script:examples = foreach ($c in Get-Command -Module NeuralJit -CommandType Cmdlet | Sort-Object Name) {
        $n = 0
        foreach ($e in (Get-Help $c.Name -Examples).examples.example) { @{ Name = $c.Name; Number = ++$n } }
    }
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    $runner = Join-Path $TestDrive 'Invoke-HelpExample.ps1'
    Set-Content -Path $runner -Value @'
param([string] $Manifest, [string] $OutFile, [string] $Scratch)
Import-Module $Manifest
$results = foreach ($c in Get-Command -Module NeuralJit -CommandType Cmdlet | Sort-Object Name) {
    $n = 0
    foreach ($e in (Get-Help $c.Name -Examples).examples.example) {
        $n++
        # platyPS examples may show a prompt ("PS C:\> "): strip it.
        $code = ($e.code -replace '(?m)^PS [^>]*> ?', '')
        $dir = New-Item -ItemType Directory -Path (Join-Path $Scratch "$($c.Name)-$n")
        $ps = [powershell]::Create()
        $problems = @()
        try {
            $null = $ps.AddCommand('Import-Module').AddParameter('Name', $Manifest).AddStatement().AddCommand('Set-Location').AddParameter('LiteralPath', $dir.FullName).Invoke()
            $ps.Commands.Clear()
            $output = $ps.AddScript($code).AddCommand('Out-String').AddParameter('Width', 120).Invoke() -join ''
            $problems = @($ps.Streams.Error | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" })
        }
        catch { $problems = @("threw $($_.Exception.InnerException.ErrorRecord.FullyQualifiedErrorId): $($_.Exception.Message)") }
        finally { $ps.Dispose() }
        [pscustomobject]@{ Name = $c.Name; Number = $n; Code = $code; Output = $output; Problems = $problems }
    }
}
ConvertTo-Json -InputObject @($results) -Depth 3 | Set-Content -Path $OutFile
'@
    $out = Join-Path $TestDrive 'examples.json'
    $scratch = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'scratch')
    $script:run = Invoke-Pwsh -ArgumentList '-File', $runner, '-Manifest', $ModuleManifest, '-OutFile', $out, '-Scratch', $scratch.FullName -Timeout ([timespan]::FromMinutes(8))
    $script:results = if (Test-Path $out) { @(Get-Content -Raw $out | ConvertFrom-Json) } else { @() }
}

Describe 'Get-Help <Name> -Examples' -ForEach $examples {
    It 'example <Number> runs without errors' {
        $run.ExitCode | Should -Be 0 -Because $run.ToString()
        $r = $results | Where-Object { $_.Name -eq $Name -and $_.Number -eq $Number }
        $r | Should -Not -BeNullOrEmpty -Because "the runner reported no example $Number of $Name"
        @($r.Problems) -join "`n" | Should -BeNullOrEmpty -Because "of the example code:`n$($r.Code)"
    }
}
