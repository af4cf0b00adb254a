import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  ASSOCIATION_INDEX,
  CERTIFICATE_INDEX,
  PARTITION_KEY,
  SORT_KEY,
} from '../../lambda/shared/mapping-store.js';

/**
 * A real DynamoDB engine on loopback (dynalite here, moto's in the integration suite); each call to
 * `createInventoryTable` lays out a fresh inventory.
 */
export interface LocalDynamo {
  readonly db: DynamoDBDocumentClient;
  /** Creates a table shaped as the stack declares the inventory, with a unique name unless given one. */
  createInventoryTable(name?: string): Promise<string>;
  /** Creates a table shaped as the stack declares the install waits. */
  createWaitsTable(): Promise<string>;
  /** Creates a table shaped as the stack declares the hosts' association results. */
  createHostStatesTable(): Promise<string>;
  /** Creates a table shaped as the stack declares the export claims (one export per serial). */
  createExportClaimsTable(): Promise<string>;
  /** The engine's URL, for clients configured by environment (AWS_ENDPOINT_URL_DYNAMODB). */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts dynalite on a free loopback port. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return dynamoAt(
    `http://127.0.0.1:${port}`,
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
}

/** An engine already listening at `endpoint`; `stopEngine` runs after the client is closed. */
export function dynamoAt(endpoint: string, stopEngine: () => Promise<void> = async () => {}): LocalDynamo {
  const client = new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const createInventoryTable = async (tableName = `inventory-${randomUUID().slice(0, 8)}`) => {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: SORT_KEY, AttributeType: 'S' },
          { AttributeName: 'CertificateArn', AttributeType: 'S' },
          { AttributeName: 'AssociationId', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: SORT_KEY, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: CERTIFICATE_INDEX,
            KeySchema: [{ AttributeName: 'CertificateArn', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: ASSOCIATION_INDEX,
            KeySchema: [{ AttributeName: 'AssociationId', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    // Creation is asynchronous even in a local engine: wait until the table answers.
    await waitUntilTableExists(
      { client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 },
      { TableName: tableName },
    );
    return tableName;
  };
  /** A table keyed by `hash` (and `range`), all strings, ready when this returns. */
  const createKeyedTable = async (prefix: string, hash: string, range?: string) => {
    const tableName = `${prefix}-${randomUUID().slice(0, 8)}`;
    const keys = range ? [hash, range] : [hash];
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: keys.map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
        KeySchema: keys.map((AttributeName, index) => ({
          AttributeName,
          KeyType: index === 0 ? 'HASH' : 'RANGE',
        })),
      }),
    );
    await waitUntilTableExists(
      { client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 },
      { TableName: tableName },
    );
    return tableName;
  };
  // Imported late: the handlers' logger must first see the environment the harness gives it.
  const createWaitsTable = async () =>
    createKeyedTable('waits', (await import('../../lambda/shared/install-wait.js')).WAIT_KEY);
  const createHostStatesTable = async () => {
    const { HOST_PARTITION_KEY, HOST_SORT_KEY } = await import('../../lambda/shared/host-state.js');
    return createKeyedTable('hosts', HOST_PARTITION_KEY, HOST_SORT_KEY);
  };
  const createExportClaimsTable = async () =>
    createKeyedTable('claims', (await import('../../lambda/shared/export-claim.js')).CLAIM_KEY);
  return {
    db: DynamoDBDocumentClient.from(client),
    createInventoryTable,
    createWaitsTable,
    createHostStatesTable,
    createExportClaimsTable,
    endpoint,
    stop: async () => {
      client.destroy();
      await stopEngine();
    },
  };
}
