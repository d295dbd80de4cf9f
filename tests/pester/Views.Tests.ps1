# Every output type: its view at 80 and 120 columns, Format-List, ConvertTo-Json and Export-Csv (numbers stay numbers).
BeforeDiscovery {
    # One sample per output type; each is made in BeforeAll (discovery only names them).
    $script:samples = @(
        @{ Type = 'NeuralJit.HotspotRecord' }
        @{ Type = 'NeuralJit.SpeedupResult' }
        @{ Type = 'NeuralJit.JitKernelInfo' }
        @{ Type = 'NeuralJit.InferenceResult' }
        @{ Type = 'NeuralJit.EngineInfo' }
        @{ Type = 'NeuralJit.NeuralModel' }
        @{ Type = 'NeuralJit.TraceInfo' }
        @{ Type = 'NeuralJit.EwcPenaltyResult' }
        @{ Type = 'NeuralJit.ProfilerOverheadResult' }
        @{ Type = 'NeuralJit.RooflineResult' }
    )
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Reset-NeuralProfile -Confirm:$false
    $inference = Invoke-NeuralInference -InputSize 20 -HiddenSize 12 -OutputSize 4 -Steps 30 | Select-Object -Last 1
    $null = Invoke-NeuralJitCompile -Operation LstmGates -Dims 48x32
    $trace = Start-NeuralTrace -Capacity 256
    $null = Invoke-NeuralInference -InputSize 4 -HiddenSize 4 -Steps 3
    $trace = Stop-NeuralTrace
    $script:objects = @{
        'NeuralJit.HotspotRecord'          = @(Get-NeuralHotspot)
        'NeuralJit.SpeedupResult'          = @(Compare-JitSpeedup -Operation Gemm -Dims 64x64x64 -Seconds 0.02)
        'NeuralJit.JitKernelInfo'          = @(Get-NeuralJitKernel -Operation LstmGates)
        'NeuralJit.InferenceResult'        = @($inference)
        'NeuralJit.EngineInfo'             = @(Get-NeuralEngine)
        'NeuralJit.NeuralModel'            = @(Get-ChildItem (Join-Path $RepoRoot 'tests/fixtures/*.safetensors') | Import-NeuralModel)
        'NeuralJit.TraceInfo'              = @($trace)
        'NeuralJit.EwcPenaltyResult'       = @(Measure-NeuralEwcPenalty -Parameter 1, 2, -1 -Anchor 0, 0, -1 -Fisher 1, 0.5, 3 -Lambda 2)
        'NeuralJit.ProfilerOverheadResult' = @(Measure-NeuralProfilerOverhead -Steps 100 -Rounds 3)
        'NeuralJit.RooflineResult'         = @(Get-NeuralRoofline)
    }
}

Describe '<Type>' -ForEach $samples {
    BeforeAll {
        $script:items = $objects[$Type]
    }

    It 'has a sample of its type' {
        $items.Count | Should -BeGreaterThan 0
        $items | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be $Type }
    }

    It 'renders within <_> columns' -ForEach 80, 120 {
        $width = $_
        $text = $items | Out-String -Width $width
        $text.Trim() | Should -Not -BeNullOrEmpty
        foreach ($line in $text -split "`n") { $line.TrimEnd().Length | Should -BeLessOrEqual $width -Because $line }
    }

    It 'shows every property with Format-List *' {
        $text = $items[0] | Format-List * | Out-String -Width 120
        foreach ($p in $items[0].PSObject.Properties.Name) { $text | Should -Match "(?m)^$p\s+:" }
    }

    It 'keeps numbers as numbers in ConvertTo-Json' {
        $numeric = @(Get-NumericProperty $items[0])
        $back = $items[0] | ConvertTo-Json -Depth 3 -WarningAction SilentlyContinue | ConvertFrom-Json
        foreach ($p in $numeric) {
            $v = $back.$p
            if ([double]::IsFinite([double]$items[0].$p)) {
                ($v -is [long] -or $v -is [int] -or $v -is [double] -or $v -is [decimal] -or $v -is [System.Numerics.BigInteger]) |
                    Should -BeTrue -Because "$p is $($items[0].$p) on the object and $v ($($v.GetType().Name)) in JSON"
                $expected = [double]$items[0].$p
                [math]::Abs([double]$v - $expected) | Should -BeLessOrEqual ([math]::Abs($expected) * 1e-12) -Because "$p is $expected on the object and $v in JSON"
            }
        }
    }

    It 'keeps numbers as invariant numbers in Export-Csv' {
        $csv = Join-Path $TestDrive "$Type.csv"
        $items | Export-Csv -Path $csv -NoTypeInformation
        $rows = @(Import-Csv $csv)
        $rows.Count | Should -Be $items.Count
        foreach ($p in @(Get-NumericProperty $items[0])) {
            $cell = $rows[0].$p
            $parsed = 0.0
            [double]::TryParse($cell, [System.Globalization.NumberStyles]::Float, [cultureinfo]::InvariantCulture, [ref]$parsed) |
                Should -BeTrue -Because "$p was written as '$cell'"
        }
    }
}

Describe 'Default tables at 80 columns keep the columns a user decides on' {
    It 'Get-NeuralHotspot keeps Operation, Dims, Calls, Share and Status' {
        $lines = @($objects['NeuralJit.HotspotRecord'] | Out-String -Width 80) -split "`n" | Where-Object { $_.Trim() }
        $lines[0] | Should -Match '^Operation\s+Dims\s+Calls\s+Share\s+Status\b'
        $lines[2] | Should -Match '^\w+\s+\S+\s+[\d,]+\s+\d+\.\d%\s+\w+'
    }

    It 'Compare-JitSpeedup keeps Speedup, % bound and MaxAbsError' {
        $lines = @($objects['NeuralJit.SpeedupResult'] | Out-String -Width 80) -split "`n" | Where-Object { $_.Trim() }
        $lines[0] | Should -Match '^Operation\s+Dims\s+Isa\s+Baseline\s+Speedup\s+% bound\s+MaxAbsError$'
        $lines[2] | Should -Match '^Gemm\s+64x64x64\s+Avx(2|512)\s+\w+\s+\d+\.\d\dx\s+\d+%\s+\S+$'
    }

    It 'Compare-JitSpeedup at 120 columns adds the measured times' {
        $header = (@($objects['NeuralJit.SpeedupResult'] | Out-String -Width 120) -split "`n" | Where-Object { $_.Trim() })[0]
        $header | Should -Match 'MaxAbsError\s+Baseline ns\s+JIT ns$'
    }

    It 'Get-NeuralJitKernel -Disassemble shows the Intel-syntax listing without more piping' {
        $text = Get-NeuralJitKernel -Operation LstmGates -Disassemble | Out-String -Width 80
        $text | Should -Match 'LstmGates 48x32: Avx(2|512), [\d,]+ code bytes at 0x[0-9A-F]+'
        $text | Should -Match '(?m)\bvfmadd231ps\b'
        $text | Should -Match '(?m)\bret\b'
    }
}
