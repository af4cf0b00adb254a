import {
  CfnOutput,
  DefaultStackSynthesizer,
  Stack,
  type StackProps,
  Stage,
  type StageProps,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { type CentralDeployment, MemberAccount } from './member-account.js';

/** Where the central deployment is, and the tag keys its hosts are selected by. */
export interface MemberSettings {
  readonly central: CentralDeployment;
  /** The tag keys hosts are selected by (the central `instanceTagKeys`). @default ['env'] */
  readonly tagKeys?: readonly string[];
  /**
   * Forward this account's ACM expiry, renewal-action and expired events to the central deployment,
   * which reports them (finding and alert) as it does its own. @default true
   */
  readonly certificateAlerts?: boolean;
}

export interface MemberStackProps extends StackProps, MemberSettings {}

/**
 * A workload account's part of an organisation's deployment, as its own template: deployable by a
 * service-managed CloudFormation StackSet (automatic deployment to an organizational unit), so it needs
 * no CDK bootstrap in the account (no bootstrap version rule, no assets).
 */
export class MemberStack extends Stack {
  readonly member: MemberAccount;

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id, {
      ...props,
      synthesizer: props.synthesizer ?? new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    });
    this.member = new MemberAccount(this, 'Member', memberSettingsOf(props));
    new CfnOutput(this, 'HostAccessPolicyArn', {
      value: this.member.hostPolicy.managedPolicyArn,
      description: 'Attach to the roles of the hosts that install certificates, and tag those roles',
    });
  }
}

export interface MemberStageProps extends StageProps, MemberSettings {}

/** The member stack as a CDK Pipelines stage: one per workload account and Region. */
export class MemberStage extends Stage {
  readonly stack: MemberStack;

  constructor(scope: Construct, id: string, props: MemberStageProps) {
    super(scope, id, props);
    this.stack = new MemberStack(this, 'Member', memberSettingsOf(props));
  }
}

/** The member settings of a stack's or stage's props, without the rest. */
function memberSettingsOf(props: MemberSettings): MemberSettings {
  return {
    central: props.central,
    ...(props.tagKeys ? { tagKeys: props.tagKeys } : {}),
    ...(props.certificateAlerts !== undefined ? { certificateAlerts: props.certificateAlerts } : {}),
  };
}
