# build.ps1 -Task Package,Install: a nupkg that PSResourceGet installs, imports by name and runs the main job.
# The child pwsh gets a temporary HOME, so the repository registration and the install touch nothing of the user's.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    $script:userHome = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'home')
    $script:isolated = @{ HOME = $userHome.FullName; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; XDG_CACHE_HOME = $null; PSModulePath = $null }
    $script:version = (Import-PowerShellDataFile (Join-Path $RepoRoot 'NeuralJit.psd1')).ModuleVersion
    $script:install = Invoke-Pwsh -ArgumentList '-File', (Join-Path $RepoRoot 'build.ps1'), '-Task', 'Package,Install', '-NoBuild' -Environment $isolated
    $script:nupkg = Join-Path $RepoRoot "artifacts/packages/NeuralJit.$version.nupkg"
}

Describe 'The NeuralJit nupkg' {
    BeforeAll {
        $script:unpacked = Join-Path $TestDrive 'unpacked'
        if (Test-Path $nupkg) { Expand-Archive -Path $nupkg -DestinationPath $unpacked }
        $script:nuspec = if (Test-Path $nupkg) { [xml](Get-Content -Raw (Join-Path $unpacked 'NeuralJit.nuspec')) }
    }

    It 'is written by build.ps1 -Task Package as NeuralJit.<version>.nupkg' {
        $install.ExitCode | Should -Be 0 -Because $install.ToString()
        $nupkg | Should -Exist
    }

    It 'carries the module, its help, LICENSE and the third-party notices' {
        foreach ($f in 'NeuralJit.psd1', 'NeuralJit.PowerShell.dll', 'NeuralJit.Engine.dll', 'Iced.dll', 'System.Numerics.Tensors.dll',
                       'NeuralJit.format.ps1xml', 'NeuralJit.types.ps1xml', 'en-US/NeuralJit.PowerShell.dll-Help.xml',
                       'en-US/about_NeuralJit.help.txt', 'LICENSE', 'THIRD-PARTY-NOTICES.txt') {
            Join-Path $unpacked $f | Should -Exist
        }
        Get-Content -Raw (Join-Path $unpacked 'LICENSE') | Should -Match '^MIT License'
    }

    It 'has the tags, release notes and licence URL of the manifest' {
        $m = $nuspec.package.metadata
        $m.id | Should -Be 'NeuralJit'
        $m.version | Should -Be $version
        $tags = $m.tags -split ' '
        foreach ($t in 'PSModule', 'PSEdition_Core', 'Linux', 'Windows', 'JIT') { $tags | Should -Contain $t }
        $m.releaseNotes | Should -Match "^$([regex]::Escape($version)):"
        $manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'NeuralJit.psd1')
        $manifest.PrivateData.PSData.LicenseUri | Should -Not -BeNullOrEmpty
    }

    It 'names in its notices the versions of Iced and System.Numerics.Tensors the engine references' {
        $project = [xml](Get-Content -Raw (Join-Path $RepoRoot 'src/NeuralJit.Engine/NeuralJit.Engine.csproj'))
        $notices = Get-Content -Raw (Join-Path $unpacked 'THIRD-PARTY-NOTICES.txt')
        # Versions are central (Directory.Packages.props); the engine project names the packages it references.
        $central = [xml](Get-Content -Raw (Join-Path $RepoRoot 'Directory.Packages.props'))
        $versions = @{}
        foreach ($v in @($central.Project.ItemGroup.PackageVersion | Where-Object { $_ -and $_.Include })) { $versions[$v.Include] = $v.Version }
        $references = @($project.Project.ItemGroup.PackageReference | Where-Object { $_ -and $_.Include })
        $references.Count | Should -BeGreaterThan 0
        foreach ($r in $references) {
            $version = $versions[$r.Include]
            $version | Should -Not -BeNullOrEmpty -Because "Directory.Packages.props gives the version of $($r.Include)"
            $notices | Should -Match ("(?m)^{0} {1} " -f [regex]::Escape($r.Include), [regex]::Escape($version)) -Because "the module ships $($r.Include) $version"
        }
    }
}

Describe 'Install-PSResource NeuralJit from the local repository' {
    It 'installs into the user''s module path, imports by name and runs the main job' {
        $install.ExitCode | Should -Be 0 -Because $install.ToString()
        $script = @'
$m = Import-Module NeuralJit -PassThru
'base={0}' -f $m.ModuleBase
$null = Invoke-NeuralInference -InputSize 64 -HiddenSize 128 -Steps 10000
Get-NeuralHotspot -Operation LstmStep | ForEach-Object { 'step={0} {1}' -f $_.Dims, $_.Calls }
'@
        $r = Invoke-Pwsh -ArgumentList '-Command', $script -Environment $isolated
        $r.ExitCode | Should -Be 0 -Because $r.ToString()
        $r.StdOut | Should -Match ("base={0}" -f [regex]::Escape((Join-Path $userHome.FullName ".local/share/powershell/Modules/NeuralJit/$version")))
        $r.StdOut | Should -Match '(?m)^step=512x192 10000$'
    }
}
