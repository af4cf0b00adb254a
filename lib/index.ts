/**
 * The app as a construct library, for a CDK app or pipeline of one's own: the central deployment
 * (`CertLifecycleStack`), a workload account's part of an organisation's deployment (`MemberStack`,
 * `MemberStage`, `MemberAccount`), and the settings both take, checked by the same rules as this
 * repository's `cdk.json` context (`resolveConfig`). `bin/app.ts` is one consumer of them.
 */
export { CertLifecycleStack, type CertLifecycleStackProps } from './cert-lifecycle-stack.js';
export { type AppConfig, ConfigError, DEFAULT_CONFIG, resolveConfig } from './config.js';
export {
  type CentralDeployment,
  MemberAccount,
  type MemberAccountProps,
  centralKeyAlias,
  memberRoleName,
} from './member-account.js';
export {
  type MemberSettings,
  MemberStack,
  type MemberStackProps,
  MemberStage,
  type MemberStageProps,
} from './member-stack.js';
export { createApp } from './app.js';
