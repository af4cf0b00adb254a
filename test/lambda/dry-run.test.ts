import { describe, expect, it } from 'vitest';
import { compareVersions, describeInstance } from '../../lambda/dry-run/dry-run.js';

describe('agent version comparison', () => {
  it('compares dotted versions as numbers', () => {
    expect(compareVersions('3.3.2746.0', '3.3.2746.0')).toBe(0);
    expect(compareVersions('3.3.10000.0', '3.3.2746.0')).toBe(1);
    expect(compareVersions('3.2.9999.9', '3.3.2746.0')).toBe(-1);
    expect(compareVersions('4', '3.3.2746.0')).toBe(1);
  });
});

describe('a tagged node in the dry run', () => {
  const node = {
    InstanceId: 'i-0123456789abcdef0',
    PingStatus: 'Online' as const,
    AgentVersion: '3.3.2746.0',
  };

  it('is ready on Linux, its host check to follow', () => {
    expect(
      describeInstance({
        ...node,
        PlatformType: 'Linux',
        PlatformName: 'Amazon Linux',
        PlatformVersion: '2023',
      }),
    ).toEqual({
      instanceId: node.InstanceId,
      pingStatus: 'Online',
      platform: 'Amazon Linux 2023',
      agentVersion: '3.3.2746.0',
      platformType: 'Linux',
      ready: true,
    });
  });

  it('says it is Windows, and what only its first install can tell', () => {
    const windows = describeInstance({
      ...node,
      PlatformType: 'Windows',
      PlatformName: 'Microsoft Windows Server 2022 Datacenter',
      PlatformVersion: '10.0.20348',
    });
    expect(windows).toMatchObject({ platformType: 'Windows', ready: true });
    expect(windows.windowsNeeds).toMatch(/AWS Tools for PowerShell or the AWS CLI v2/);
  });

  it('is not ready on Windows Server 2016, which cannot open the AES-256 keystore', () => {
    expect(
      describeInstance({ ...node, PlatformType: 'Windows', PlatformVersion: '10.0.14393' }).notReadyBecause,
    ).toBe(
      "Windows 10.0.14393 is older than Windows Server 2019 (10.0.17763), which the keystore's AES-256 protection needs",
    );
  });

  it('is not ready on macOS, which neither step runs on', () => {
    expect(describeInstance({ ...node, PlatformType: 'MacOS' }).notReadyBecause).toBe(
      'platform is MacOS, neither Linux nor Windows',
    );
  });
});
