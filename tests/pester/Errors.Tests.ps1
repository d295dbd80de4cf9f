# What a user sees of an error in the real pwsh: the id and category in $Error, -ErrorAction Stop and
# try/catch, -ErrorVariable, the recommended action, and the exit code and stderr of a script.
BeforeDiscovery {
    $script:cases = @(
        @{ Script = 'Get-NeuralHotspot -Top 0'; Id = 'GetNeuralHotspotInvalidTop'; Category = 'InvalidArgument'; Target = '0' }
        @{ Script = 'Get-NeuralHotspot -Operation Lstmgatez'; Id = 'GetNeuralHotspotUnknownOperation'; Category = 'InvalidArgument'; Target = 'Lstmgatez' }
        @{ Script = 'Compare-JitSpeedup -Dims 64x64'; Id = 'CompareJitSpeedupDimsWithoutOperation'; Category = 'InvalidArgument'; Target = '64x64' }
        @{ Script = 'Compare-JitSpeedup -Operation Gemm -Dims 7'; Id = 'CompareJitSpeedupInvalidDims'; Category = 'InvalidArgument'; Target = '7' }
        @{ Script = 'Start-NeuralTrace -Capacity 0'; Id = 'StartNeuralTraceInvalidCapacity'; Category = 'InvalidArgument'; Target = '0' }
        @{ Script = 'Import-NeuralModel -Path ./no-such-model.safetensors'; Id = 'ImportNeuralModelFileNotFound'; Category = 'ObjectNotFound'; Target = '*no-such-model.safetensors' }
    )
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
}

Describe '<Script>' -ForEach $cases {
    It 'writes <Id> (<Category>) with the offending value as target and a recommended action' {
        Push-Location $TestDrive
        try {
            $Error.Clear()
            $problem = $null
            $caught = $null
            # Some of these are terminating (the cmdlet cannot start), the others are not: a user sees both in $Error.
            try { $null = . ([scriptblock]::Create("$Script -ErrorVariable problem -ErrorAction SilentlyContinue")) }
            catch { $caught = $_ }
        }
        finally { Pop-Location }
        $records = if ($caught) { @($caught) } else { @($problem) }
        $records.Count | Should -Be 1
        $e = $records[0]
        $e.FullyQualifiedErrorId | Should -BeLike "$Id,NeuralJit.PowerShell.Commands.*"
        $e.CategoryInfo.Category | Should -Be $Category
        "$($e.TargetObject)" | Should -BeLike $Target
        $e.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        $Error[0].FullyQualifiedErrorId | Should -Be $e.FullyQualifiedErrorId
    }

    It 'throws a catchable ErrorRecord with the same id under -ErrorAction Stop' {
        Push-Location $TestDrive
        try {
            { & ([scriptblock]::Create("$Script -ErrorAction Stop")) } | Should -Throw -ErrorId "$Id,*"
        }
        finally { Pop-Location }
    }
}

Describe 'An error in a pwsh script' {
    It 'goes to stderr, and -Command exits 1 when its last statement failed' {
        $r = Invoke-Pwsh -ArgumentList '-Command', "Import-Module '$ModuleManifest'; 'before'; Get-NeuralHotspot -Operation Lstmgatez"
        $r.ExitCode | Should -Be 1 -Because $r.ToString()
        $r.StdOut | Should -Match 'before'
        $r.StdOut | Should -Not -Match 'Lstmgatez'
        $r.StdErr | Should -Match "'Lstmgatez' is not an operation"
    }
}
