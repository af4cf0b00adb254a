import { App } from 'aws-cdk-lib';
import { CertLifecycleStack, MemberStage } from 'cert-lifecycle';

/**
 * A CDK app of a user's own that takes this package as a library: the central deployment with its
 * settings in code, and one workload account's member stage (as a CDK Pipeline would add it).
 */
export function consumerApp(outdir: string): App {
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  new CertLifecycleStack(app, 'PlatformCertificates', {
    env: { account: '111122223333', region: 'eu-west-1' },
    config: { alertEmails: ['platform@example.com'], instanceTagKeys: ['team'], expiryThresholdDays: 30 },
  });
  new MemberStage(app, 'WorkloadA', {
    env: { account: '444455556666', region: 'eu-west-1' },
    central: {
      account: '111122223333',
      region: 'eu-west-1',
      stackName: 'PlatformCertificates',
      organizationId: 'o-a1b2c3d4e5',
    },
    tagKeys: ['team'],
  });
  return app;
}
