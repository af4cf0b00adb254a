import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import {
  ASSOCIATION_INDEX,
  CERTIFICATE_INDEX,
  PARTITION_KEY,
  SORT_KEY,
} from '../lambda/shared/mapping-store.js';

export interface CertificateInventoryProps {
  /** @default a name CloudFormation makes from the stack's, so two deployments never share one */
  readonly tableName?: string;
}

/**
 * The certificate-to-target mappings (DESIGN.md "Data model"): which certificate is installed, under
 * which name, on the instances carrying which tag. Kept when the stack is deleted: it is the record of
 * what renewal must redeploy.
 */
export class CertificateInventory extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: CertificateInventoryProps = {}) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      ...(props.tableName ? { tableName: props.tableName } : {}),
      partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SORT_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS-managed key: encrypted at rest, visible in CloudTrail, and no key grants to hand out.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: CERTIFICATE_INDEX,
      partitionKey: { name: 'CertificateArn', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: ASSOCIATION_INDEX,
      partitionKey: { name: 'AssociationId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
