import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { embeddedPowerShell } from '../../lib/command-document.js';
import { INSTALL_PARAMETER_RULES } from '../../lambda/shared/install-parameters.js';
import { pwsh } from '../helpers/powershell.js';
import { SHELL_HOSTILE } from '../helpers/fixtures.js';
import { WINDOWS_SCRIPT_SOURCE, deployedScript } from '../helpers/windows-host.js';

const source = readFileSync(WINDOWS_SCRIPT_SOURCE, 'utf8');

/**
 * PowerShell's own parser, asked for everything in the script Windows PowerShell 5.1 (what SSM Agent
 * runs) does not have: the operators of PowerShell 7 (`??`, `??=`, `?.`, `?[]`, the ternary, `&&` and
 * `||` between pipelines), `ForEach-Object -Parallel` and `clean` blocks.
 */
const NEWER_THAN_5_1 = [
  '$tokens = $null; $errors = $null',
  '$ast = [System.Management.Automation.Language.Parser]::ParseFile($env:SCRIPT, [ref]$tokens, [ref]$errors)',
  '$found = @()',
  'foreach ($e in $errors) { $found += "parse error at line $($e.Extent.StartLineNumber): $($e.Message)" }',
  "foreach ($t in $tokens) { if (@('QuestionQuestion', 'QuestionQuestionEquals', 'QuestionDot', 'QuestionLBracket', 'AndAnd', 'OrOr') -contains [string]$t.Kind) { $found += \"$($t.Kind) at line $($t.Extent.StartLineNumber)\" } }",
  '$all = $ast.FindAll({ param($n) $true }, $true)',
  "foreach ($n in $all) { $type = $n.GetType().Name; if ($type -eq 'TernaryExpressionAst' -or $type -eq 'PipelineChainAst') { $found += \"$type at line $($n.Extent.StartLineNumber)\" }",
  "  if ($type -eq 'CommandAst' -and $n.GetCommandName() -match '^(ForEach-Object|%|foreach)$' -and ($n.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] -and 'Parallel'.StartsWith($_.ParameterName, 'OrdinalIgnoreCase') })) { $found += \"ForEach-Object -Parallel at line $($n.Extent.StartLineNumber)\" }",
  "  if (($type -eq 'MemberExpressionAst' -or $type -eq 'InvokeMemberExpressionAst' -or $type -eq 'IndexExpressionAst') -and $n.PSObject.Properties['NullConditional'] -and $n.NullConditional) { $found += \"null-conditional access at line $($n.Extent.StartLineNumber)\" }",
  '  if ($type -eq \'ScriptBlockAst\' -and $null -ne $n.CleanBlock) { $found += "clean block at line $($n.Extent.StartLineNumber)" } }',
  '$found',
].join('\n');

function newerThan51(script: string): string[] {
  const file = `${process.env.TMPDIR ?? '/tmp'}/syntax-${process.pid}-${Math.random().toString(36).slice(2)}.ps1`;
  writeFileSync(file, script);
  return pwsh(NEWER_THAN_5_1, { SCRIPT: file }).split('\n').filter(Boolean);
}

describe('the Windows install script', () => {
  it('uses nothing Windows PowerShell 5.1 lacks', () => {
    expect(newerThan51(source)).toEqual([]);
    expect(newerThan51(embeddedPowerShell(source))).toEqual([]);
  });

  it.each([
    ['$a = $b ?? 1', 'QuestionQuestion'],
    ['$a ??= 1', 'QuestionQuestionEquals'],
    ['$a = ${b}?.Name', 'null-conditional access'],
    ['$a = ${b}?[0]', 'null-conditional access'],
    ['$a = $true ? 1 : 2', 'TernaryExpressionAst'],
    ['Get-Date && Get-Date', 'AndAnd'],
    ['1..3 | ForEach-Object -Parallel { $_ }', 'ForEach-Object -Parallel'],
    ['function f { process { } clean { } }', 'clean block'],
  ])('would refuse %s', (line, finding) => {
    expect(newerThan51(line).join('\n')).toContain(finding);
  });

  it('is plain ASCII with no block comments or here-strings, which the embedded form would break', () => {
    expect(
      [...source].every((character) => character === '\n' || (character >= ' ' && character <= '~')),
    ).toBe(true);
    expect(source).not.toMatch(/<#|#>|@"|@'/);
  });

  it('refuses, by its own check, every hostile value the documents refuse, for every parameter it reads', () => {
    const names = [...source.matchAll(/Read-Parameter '(\w+)'/g)].map((match) => match[1]!);
    // Beside the shell's hostile values: case, a newline before the end, a trailing newline, a port
    // beyond 65535, a path that climbs out, and words that only look right.
    const own = [
      ['CertName', '..\\windows'],
      ['CertName', 'web\nRESULT'],
      ['SecretId', 'acm-passphrase/web/0123456789abcdeF'],
      ['Region', 'us-east-1; calc'],
      ['IisBindings', 'Site:443:a.example.com\n'],
      ['HttpSysBindings', 'ipport=0.0.0.0:443 & calc'],
      ['HttpSysBindings', 'ipport=0.0.0.0:70000'],
      ['KeyReaders', 'IIS AppPool\\"pool"'],
      ['KeyReaders', 'Everyone'],
      ['KeyExportable', 'True'],
      ['VerifyEndpoint', '127.0.0.1:443`'],
      ['VerifyEndpoint', '127.0.0.1:65536'],
      ['Action', 'install'],
    ].map(([name, value]) => ({ name: name!, value: value! }));
    const cases = [...names.flatMap((name) => SHELL_HOSTILE.map((value) => ({ name, value }))), ...own];
    const verdicts = pwsh(
      [
        `. '${deployedScript()}' -DefineOnly`,
        '$env:SSM_Region = "us-east-1"',
        'foreach ($case in (ConvertFrom-Json $env:CASES)) {',
        '  [Environment]::SetEnvironmentVariable("SSM_$($case.name)", $case.value)',
        '  try { Read-Parameters | Out-Null; "accepted $($case.name)" } catch { "refused $($case.name): $(Get-FailureText $_)" }',
        '  Remove-Item -LiteralPath "Env:SSM_$($case.name)" -ErrorAction SilentlyContinue; $env:SSM_Region = "us-east-1"',
        '}',
        'try { Read-Parameters | Out-Null; "accepted the defaults" } catch { "refused the defaults: $(Get-FailureText $_)" }',
      ].join('\n'),
      { CASES: JSON.stringify(cases) },
    )
      .split('\n')
      .filter(Boolean);
    expect(names.length).toBeGreaterThan(10);
    expect(verdicts).toHaveLength(cases.length + 1);
    const refusal = /^refused \w+: (parameter \w+ is not valid|a binding's port \d+ is not a TCP port)$/;
    expect(verdicts.filter((verdict) => !refusal.test(verdict))).toEqual(['accepted the defaults']);
  });

  it('checks every parameter it reads against the same rule as the document', () => {
    const checked = [...source.matchAll(/Read-Parameter '(\w+)' '[^']*' '([^']+)' (\d+)/g)];
    const rules = INSTALL_PARAMETER_RULES as Record<string, { pattern: string; maxChars: number }>;
    const compared = checked.filter(([, name]) => name !== 'Action');
    expect(compared.length).toBeGreaterThan(10);
    for (const [, name, pattern, maxChars] of compared) {
      expect(rules[name!], name).toBeDefined();
      expect(pattern, name).toBe(rules[name!]!.pattern);
      expect(Number(maxChars), name).toBe(rules[name!]!.maxChars);
    }
  });
});
