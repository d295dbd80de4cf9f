@{
    # The one place the version lives: Directory.Build.props reads ModuleVersion from here.
    RootModule           = 'NeuralJit.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = 'b5f6a0c2-5d0e-4f7a-9a3e-2f1c8d7e6a41'
    Author               = 'NeuralJit contributors'
    CompanyName          = 'NeuralJit'
    Copyright            = '(c) NeuralJit contributors. MIT License.'
    Description          = 'Runs small neural networks (LSTM, DNC memory, dense) on a managed tier, profiles every kernel call in TSC cycles, finds the hotspots and JIT-compiles them into shape-specialised AVX2/AVX-512 machine code, and measures the speedup honestly.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('NeuralJit.format.ps1xml')
    TypesToProcess       = @('NeuralJit.types.ps1xml')
    CmdletsToExport      = @(
        'Compare-JitSpeedup'
        'Export-NeuralReport'
        'Export-NeuralRoofline'
        'Export-NeuralTrace'
        'Get-NeuralEngine'
        'Get-NeuralHotspot'
        'Get-NeuralJitKernel'
        'Get-NeuralRoofline'
        'Import-NeuralModel'
        'Invoke-NeuralInference'
        'Invoke-NeuralJitCompile'
        'Measure-NeuralEwcPenalty'
        'Measure-NeuralProfilerOverhead'
        'New-NeuralModel'
        'Reset-NeuralProfile'
        'Set-NeuralJitOption'
        'Start-NeuralTrace'
        'Stop-NeuralTrace'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('JIT', 'Profiling', 'NeuralNetwork', 'LSTM', 'AVX512', 'Performance')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
