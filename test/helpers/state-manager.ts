import type { CreateAssociationCommandInput } from '@aws-sdk/client-ssm';
import { type FakeHost, type HostRun, secretIdsOf } from './install-script.js';

/**
 * A small State Manager: it applies an association's document to the managed nodes its targets select,
 * at the moments AWS documents (SSM API reference, CreateAssociation and UpdateAssociation): when the
 * association is created or updated, when a node newly matches its targets, and on its schedule. A node
 * that is offline is skipped and caught by the next of those moments after it is back. Each run is the
 * real install script on the node's temporary root, reading the mapping's secret as the node would.
 */
export interface ManagedNode {
  readonly id: string;
  readonly host: FakeHost;
  tags: Record<string, string>;
  online: boolean;
}

export interface AssociationRun {
  readonly nodeId: string;
  readonly status: 'Success' | 'Failed';
  readonly run: HostRun;
}

/** "Each managed node can be targeted by a maximum of 20 associations" (State Manager user guide). */
export const NODE_ASSOCIATION_LIMIT = 20;

export class FakeStateManager {
  readonly runs: AssociationRun[] = [];
  private readonly matched = new Map<string, Set<string>>();
  /** The associations that have selected each node, by name. */
  private readonly targetedBy = new Map<string, Set<string>>();

  constructor(
    private readonly nodes: ManagedNode[],
    /** The secret each SecretId names, as Secrets Manager holds it now. */
    private readonly secretValue: (secretId: string) => string | undefined,
  ) {}

  /** CreateAssociation or UpdateAssociation: runs at once on every node the targets select. */
  applied(association: CreateAssociationCommandInput): AssociationRun[] {
    return this.runOn(association, this.selected(association));
  }

  /** The association's schedule came round: the same, every node it selects that is online now. */
  scheduleFired(association: CreateAssociationCommandInput): AssociationRun[] {
    return this.applied(association);
  }

  /** Tags or connectivity changed: runs on the nodes that newly match the targets. */
  targetsChanged(association: CreateAssociationCommandInput): AssociationRun[] {
    const before = this.matched.get(association.AssociationName ?? '') ?? new Set();
    return this.runOn(
      association,
      this.selected(association).filter((node) => !before.has(node.id)),
    );
  }

  private selected(association: CreateAssociationCommandInput): ManagedNode[] {
    return this.nodes.filter((node) =>
      (association.Targets ?? []).every((target) => {
        const key = target.Key?.replace(/^tag:/, '') ?? '';
        return target.Key?.startsWith('tag:') && (target.Values ?? []).includes(node.tags[key] ?? '');
      }),
    );
  }

  private runOn(association: CreateAssociationCommandInput, nodes: ManagedNode[]): AssociationRun[] {
    const parameters = association.Parameters ?? {};
    const secrets = secretIdsOf(parameters).map((id) => [id, this.secretValue(id)] as const);
    const matched = this.matched.get(association.AssociationName ?? '') ?? new Set<string>();
    const runs: AssociationRun[] = [];
    for (const node of nodes) {
      const targeting = this.targetedBy.get(node.id) ?? new Set<string>();
      targeting.add(association.AssociationName ?? '');
      this.targetedBy.set(node.id, targeting);
      if (targeting.size > NODE_ASSOCIATION_LIMIT) {
        throw new Error(
          `managed node ${node.id} would be targeted by ${targeting.size} associations; State Manager allows ${NODE_ASSOCIATION_LIMIT}`,
        );
      }
      if (!node.online) continue;
      for (const [id, secret] of secrets) if (secret) node.host.serveSecretFor(id, secret);
      const run = node.host.runAsAgent(parameters);
      runs.push({ nodeId: node.id, status: run.status === 0 ? 'Success' : 'Failed', run });
      matched.add(node.id);
    }
    this.matched.set(association.AssociationName ?? '', matched);
    this.runs.push(...runs);
    return runs;
  }
}
