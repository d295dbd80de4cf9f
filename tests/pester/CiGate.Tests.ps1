# docs/examples/ci-gate.ps1 as CI runs it: `pwsh -File`, exit 0 / 1 / 2, failures on stderr, CSV and JSON artifacts.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    $script:gate = Join-Path $RepoRoot 'docs/examples/ci-gate.ps1'
    # A stand-in with Compare-JitSpeedup's documented properties (a function the gate uses as it is), so the
    # gate's logic is tested on known numbers, independently of the benchmark's timing.
    $script:standIn = @'
function Compare-JitSpeedup {
    [pscustomobject]@{ Operation = 'Gemm'; Dims = '64x64x64'; Isa = 'Avx2'; Baseline = 'ManagedSimd'; Speedup = 2.31; MaxAbsError = 1e-6; BaselineNanoseconds = 23100; JitNanoseconds = 10000 }
    [pscustomobject]@{ Operation = 'LstmGates'; Dims = '512x192'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; Speedup = 1.40; MaxAbsError = 3e-5; BaselineNanoseconds = 3500; JitNanoseconds = 2500 }
}
'@
    function Invoke-StandInGate([string] $Arguments, [string] $OutDir) {
        Invoke-Pwsh -ArgumentList '-Command', "$standIn`n& '$gate' $Arguments -OutDir '$OutDir'; exit `$LASTEXITCODE" -Environment @{ PSModulePath = $null }
    }
}

Describe 'ci-gate.ps1 on known numbers' {
    It 'exits 1 naming the op and shape whose speedup is under the minimum' {
        $r = Invoke-StandInGate '-MinSpeedup 2' (Join-Path $TestDrive 'slow')
        $r.ExitCode | Should -Be 1 -Because $r.ToString()
        $r.StdErr | Should -Match ([regex]::Escape('LstmGates 512x192 (Avx512): speedup 1.40x over ManagedSimd is under the minimum 2x'))
        $r.StdErr | Should -Not -Match 'Gemm 64x64x64 \(Avx2\): speedup'
        $r.StdErr | Should -Match '1 of 2 kernels failed'
    }

    It 'exits 1 when an error is over the tolerance' {
        $r = Invoke-StandInGate '-MinSpeedup 1 -MaxError 1e-5' (Join-Path $TestDrive 'inexact')
        $r.ExitCode | Should -Be 1 -Because $r.ToString()
        $r.StdErr | Should -Match ([regex]::Escape('LstmGates 512x192 (Avx512): max abs error 3E-05 is over the tolerance 1E-05'))
    }

    It 'exits 0 and writes the CSV and JSON artifacts with numbers as numbers' {
        $out = Join-Path $TestDrive 'pass'
        $r = Invoke-StandInGate '-MinSpeedup 1e-9 -MaxError 1' $out
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $r.StdOut | Should -Match 'ci-gate: all 2 kernels passed'
        $r.StdErr.Trim() | Should -BeNullOrEmpty
        $rows = @(Import-Csv (Join-Path $out 'ci-gate.csv'))
        $rows.Count | Should -Be 2
        $rows[0].Speedup | Should -Be '2.31'
        $json = @(Get-Content -Raw (Join-Path $out 'ci-gate.json') | ConvertFrom-Json)
        $json.Count | Should -Be 2
        $json[1].Speedup | Should -BeOfType [double]
        $json[1].MaxAbsError | Should -Be 3e-5
    }

    It '-Report writes the HTML report beside the artifacts, one speedup row and one JIT mark per result' {
        $out = Join-Path $TestDrive 'report'
        $r = Invoke-StandInGate "-MinSpeedup 1e-9 -MaxError 1 -Report -ModulePath '$ModuleManifest'" $out
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $html = Join-Path $out 'ci-gate.html'
        $r.StdOut | Should -Match ([regex]::Escape("Wrote $html"))
        $text = Get-Content -Raw $html
        $table = [regex]::Match($text, '(?s)<table id="speedups">.*?<tbody>(.*?)</tbody>').Groups[1].Value
        ([regex]::Matches($table, '<tr><td>')).Count | Should -Be 2
        $table | Should -Match ([regex]::Escape('<td>LstmGates</td><td>512x192</td><td>Avx512</td><td>ManagedSimd</td>'))
        $table | Should -Match '1\.40x'
        ([regex]::Matches($text, 'class="mark jit"')).Count | Should -Be 2
    }

    It 'prints ::error:: annotations under GitHub Actions' {
        $r = Invoke-Pwsh -ArgumentList '-Command', "$standIn`n& '$gate' -MinSpeedup 2 -OutDir '$(Join-Path $TestDrive 'gha')'; exit `$LASTEXITCODE" -Environment @{ GITHUB_ACTIONS = 'true' }
        $r.ExitCode | Should -Be 1
        $r.StdErr | Should -Match '(?m)^::error::ci-gate: FAIL LstmGates 512x192'
    }
}

Describe 'ci-gate.ps1 -File with the real Compare-JitSpeedup' {
    It 'imports the built module itself: an impossible minimum exits 1, a trivial one 0' {
        $out = Join-Path $TestDrive 'real'
        $common = '-Operation', 'Gemm', '-Dims', '64x64x64', '-Baseline', 'ManagedSimd', '-Seconds', '0.02', '-OutDir', $out
        $fail = Invoke-Pwsh -ArgumentList (@('-File', $gate, '-MinSpeedup', '1e9') + $common) -Environment @{ PSModulePath = $null }
        $fail.ExitCode | Should -Be 1 -Because $fail.ToString()
        $fail.StdErr | Should -Match 'FAIL Gemm 64x64x64 \(Avx(2|512)\): speedup .* is under the minimum 1E\+09x'
        $pass = Invoke-Pwsh -ArgumentList (@('-File', $gate, '-MinSpeedup', '1e-9', '-MaxError', '1e9') + $common)
        $pass.ExitCode | Should -Be 0 -Because $pass.ToString()
        $json = @(Get-Content -Raw (Join-Path $out 'ci-gate.json') | ConvertFrom-Json)
        $json.Count | Should -Be 1
        $json[0].Speedup | Should -BeOfType [double]
    }

    It 'exits 2 when the module cannot be imported' {
        $r = Invoke-Pwsh -ArgumentList '-File', $gate, '-ModulePath', (Join-Path $TestDrive 'nowhere/NeuralJit.psd1'), '-OutDir', (Join-Path $TestDrive 'none')
        $r.ExitCode | Should -Be 2 -Because $r.ToString()
        $r.StdErr | Should -Match 'ci-gate: the NeuralJit module did not import'
    }

    It 'exits 2 when Compare-JitSpeedup returns nothing' {
        $r = Invoke-Pwsh -ArgumentList '-Command', "function Compare-JitSpeedup {}`n& '$gate' -OutDir '$(Join-Path $TestDrive 'empty')'; exit `$LASTEXITCODE"
        $r.ExitCode | Should -Be 2 -Because $r.ToString()
        $r.StdErr | Should -Match 'returned no results'
    }
}
