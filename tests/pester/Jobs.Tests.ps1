# Background jobs: Start-Job runs another pwsh process (objects come back deserialised), Start-ThreadJob
# another runspace of this process (objects come back live). Both must render with the module's views.
BeforeAll {
    . $PSScriptRoot/Common.ps1
}

Describe 'Start-Job with the module' {
    BeforeAll {
        $job = Start-Job -ScriptBlock {
            Import-Module $using:ModuleManifest
            $null = Invoke-NeuralInference -InputSize 10 -HiddenSize 6 -Steps 40
            Get-NeuralHotspot -Operation LstmStep
            Compare-JitSpeedup -Operation Gemm -Dims 64x64x64 -Baseline ManagedSimd -Seconds 0.02
        }
        $script:received = @($job | Receive-Job -Wait -AutoRemoveJob -ErrorAction Stop)
    }

    It 'returns deserialised objects of the module''s types with numbers as numbers' {
        $hot = $received | Where-Object { $_.PSObject.TypeNames[0] -eq 'Deserialized.NeuralJit.HotspotRecord' }
        $hot.Dims | Should -Be '24x16'
        $hot.Calls | Should -Be 40
        $hot.Calls | Should -BeOfType [long]
        $hot.Share | Should -BeOfType [double]
        $speed = $received | Where-Object { $_.PSObject.TypeNames[0] -eq 'Deserialized.NeuralJit.SpeedupResult' }
        $speed.Speedup | Should -BeOfType [double]
        $speed.Speedup | Should -BeGreaterThan 0
    }

    It 'renders them with the module''s views' {
        $hot = $received | Where-Object { $_.PSObject.TypeNames[0] -eq 'Deserialized.NeuralJit.HotspotRecord' }
        $text = $hot | Out-String -Width 120
        $text | Should -Match 'Operation\s+Dims\s+Calls\s+Share\s+Status\s+Avg µs\s+Now µs\s+Total cycles'
        $text | Should -Match 'LstmStep\s+24x16\s+40\s'
        $speed = $received | Where-Object { $_.PSObject.TypeNames[0] -eq 'Deserialized.NeuralJit.SpeedupResult' }
        ($speed | Out-String -Width 80) | Should -Match 'Gemm\s+64x64x64\s+Avx(2|512)\s+ManagedSimd\s+\d+\.\d\dx'
    }
}

Describe 'Start-ThreadJob with the module' {
    It 'runs the module in another runspace of this process and returns live objects that render' {
        $job = Start-ThreadJob -ScriptBlock {
            Import-Module $using:ModuleManifest
            $null = Invoke-NeuralInference -InputSize 11 -HiddenSize 6 -Steps 25
            Get-NeuralHotspot -Operation LstmStep -Dims 24x17
        }
        $hot = @($job | Receive-Job -Wait -AutoRemoveJob -ErrorAction Stop)
        $hot.Count | Should -Be 1
        $hot[0].PSObject.TypeNames[0] | Should -Be 'NeuralJit.HotspotRecord'
        $hot[0].Calls | Should -BeGreaterOrEqual 25
        ($hot | Out-String -Width 80) | Should -Match 'LstmStep\s+24x17\s+[\d,]+\s+\d+\.\d%'
    }
}
