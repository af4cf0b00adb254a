#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CertLifecycleStack } from '../lib/cert-lifecycle-stack.js';
import { ConfigError, loadConfig } from '../lib/config.js';

const app = new App();
try {
  const config = loadConfig(app.node);
  new CertLifecycleStack(app, app.node.tryGetContext('stackName') ?? 'CertLifecycle', {
    config,
    description: 'Certificate lifecycle: export ACM certificates to tagged instances, renew, alert',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
