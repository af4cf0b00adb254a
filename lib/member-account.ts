import { Aws, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEPLOYMENT_TAG_KEY } from '../lambda/shared/target-association.js';
import { memberHostPolicyName, memberRoleName } from '../lambda/shared/target-location.js';
import { dryRunDocumentContent } from './command-document.js';
import { InstallDocument, appDocumentName } from './install-document.js';
import { InstanceCertificateAccess } from './instance-certificate-access.js';
import { grantTo, manageAssociationGrants, readHostRoleGrant, sendCommandGrants } from './ssm-grants.js';

/** Where the central deployment is, which a member account trusts and reports to. */
export interface CentralDeployment {
  /** The central account's id. */
  readonly account: string;
  /** The central deployment's Region (its secrets, key and event bus). */
  readonly region: string;
  /** The central stack's name: its roles' names begin with it, and the documents here are named after it. */
  readonly stackName: string;
  /** The organization both accounts belong to (`o-…`): no principal outside it is trusted. */
  readonly organizationId: string;
}

export interface MemberAccountProps {
  readonly central: CentralDeployment;
  /** The tag keys hosts are selected by (the central `instanceTagKeys`). @default ['env'] */
  readonly tagKeys?: readonly string[];
  /**
   * Forward this account's ACM certificate events (approaching expiration, renewal action required,
   * expired, available again) to the central bus, and let the central deployment describe the
   * certificates they name: it raises and archives their findings and alerts as for its own. @default true
   */
  readonly certificateAlerts?: boolean;
}

/** The ACM events a member account forwards for the central deployment to report. */
export const MEMBER_CERTIFICATE_EVENTS: events.EventPattern = {
  source: ['aws.acm'],
  detailType: [
    'ACM Certificate Approaching Expiration',
    'ACM Certificate Renewal Action Required',
    'ACM Certificate Expired',
    'ACM Certificate Available',
  ],
};

/** The alias of the central key the certificate secrets are encrypted with. */
export const centralKeyAlias = (stackName: string): string => `alias/${stackName}-certificates`;
export { memberRoleName };

/**
 * The role the member stack's rule forwards events to the central bus with: a fixed name, so the central
 * bus's policy admits this role of the organization's accounts and no other principal.
 */
export const memberForwardRoleName = (stackName: string, region: string): string =>
  `${stackName}-Forward-${region}`;

/**
 * What a workload account needs for the central deployment to install certificates on its hosts: the
 * install, check, remove and Windows documents (under the central stack's names), the policy for the
 * hosts' roles (they read their secrets in the central account, bound to their own tag), a role that only
 * the central deployment's roles of the same organization may assume, and a rule that forwards this
 * app's command and association events to the central event bus. No asset, no function: the template
 * deploys as a CloudFormation StackSet.
 */
export class MemberAccount extends Construct {
  readonly role: iam.Role;
  readonly hostPolicy: iam.ManagedPolicy;
  readonly documentNames: readonly string[];

  constructor(scope: Construct, id: string, props: MemberAccountProps) {
    super(scope, id);
    const { central } = props;
    const tagKeys = props.tagKeys ?? ['env'];

    // Hosts here read their secrets in the central account, by ARN.
    const secretsArn = `arn:${Aws.PARTITION}:secretsmanager:${central.region}:${central.account}:secret:`;
    const windows = new InstallDocument(this, 'WindowsDocument', {
      documentName: appDocumentName(central.stackName, 'Windows'),
      sourceFile: 'install-acm-certificate-windows',
      scriptFile: 'install-acm-certificate',
      secretsArn,
    });
    const documents = (
      [
        ['InstallDocument', 'Install', 'install-acm-certificate'],
        ['CheckDocument', 'Check', 'check-acm-certificate'],
        ['RemoveDocument', 'Remove', 'remove-acm-certificate'],
      ] as const
    ).map(
      ([documentId, verb, file]) =>
        new InstallDocument(this, documentId, {
          documentName: appDocumentName(central.stackName, verb),
          sourceFile: file,
          scriptFile: 'install-acm-certificate',
          windowsDocumentName: windows.documentName,
          secretsArn,
        }),
    );
    // The dry run's own document, which the central dry run sends to this account's ready hosts.
    const dryRun = new InstallDocument(this, 'DryRunDocument', {
      documentName: appDocumentName(central.stackName, 'DryRun'),
      content: dryRunDocumentContent({ secretsArn }),
    });
    this.documentNames = [
      ...documents.map((document) => document.documentName),
      windows.documentName,
      dryRun.documentName,
    ];

    this.hostPolicy = new InstanceCertificateAccess(this, 'HostAccess', {
      key: { keyAlias: centralKeyAlias(central.stackName) },
      tagKeys,
      secretsAccount: central.account,
      secretsRegion: central.region,
      // The same name in every account, so host roles everywhere attach it alike.
      managedPolicyName: memberHostPolicyName(central.stackName, Stack.of(this).region),
    }).policy;

    this.role = new iam.Role(this, 'CentralRole', {
      roleName: memberRoleName(central.stackName, Stack.of(this).region),
      description: `Assumed by the certificate-lifecycle deployment ${central.stackName} in ${central.account} to install certificates here`,
      assumedBy: new iam.AccountPrincipal(central.account).withConditions({
        // Only the central deployment's own roles, and only while both accounts are in the organization.
        ArnLike: {
          'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${central.account}:role/${central.stackName}-*`,
        },
        StringEquals: { 'aws:PrincipalOrgID': central.organizationId },
      }),
    });
    this.allowCentral(
      [...documents.map((document) => document.documentArn), dryRun.documentArn],
      central.stackName,
      tagKeys,
    );

    // This app's commands and association runs, to the central bus (a role is required for an event bus
    // of another account that trusts the organization).
    const centralBus = events.EventBus.fromEventBusArn(
      this,
      'CentralBus',
      `arn:${Aws.PARTITION}:events:${central.region}:${central.account}:event-bus/default`,
    );
    const forwarder = new iam.Role(this, 'ForwardRole', {
      roleName: memberForwardRoleName(central.stackName, Stack.of(this).region),
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: "Puts this app's SSM events on the central deployment's event bus",
    });
    new events.Rule(this, 'ForwardToCentral', {
      description: `This app's SSM command and association events, to ${central.stackName} in ${central.account}`,
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [
          'EC2 Command Status-change Notification',
          'EC2 State Manager Instance Association State Change',
        ],
        detail: { 'document-name': documents.map((document) => document.documentName) },
      },
      targets: [new targets.EventBus(centralBus, { role: forwarder })],
    });

    if (props.certificateAlerts ?? true) {
      new events.Rule(this, 'ForwardCertificateEvents', {
        description: `This account's ACM certificate events, to ${central.stackName} in ${central.account} for findings and alerts`,
        eventPattern: MEMBER_CERTIFICATE_EVENTS,
        targets: [new targets.EventBus(centralBus, { role: forwarder })],
      });
      // The central deployment describes the certificate an event names, here.
      grantTo(this.role, {
        statement: {
          actions: ['acm:DescribeCertificate'],
          resources: [`arn:${Aws.PARTITION}:acm:${Aws.REGION}:${Aws.ACCOUNT_ID}:certificate/*`],
        },
        wildcardReasons: {
          'Resource::arn:<AWS::Partition>:acm:<AWS::Region>:<AWS::AccountId>:certificate/*':
            'The certificate is the one a forwarded ACM event names, known at run time; describing it reads metadata only.',
        },
      });
    }
  }

  /** What the central deployment does here: the same grants its functions hold in its own account. */
  private allowCentral(documentArns: string[], stackName: string, tagKeys: readonly string[]): void {
    const grants = [
      // The export asks for the install document before anything is exported for hosts here.
      { statement: { actions: ['ssm:DescribeDocument'], resources: [documentArns[0]!] } },
      ...sendCommandGrants(documentArns, "this app's install, check, remove and dry-run documents", tagKeys),
      ...manageAssociationGrants(documentArns[0]!, { key: DEPLOYMENT_TAG_KEY, value: stackName }),
      {
        statement: {
          actions: [
            'ssm:DescribeInstanceInformation',
            'ssm:ListCommands',
            'ssm:ListCommandInvocations',
            'ssm:ListComplianceItems',
          ],
          resources: ['*'],
        },
        wildcardReasons: {
          'Resource::*':
            'ListAssociations, DescribeInstanceInformation, ListCommands, ListCommandInvocations and ListComplianceItems support no resource-level permissions.',
        },
      },
      readHostRoleGrant(),
    ];
    for (const grant of grants) grantTo(this.role, grant);
  }
}
