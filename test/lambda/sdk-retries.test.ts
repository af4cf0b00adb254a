import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type RecordAndInstallInput,
  recordAndInstall,
} from '../../lambda/record-and-install/record-and-install.js';
import { AssociationStore } from '../helpers/association-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { jsonEndpoint } from '../helpers/json-endpoint.js';
import { RECORD_AND_INSTALL_INPUT, REGION, recordAndInstallDependencies } from '../helpers/fixtures.js';

/*
 * The SDK's own retries, as deployed: SendCommand goes through a real SSMClient whose HTTP layer is a
 * small SSM endpoint (AWS JSON 1.1, X-Amz-Target). The first SendCommand creates the command and then
 * loses the connection (ECONNRESET), as a network fault after the service acted does. With the SDK's
 * default retry the same call sends it again: two install commands. The handler's client sends each
 * request once; the step's retry finds the command the first attempt made by the execution's mark.
 */
interface SentCommand {
  CommandId: string;
  Comment: string;
  Status: string;
  RequestedDateTime: Date;
}

/** SSM's SendCommand and ListCommands; the first SendCommand's answer is lost after it took effect. */
function ssmEndpoint() {
  const commands: SentCommand[] = [];
  const endpoint = jsonEndpoint({
    SendCommand: (input: { Comment: string }) => {
      const command = {
        CommandId: `cmd-${commands.length + 1}`,
        Comment: input.Comment,
        Status: 'InProgress',
        RequestedDateTime: new Date('2026-11-24T10:00:01Z'),
      };
      commands.push(command);
      return { Command: command };
    },
    ListCommands: (input: { CommandId?: string }) => ({
      Commands: input.CommandId ? commands.filter((c) => c.CommandId === input.CommandId) : commands,
    }),
  });
  endpoint.loseAnswers('SendCommand');
  return { commands, requestHandler: endpoint.requestHandler };
}

const INPUT: RecordAndInstallInput = {
  ...RECORD_AND_INSTALL_INPUT,
  executionStartedAt: '2026-11-24T10:00:00.000Z',
};

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
let stateManager: SSMClient;
beforeEach(() => {
  stateManager = new SSMClient({ region: REGION, credentials });
  new AssociationStore().serve(mockClient(stateManager));
});

async function attempt(client: SSMClient, tableName: string, waitsTable: string) {
  return recordAndInstall(
    INPUT,
    recordAndInstallDependencies(
      dynamo.db,
      { tableName, waitsTable },
      {
        ssm: client,
        commandSender: client,
        stateManager,
        sfn: new SFNClient({ region: REGION, credentials }),
      },
    ),
  );
}

describe('a lost answer to SendCommand, through the real SDK client', () => {
  it("with the SDK's default retries, would reach the hosts twice", async () => {
    const endpoint = ssmEndpoint();
    const client = new SSMClient({ region: REGION, credentials, requestHandler: endpoint.requestHandler });
    await attempt(client, await dynamo.createInventoryTable(), await dynamo.createWaitsTable());
    expect(endpoint.commands).toHaveLength(2);
  });

  it("with the handler's client (each request once), reaches the hosts once: the step's retry follows the first", async () => {
    const endpoint = ssmEndpoint();
    const client = new SSMClient({
      region: REGION,
      credentials,
      maxAttempts: 1,
      requestHandler: endpoint.requestHandler,
    });
    const tableName = await dynamo.createInventoryTable();
    const waitsTable = await dynamo.createWaitsTable();
    await expect(attempt(client, tableName, waitsTable)).rejects.toThrow(/socket hang up/);
    const retried = await attempt(client, tableName, waitsTable);
    expect(endpoint.commands).toHaveLength(1);
    expect(retried.commandId).toBe('cmd-1');
  });
});
