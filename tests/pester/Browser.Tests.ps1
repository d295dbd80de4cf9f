# The roofline SVG and the HTML report rendered by a real browser (headless Chromium): the DOM it builds has the chart's
# axes and ceilings, one baseline and one JIT mark per kernel, the tables' rows; and its screenshot shows them.
# Chromium is found as $env:NEURALJIT_CHROMIUM, else chromium or chromium-browser on PATH (tools/install-chromium.sh
# installs it). Missing, these tests fail with how to install it, unless NEURALJIT_SKIP_BROWSER_TESTS=1 skips them.
BeforeDiscovery {
    $script:skipBrowser = $env:NEURALJIT_SKIP_BROWSER_TESTS -eq '1'
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Add-Type -Path (Join-Path $PSScriptRoot 'Support/PngImage.cs')

    $script:chromium = if ($env:NEURALJIT_CHROMIUM) { $env:NEURALJIT_CHROMIUM }
                       else { (Get-Command chromium, chromium-browser -CommandType Application -ErrorAction Ignore | Select-Object -First 1).Source }

    # One Chromium run in a fresh profile folder, with networking, sync and updates off; its standard output.
    function Invoke-Chromium([string[]] $Arguments) {
        if (-not $chromium -or -not (Test-Path $chromium)) {
            throw 'Chromium is not installed, so the browser tests cannot run. Install it with tools/install-chromium.sh ' +
                  '(as root on Debian/Ubuntu: apt-get update && apt-get install -y chromium), or set NEURALJIT_SKIP_BROWSER_TESTS=1 to skip these tests.'
        }
        $userData = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "neuraljit-chromium-$([guid]::NewGuid())")
        try {
            $psi = [System.Diagnostics.ProcessStartInfo]::new($chromium)
            foreach ($a in @('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                             '--disable-component-update', '--disable-sync', "--user-data-dir=$($userData.FullName)") + $Arguments) { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardOutput = $psi.RedirectStandardError = $true
            $p = [System.Diagnostics.Process]::Start($psi)
            $out = $p.StandardOutput.ReadToEndAsync()
            $err = $p.StandardError.ReadToEndAsync()
            if (-not $p.WaitForExit(90000)) { $p.Kill($true); throw "Chromium $Arguments did not finish in 90 s." }
            if ($p.ExitCode -ne 0) { throw "Chromium $Arguments exited with $($p.ExitCode):`n$($err.Result)" }
            $out.Result
        }
        finally { Remove-Item -LiteralPath $userData.FullName -Recurse -Force -ErrorAction Ignore }
    }

    function Get-RenderedDom([string] $File) { Invoke-Chromium @('--dump-dom', [uri]::new($File).AbsoluteUri) }

    function Get-Screenshot([string] $File, [int] $Width, [int] $Height) {
        $png = [IO.Path]::ChangeExtension($File, '.png')
        $null = Invoke-Chromium @("--screenshot=$png", "--window-size=$Width,$Height", '--hide-scrollbars', [uri]::new($File).AbsoluteUri)
        $png | Should -Exist -Because 'Chromium writes the screenshot'
        [NeuralJit.Tests.PngImage]::Read($png)
    }

    # Not blank: many colours, and a real share of the pixels is not background white.
    function Assert-Drawn($Png, [string] $What) {
        $Png.InkedShare() | Should -BeGreaterThan 0.03 -Because "the $What screenshot is not blank"
        $Png.DistinctColours() | Should -BeGreaterThan 50 -Because "the $What screenshot has more than a few colours"
    }

    # The <tr> rows of the body of the table with this id, as dumped HTML.
    function Get-BodyRow([string] $Dom, [string] $Id) {
        $table = [regex]::Match($Dom, "<table id=""$Id""[^>]*>.*?<tbody>(.*?)</tbody>", 'Singleline')
        $table.Success | Should -BeTrue -Because "the table '$Id' with a tbody is in the page"
        @([regex]::Matches($table.Groups[1].Value, '<tr>.*?</tr>', 'Singleline').Value)
    }

    # Known numbers, so the tests check drawing, not benchmark timing: three kernels, each JIT faster than its baseline.
    $script:rows = @(
        [pscustomobject]@{ Operation = 'Gemm'; Dims = '64x64x64'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; BaselineNanoseconds = 12000; JitNanoseconds = 3900; MaxAbsError = 2e-6; Bound = 'Compute'; PercentOfBound = 41 }
        [pscustomobject]@{ Operation = 'Relu'; Dims = '4096'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; BaselineNanoseconds = 900; JitNanoseconds = 300; MaxAbsError = 0; Bound = 'L1'; PercentOfBound = 77 }
        [pscustomobject]@{ Operation = 'LstmStep'; Dims = '512x192'; Isa = 'Avx512'; Baseline = 'Scalar'; BaselineNanoseconds = 40000; JitNanoseconds = 4800; MaxAbsError = 5e-7; Bound = 'L2'; PercentOfBound = 52 }
    )
    $script:kernelKeys = 'Gemm 64x64x64', 'LstmStep 512x192', 'Relu 4096'
    $script:scratch = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "neuraljit-browser-$([guid]::NewGuid())")
}

AfterAll {
    if ($scratch) { Remove-Item -LiteralPath $scratch.FullName -Recurse -Force -ErrorAction Ignore }
}

Describe 'The roofline chart in a browser' -Skip:$skipBrowser {
    BeforeAll {
        $script:svgFile = Join-Path $scratch.FullName 'roofline.svg'
        $rows | Export-NeuralRoofline -Path $svgFile
        $script:svg = ([xml](Get-RenderedDom $svgFile)).DocumentElement
        $script:ns = @{ s = 'http://www.w3.org/2000/svg' }
        function script:Select-Class([string] $Class) {
            @(Select-Xml -Xml $svg -Namespace $ns -XPath "//*[contains(concat(' ', @class, ' '), ' $Class ')]" | ForEach-Object Node)
        }
    }

    It 'is 800 px wide and runs no script' {
        $svg.GetAttribute('width') | Should -Be '800'
        @(Select-Xml -Xml $svg -Namespace $ns -XPath '//s:script') | Should -HaveCount 0
    }

    It 'has log axes of arithmetic intensity and GFLOP/s with decade labels' {
        $x = Select-Class 'axis' | Where-Object { $_.GetAttribute('class') -eq 'axis x' }
        $y = Select-Class 'axis' | Where-Object { $_.GetAttribute('class') -eq 'axis y' }
        @($x) | Should -HaveCount 1
        @($y) | Should -HaveCount 1
        @($x.text)[-1].InnerText | Should -BeLike 'Arithmetic intensity (FLOP/byte*'
        @($y.text)[-1].InnerText | Should -BeLike '*GFLOP/s*'
        @($x.text | Where-Object { $_.GetAttribute('class') -eq 'tick' }).Count | Should -BeGreaterOrEqual 3
        @($y.text | Where-Object { $_.GetAttribute('class') -eq 'tick' }).Count | Should -BeGreaterOrEqual 3
    }

    It "draws this machine's ceilings, labelled with their values" {
        $roofline = Get-NeuralRoofline
        $peaks = @('Avx2PeakGFlops', 'Avx512PeakGFlops' | Where-Object { $roofline.$_ -gt 0 }).Count
        @(Select-Class 'compute') | Should -HaveCount $peaks
        $bandwidths = @(Select-Class 'bandwidth' | ForEach-Object InnerText)
        $bandwidths | Should -HaveCount 4
        $bandwidths | Where-Object { $_ -like 'L1 * GB/s' } | Should -Not -BeNullOrEmpty
        $bandwidths | Where-Object { $_ -like 'Memory *' } | Should -Not -BeNullOrEmpty
    }

    It 'marks each kernel twice, the faster JIT higher, with an arrow and its label' {
        $kernels = Select-Class 'kernel'
        ($kernels | ForEach-Object { $_.GetAttribute('data-key') } | Sort-Object) | Should -Be $kernelKeys
        foreach ($k in $kernels) {
            $key = $k.GetAttribute('data-key')
            $jit = @($k.circle | Where-Object { $_.GetAttribute('class') -eq 'mark jit' })
            $base = @($k.circle | Where-Object { $_.GetAttribute('class') -eq 'mark baseline' })
            $jit | Should -HaveCount 1 -Because $key
            $base | Should -HaveCount 1 -Because $key
            [double]$jit[0].GetAttribute('cy') | Should -BeLessThan ([double]$base[0].GetAttribute('cy')) -Because "$key runs faster on the JIT"
            $jit[0].GetAttribute('cx') | Should -Be $base[0].GetAttribute('cx') -Because "$key has one arithmetic intensity"
            @($k.line | Where-Object { $_.GetAttribute('class') -eq 'arrow' }) | Should -HaveCount 1 -Because $key
            ($k.text | Where-Object { $_.GetAttribute('class') -eq 'label' }).InnerText | Should -Be $key
        }
    }

    It 'is drawn, with the three red JIT marks visible' {
        $png = Get-Screenshot $svgFile 820 560
        $png.Width | Should -Be 820
        Assert-Drawn $png 'roofline'
        $png.Count(0xd6, 0x27, 0x28, 24) | Should -BeGreaterOrEqual (3 * 40)
    }
}

Describe 'The HTML report in a browser' -Skip:$skipBrowser {
    BeforeAll {
        Reset-NeuralProfile -Confirm:$false
        $null = Invoke-NeuralInference -InputSize 8 -HiddenSize 8 -OutputSize 3 -Steps 50
        $deadline = [datetime]::UtcNow.AddSeconds(60)
        while ((Get-NeuralEngine).PendingCompilations -gt 0 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        $script:compiled = @(Get-NeuralJitKernel).Count
        $script:hotspotKeys = @(Get-NeuralHotspot | ForEach-Object { '<td>{0}</td><td>{1}</td>' -f $_.Operation, $_.Dims })
        $script:reportFile = Join-Path $scratch.FullName 'report.html'
        $rows | Export-NeuralReport -Path $reportFile -Title 'Browser test'
        $script:dom = Get-RenderedDom $reportFile
    }

    It 'is self-contained: nothing to fetch, nothing to run' {
        Get-Content -Raw $reportFile | Should -Not -Match '<script|\s(src|href)='
    }

    It 'has the title and the machine table' {
        $dom | Should -Match '<title>Browser test</title>'
        $machine = Get-BodyRow $dom 'machine'
        $machine | Should -HaveCount 9
        $machine | Where-Object { $_ -match '<th>FMA peak</th>' -and $_ -match 'GFLOP/s' } | Should -Not -BeNullOrEmpty
    }

    It 'has one speedup row per result, with the ratio and % of bound' {
        $speedups = Get-BodyRow $dom 'speedups'
        $speedups | Should -HaveCount 3
        $speedups | Where-Object { $_ -match '<td>LstmStep</td><td>512x192</td>' -and $_ -match '8\.33x' -and $_ -match '52%' } | Should -Not -BeNullOrEmpty
    }

    It "has one hotspot row per profiled key, each with its share bar" {
        $hotspots = Get-BodyRow $dom 'hotspots'
        $hotspotKeys | Should -HaveCount 2 -Because 'the profile holds the LSTM step and the dense head'
        $hotspots | Should -HaveCount $hotspotKeys.Count
        foreach ($key in $hotspotKeys) { ($hotspots -match [regex]::Escape($key)) | Should -Not -BeNullOrEmpty -Because $key }
        ($hotspots -match '<td>LstmStep</td><td>32x16</td>') | Should -Not -BeNullOrEmpty
        ($hotspots -match '<td>Dense</td><td>3x8</td>') | Should -Not -BeNullOrEmpty
        foreach ($r in $hotspots) { $r | Should -Match 'class="bar"><span style="width:[0-9.]+%">' }
    }

    It 'lists the compiled kernels with their disassembly folded' {
        if ($compiled -gt 0) {
            $kernels = Get-BodyRow $dom 'kernels'
            $kernels | Should -HaveCount $compiled
            foreach ($r in $kernels) { $r | Should -Match '<details><summary>[0-9,]+ instructions at 0x[0-9A-F]+</summary><pre>' }
        }
        else { $dom | Should -Match 'No kernel has been compiled' }
    }

    It 'has the roofline chart inline with a JIT and a baseline mark per kernel' {
        $start = $dom.IndexOf('<svg')
        $start | Should -BeGreaterThan 0 -Because 'the roofline chart is inline'
        $chart = $dom.Substring($start, $dom.IndexOf('</svg>', $start) - $start)
        [regex]::Matches($chart, 'class="mark jit"').Count | Should -Be 3
        [regex]::Matches($chart, 'class="mark baseline"').Count | Should -Be 3
    }

    It 'is drawn, with its share and % of bound bars' {
        $png = Get-Screenshot $reportFile 1100 1800
        Assert-Drawn $png 'report'
        $png.Count(0x5b, 0x8d, 0xef, 10) | Should -BeGreaterThan 200
    }
}
