# -Verbose narrates the tiering in the cmdlet's own run, and what a user must know goes to the warning stream.
BeforeAll {
    . $PSScriptRoot/Common.ps1
}

Describe 'Invoke-NeuralInference -Verbose in a fresh session' {
    BeforeAll {
        $script = @'
Import-Module NeuralJit
$records = Invoke-NeuralInference -InputSize 64 -HiddenSize 128 -Steps 10000 -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
$records | ForEach-Object { 'VERBOSE ' + $_.Message }
'ISA ' + (Get-NeuralEngine).JitIsa
'@
        $modules = Split-Path (Split-Path $ModuleManifest)
        $script:run = Invoke-Pwsh -ArgumentList '-Command', $script -Environment @{ PSModulePath = $modules }
        $script:verbose = @($run.StdOut -split "`n" | Where-Object { $_ -like 'VERBOSE *' } | ForEach-Object { $_.Substring(8) })
        $script:isa = ($run.StdOut -split "`n" | Where-Object { $_ -like 'ISA *' }) -replace '^ISA ', ''
    }

    It 'says which key the profile promoted, after how many calls and with what share' {
        $run.ExitCode | Should -Be 0 -Because $run.ToString()
        $promoted = @($verbose | Where-Object { $_ -match '^LstmStep 512x192: promoted after ([\d,]+) calls with (\d+\.\d)% of the profiled cycles\.$' })
        $promoted.Count | Should -Be 1 -Because ($verbose -join "`n")
        [long]($Matches[1] -replace ',') | Should -BeGreaterOrEqual 1000
    }

    It 'says when the background compile starts and what it produced, for the engine''s ISA' {
        $verbose | Should -Contain "LstmStep 512x192: compiling for $isa in the background."
        $compiled = @($verbose | Where-Object { $_ -match "^LstmStep 512x192: compiled for ${isa}: [\d,]+ code bytes in [\d,]+\.\d µs\.$" })
        $installed = @($verbose | Where-Object { $_ -match "^LstmStep 512x192: installed; its calls now run the $isa kernel at 0x[0-9A-F]+\.$" })
        $pending = @($verbose | Where-Object { $_ -match '^\d+ compile\(s\) still running in the background' })
        # On a loaded machine the compile may outlast the run: then the cmdlet says so instead.
        ($compiled.Count -eq 1 -and $installed.Count -eq 1) -or $pending.Count -eq 1 | Should -BeTrue -Because ($verbose -join "`n")
    }
}

Describe 'Invoke-NeuralJitCompile -Verbose' {
    It 'says what it compiled, and that it installed the kernel into the profiled slot' {
        Reset-NeuralProfile -Confirm:$false
        $null = Invoke-NeuralInference -InputSize 7 -HiddenSize 5 -Steps 3
        $out = @(Invoke-NeuralJitCompile -Operation LstmStep -Dims 20x12 -Verbose 4>&1)
        $kernel = $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $verbose = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $verbose | Should -Contain ('LstmStep 20x12: compiled for {0}: {1:N0} code bytes in {2:N1} µs.' -f $kernel.Isa, $kernel.CodeBytes, $kernel.CompileMicroseconds)
        $verbose | Should -Contain ('LstmStep 20x12: installed; its calls now run the {0} kernel at {1}.' -f $kernel.Isa, $kernel.Address)
    }
}

Describe 'Compare-JitSpeedup -Verbose' {
    It 'says what it compiled, what it times against what, and the medians it found' {
        $out = @(Compare-JitSpeedup -Operation Relu -Dims 1000 -Baseline ManagedSimd -Seconds 0.02 -Verbose 4>&1)
        $result = $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $verbose = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        @($result) | Should -HaveCount 1
        $verbose | Should -Contain ('Relu 1000 ({0}) vs ManagedSimd: timing both sides interleaved, about 0.02 s.' -f $result.Isa)
        @($verbose -match "^Relu 1000: compiled for $($result.Isa): [\d,]+ code bytes in [\d,.]+ µs\.$") | Should -HaveCount 1 -Because ($verbose -join "`n")
        @($verbose -match '^Roofline of this machine .*FMA peak AVX2 [\d,.]+.* GB/s\.$') | Should -HaveCount 1 -Because ($verbose -join "`n")
        $verbose | Should -Contain ('Relu 1000 ({0}) vs ManagedSimd: medians {1:N0} ns and {2:N0} ns, {3:N2}x; {4:N0}% of the {5} bound; largest difference {6:G3}.' -f
            $result.Isa, $result.BaselineNanoseconds, $result.JitNanoseconds, $result.Speedup, $result.PercentOfBound, $result.Bound, $result.MaxAbsError)
    }
}

Describe 'Warnings a user must see' {
    It 'a full code cache warns in the run that filled it' {
        $script = @'
Import-Module NeuralJit
Set-NeuralJitOption -CodeCacheBytes 4096
# Two layers: an AVX2 LSTM step kernel (about 3 KB) fits in 4 KiB, the second layer's does not.
$null = Invoke-NeuralInference -InputSize 64 -HiddenSize 128 -Layers 2 -Steps 6000 -WarningVariable w -WarningAction SilentlyContinue
# Background compiles may finish after the run: the next run reports the warnings nobody heard.
$deadline = [DateTime]::UtcNow.AddSeconds(60)
while ((Get-NeuralEngine).PendingCompilations -gt 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
$null = Invoke-NeuralInference -InputSize 64 -HiddenSize 128 -Layers 2 -Steps 10 -WarningVariable +w -WarningAction SilentlyContinue
$w | ForEach-Object { 'WARNING ' + $_.Message }
'@
        $modules = Split-Path (Split-Path $ModuleManifest)
        $r = Invoke-Pwsh -ArgumentList '-Command', $script -Environment @{ PSModulePath = $modules }
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $r.StdOut | Should -Match '(?m)^WARNING LstmStep 512x(192|256) \(Avx(2|512)\): code cache full: \d+ bytes needed, \d+ of 4096 free \(\d+ kernels\); it stays on the managed tier\.$'
    }

    It 'Import-NeuralModel warns about NaN or infinite weights, naming the file and the tensor' {
        $path = Join-Path $TestDrive 'nan.safetensors'
        (New-NeuralModel -InputSize 3 -HiddenSize 4 -OutputSize 2).Save($path)
        $bytes = [System.IO.File]::ReadAllBytes($path)
        $headerLength = [BitConverter]::ToInt64($bytes, 0)
        $header = [System.Text.Encoding]::UTF8.GetString($bytes, 8, $headerLength) | ConvertFrom-Json -AsHashtable
        $tensor = $header.Keys | Where-Object { $_ -ne '__metadata__' } | Sort-Object { $header[$_].data_offsets[0] } | Select-Object -First 1
        [BitConverter]::GetBytes([float]::NaN).CopyTo($bytes, 8 + $headerLength + $header[$tensor].data_offsets[0])
        [BitConverter]::GetBytes([float]::PositiveInfinity).CopyTo($bytes, 8 + $headerLength + $header[$tensor].data_offsets[0] + 4)
        [System.IO.File]::WriteAllBytes($path, $bytes)
        $model = Import-NeuralModel -Path $path -WarningVariable w -WarningAction SilentlyContinue
        $model | Should -Not -BeNullOrEmpty
        $w.Count | Should -Be 1
        $w[0].Message | Should -Be "${path}: tensor '$tensor' holds 2 NaN or infinite value(s); the model's outputs will be NaN."
        (New-NeuralModel -InputSize 3 -HiddenSize 4 -OutputSize 2).Save((Join-Path $TestDrive 'fine.safetensors'))
        $null = Import-NeuralModel -Path (Join-Path $TestDrive 'fine.safetensors') -WarningVariable clean -WarningAction SilentlyContinue
        $clean.Count | Should -Be 0
    }
}
