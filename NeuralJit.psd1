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
        'New-NeuralSession'
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
            Tags         = @('PSEdition_Core', 'Linux', 'Windows', 'JIT', 'Profiling', 'NeuralNetwork', 'LSTM', 'AVX512', 'AVX2', 'Performance')
            # The full text ships in the package as LICENSE (with THIRD-PARTY-NOTICES.txt). A manifest's LicenseUri must
            # be absolute and the project has no web address: this is the one NuGet itself writes for the MIT
            # expression (as Iced's and System.Numerics.Tensors' own packages do).
            LicenseUri   = 'https://licenses.nuget.org/MIT'
            ReleaseNotes = @'
0.1.0: first package. Managed SIMD tier for every (op, shape), TSC-cycle profile of every call,
background JIT of hot keys into AVX2+FMA or AVX-512 code (Iced), Compare-JitSpeedup, traces,
PyTorch safetensors models (LSTM, DNC memory, dense, EWC).
'@
        }
    }
}
