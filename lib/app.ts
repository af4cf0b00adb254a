import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CertLifecycleStack } from './cert-lifecycle-stack.js';
import { type AppConfig, ConfigError, loadConfig } from './config.js';
import { MemberStack } from './member-stack.js';

/**
 * The CDK app: configuration read from context and checked, the stack, and (for an organisation) the
 * member stack's template for the workload accounts; cdk-nag's AWS Solutions rules on both.
 */
export function createApp(props: AppProps = {}): {
  app: App;
  stack: CertLifecycleStack;
  member?: MemberStack;
} {
  const app = new App(props);
  const config = loadConfig(app.node);
  const stack = new CertLifecycleStack(app, config.stackName, {
    config,
    description: 'Certificate lifecycle: export ACM certificates to tagged instances, renew, alert',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  const member = config.organizationId ? memberStackOf(app, config) : undefined;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, ...(member ? { member } : {}) };
}

function memberStackOf(app: App, config: AppConfig): MemberStack {
  const account = config.centralAccount || process.env.CDK_DEFAULT_ACCOUNT;
  const region = config.centralRegion || process.env.CDK_DEFAULT_REGION;
  if (!account || !region) {
    throw new ConfigError([
      'organizationId: the member stack must name the central account and Region; set centralAccount and centralRegion (synth found no AWS account or Region to take them from)',
    ]);
  }
  return new MemberStack(app, `${config.stackName}-Member`, {
    description: `Certificate lifecycle, workload account: lets ${config.stackName} in ${account} install certificates on this account's hosts`,
    central: { account, region, stackName: config.stackName, organizationId: config.organizationId },
    tagKeys: config.instanceTagKeys,
    certificateAlerts: config.memberCertificateAlerts,
  });
}
