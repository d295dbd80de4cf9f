# Tab completion as a user meets it: in a fresh pwsh, before anything has been profiled.
BeforeAll {
    . $PSScriptRoot/Common.ps1
}

Describe 'Compare-JitSpeedup -Dims in a fresh session' {
    It 'completes the built-in targets of the bound operation before any profile exists' {
        $script = @'
Import-Module NeuralJit
$line = 'Compare-JitSpeedup -Operation LstmStep -Dims '
'step=' + ((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText -join ',')
$line = 'Get-NeuralHotspot -Operation LstmStep -Dims '
'hotspot=' + ((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText -join ',')
'keys={0}' -f (Get-NeuralEngine).ProfiledKeys
'@
        $modules = Split-Path (Split-Path $ModuleManifest)
        $r = Invoke-Pwsh -ArgumentList '-Command', $script -Environment @{ PSModulePath = $modules }
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $r.StdOut | Should -Match '(?m)^step=512x192$'
        $r.StdOut | Should -Match '(?m)^hotspot=$' -Because 'Get-NeuralHotspot offers only shapes the profiler has seen'
        $r.StdOut | Should -Match '(?m)^keys=0$'
    }
}
