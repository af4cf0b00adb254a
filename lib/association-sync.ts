import { CustomResource, Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HandlerFunction } from './handler-function.js';

export interface AssociationSyncProps {
  /** The install document (a construct: the sync runs after it is updated). */
  readonly installDocument: { readonly documentName: string; readonly documentArn: string };
  readonly inventory: { readonly tableName: string; readonly tableArn: string };
  /** What the associations say (document, profiles, schedule, rollout, deployment tag), as the functions get it. */
  readonly associationEnvironment: Record<string, string>;
  readonly deploymentTag: { readonly key: string; readonly value: string };
  /** Changes whenever the install document's content does. */
  readonly documentDigest: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * At each deploy that changes the install document or the associations' configuration, every target's
 * association is brought in line with it, and associations an earlier version made for single mappings
 * are replaced by their target's (lambda/sync-associations). A failure fails the deploy with the reason.
 */
export class AssociationSync extends Construct {
  readonly handler: HandlerFunction;

  constructor(scope: Construct, id: string, props: AssociationSyncProps) {
    super(scope, id);
    const sync = new HandlerFunction(this, 'Function', {
      handlerName: 'sync-associations',
      description:
        "At deploy, brings every target's association in line with the configuration just deployed",
      environment: { ...props.associationEnvironment, TABLE_NAME: props.inventory.tableName },
      timeout: Duration.minutes(15),
      logRetention: props.logRetention,
    });
    this.handler = sync;
    sync.allowManageAssociations(props.installDocument.documentArn, props.deploymentTag);
    sync.allow({
      actions: ['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      resources: [props.inventory.tableArn],
    });
    const resource = new CustomResource(this, 'InStep', {
      serviceToken: sync.function.functionArn,
      resourceType: 'Custom::TargetAssociations',
      properties: { ...props.associationEnvironment, DocumentDigest: props.documentDigest },
    });
    if (props.installDocument instanceof Construct) resource.node.addDependency(props.installDocument);
    resource.node.addDependency(sync);
  }
}
