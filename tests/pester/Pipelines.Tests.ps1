# The design card's pipelines, as a user types them at the pwsh prompt.
BeforeAll {
    . $PSScriptRoot/Common.ps1
}

Describe 'Compare-JitSpeedup in a pipeline' {
    BeforeAll {
        $script:results = @(Compare-JitSpeedup -Operation Gemm -Seconds 0.02)
    }

    It 'returns one result per built-in Gemm shape and baseline, with numbers as numbers' {
        $results.Count | Should -Be 4
        $results | ForEach-Object {
            $_.Speedup | Should -BeOfType [double]
            $_.MaxAbsError | Should -BeOfType [double]
        }
    }

    It 'Sort-Object with no property sorts by Speedup (the key property set)' {
        $sorted = @($results | Sort-Object)
        $speedups = @($sorted.Speedup)
        $expected = @($results.Speedup | Sort-Object)
        $speedups | Should -Be $expected
        # Not the input order by accident: reversing the input gives the same order.
        @(($results[($results.Count - 1)..0] | Sort-Object).Speedup) | Should -Be $expected
    }

    It 'Sort-Object Speedup -Descending sorts numerically' {
        $sorted = @($results | Sort-Object Speedup -Descending)
        for ($i = 1; $i -lt $sorted.Count; $i++) { $sorted[$i - 1].Speedup | Should -BeGreaterOrEqual $sorted[$i].Speedup }
    }

    It 'Where-Object filters on the numeric Speedup' {
        $min = ($results.Speedup | Measure-Object -Minimum).Minimum
        @($results | Where-Object Speedup -gt $min).Count | Should -BeLessThan $results.Count
    }
}

Describe 'Get-NeuralHotspot | Invoke-NeuralJitCompile' {
    It 'compiles every profiled key it is given, binding Operation and Dims by property name' {
        Reset-NeuralProfile -Confirm:$false
        # 9 steps stay under the 1,000-call threshold: nothing is promoted by the profile.
        $null = Invoke-NeuralInference -InputSize 9 -HiddenSize 7 -OutputSize 3 -Steps 9
        $hot = @(Get-NeuralHotspot -Operation LstmStep, Dense)
        $hot.Count | Should -Be 2
        $kernels = @($hot | Invoke-NeuralJitCompile)
        $kernels.Count | Should -Be 2
        $kernels | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'NeuralJit.JitKernelInfo' }
        ($kernels | ForEach-Object { '{0} {1}' -f $_.Operation, $_.Dims } | Sort-Object) | Should -Be @('Dense 3x7', 'LstmStep 28x16')
        @(Get-NeuralJitKernel -Operation LstmStep | Where-Object Dims -eq '28x16').Count | Should -Be 1
    }
}

Describe 'Tier and Isa are enums that read as names' {
    BeforeAll {
        Reset-NeuralProfile -Confirm:$false
        $null = Invoke-NeuralInference -InputSize 11 -HiddenSize 23 -OutputSize 3 -Steps 3
        $script:isa = (Get-NeuralEngine).JitIsa
        if ($isa -ne 'None') { $null = Get-NeuralHotspot -Operation LstmStep | Invoke-NeuralJitCompile }
        $script:rows = @(Get-NeuralHotspot)
    }

    It 'Sort-Object Tier puts the managed tier before the JIT kernels' {
        if ($isa -eq 'None') { Set-ItResult -Skipped -Because 'this CPU has no JIT: every row is Managed' }
        $sorted = @($rows | Sort-Object Tier)
        $sorted[-1].Operation | Should -Be 'LstmStep'
        $sorted[-1].Tier | Should -Be $isa
        $sorted[0].Tier | Should -Be 'Managed'
    }

    It 'Export-Csv writes the names' {
        if ($isa -eq 'None') { Set-ItResult -Skipped -Because 'this CPU has no JIT: every row is Managed' }
        $csv = @($rows | ConvertTo-Csv | ConvertFrom-Csv)
        ($csv | Where-Object Operation -eq LstmStep).Tier | Should -BeExactly "$isa"
        ($csv | Where-Object Operation -eq Dense).Tier | Should -BeExactly 'Managed'
        @(Get-NeuralJitKernel -Operation LstmStep | ConvertTo-Csv | ConvertFrom-Csv)[0].Isa | Should -BeExactly "$isa"
    }

    It 'ConvertTo-Json writes numbers, and names with -EnumsAsStrings' {
        if ($isa -eq 'None') { Set-ItResult -Skipped -Because 'this CPU has no JIT: every row is Managed' }
        $lstm = $rows | Where-Object Operation -eq LstmStep
        $lstm | ConvertTo-Json -Compress | Should -Match ('"Tier":{0}\b' -f [int]$lstm.Tier)
        $lstm | ConvertTo-Json -Compress -EnumsAsStrings | Should -Match ('"Tier":"{0}"' -f $isa)
        Get-NeuralEngine | ConvertTo-Json -Compress -EnumsAsStrings | Should -Match ('"JitIsa":"{0}"' -f $isa)
    }
}

Describe 'Get-ChildItem | Import-NeuralModel' {
    It 'imports every safetensors fixture through PSPath' {
        $files = @(Get-ChildItem (Join-Path $RepoRoot 'tests/fixtures/*.safetensors'))
        $models = @($files | Import-NeuralModel)
        $models.Count | Should -Be $files.Count
        $models | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'NeuralJit.NeuralModel' }
        @($models.Source | Split-Path -Leaf | Sort-Object) | Should -Be @($files.Name | Sort-Object)
        ($models | Where-Object Source -like '*lstm1_7x13x5*').HiddenSize | Should -Be 13
    }

    It 'runs an imported model on a sequence through the pipeline' {
        $model = Get-ChildItem (Join-Path $RepoRoot 'tests/fixtures/lstm1_7x13x5.safetensors') | Import-NeuralModel
        $steps = [float[]](1, 0, 0, 0, 0, 0, 0), [float[]](0, 1, 0, 0, 0, 0, 0)
        $out = @($model | Invoke-NeuralInference -Sequence $steps)
        $out.Count | Should -BeGreaterThan 0
        $out[-1].Output.Count | Should -Be 5
    }
}

Describe 'The README main job in a fresh pwsh' {
    It 'prints the hotspot table with LstmStep 512x192 on top, at most 120 columns, no ANSI' {
        $readme = Get-Content -Raw (Join-Path $RepoRoot 'README.md')
        $m = [regex]::Match($readme, "dotnet pwsh -NoProfile -Command '([^']+)'")
        $m.Success | Should -BeTrue -Because "README.md shows the main job as dotnet pwsh -NoProfile -Command '...'"
        $m.Groups[1].Value | Should -Match 'Invoke-NeuralInference -InputSize 64 -HiddenSize 128 -Steps 10000 \| Out-Host; Get-NeuralHotspot'
        $r = Invoke-Pwsh -ArgumentList '-Command', $m.Groups[1].Value
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $r.StdOut | Should -Not -Match "`e" -Because 'the views write no escape codes of their own (NO_COLOR is set)'
        $r.StdOut | Should -Match '(?m)^\s+Step\s+Steps\s+Total ms\s+µs/step' -Because 'the inference summary renders as its table'
        $lines = $r.StdOut -split "`n" | ForEach-Object TrimEnd
        $header = [array]::FindIndex([string[]]$lines, [Predicate[string]] { param($l) $l -match '^Operation\s+Dims\s+Calls\s+Share\s+Status' })
        $header | Should -BeGreaterOrEqual 0 -Because $r.ToString()
        $lines[$header + 1] | Should -Match '^-{9}'
        $lines[$header + 2] | Should -Match '^LstmStep\s+512x192\s+10,000\s+\d+\.\d%\s+Jit\b'
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 120 -Because $_ }
    }
}
