import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CertLifecycleStack } from './cert-lifecycle-stack.js';
import { loadConfig } from './config.js';

/** The CDK app: configuration read from context and checked, one stack, cdk-nag's AWS Solutions rules. */
export function createApp(props: AppProps = {}): { app: App; stack: CertLifecycleStack } {
  const app = new App(props);
  const config = loadConfig(app.node);
  const stack = new CertLifecycleStack(app, config.stackName, {
    config,
    description: 'Certificate lifecycle: export ACM certificates to tagged instances, renew, alert',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
