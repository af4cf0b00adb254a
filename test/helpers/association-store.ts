import {
  type AssociationDescription,
  CreateAssociationCommand,
  type CreateAssociationCommandInput,
  DeleteAssociationCommand,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  UpdateAssociationCommand,
} from '@aws-sdk/client-ssm';
/** The part of a mocked client this store uses, with its handlers' inputs loosely typed. */
interface FakeableStub {
  on(command: unknown): { callsFake(handler: (input: never) => unknown): unknown };
}

/**
 * State Manager's associations as its API reference describes them, behind an aws-sdk-client-mock SSM
 * client: ListAssociations (AssociationName filter, 50 a page), DescribeAssociation, CreateAssociation
 * (AssociationLimitExceeded past the account's 2,000), UpdateAssociation (InvalidAssociationVersion when
 * the version named is not the latest; AssociationVersionLimitExceeded past 1,000 versions) and
 * DeleteAssociation (AssociationDoesNotExist). No local engine implements associations.
 */
export const ACCOUNT_ASSOCIATION_LIMIT = 2_000;
export const NODE_ASSOCIATION_LIMIT = 20;
const VERSION_LIMIT = 1_000;

type Stored = AssociationDescription & Pick<CreateAssociationCommandInput, 'Tags'>;

const failure = (name: string, message: string) => Object.assign(new Error(message), { name });

export class AssociationStore {
  readonly associations = new Map<string, Stored>();
  private created = 0;

  constructor(private readonly accountLimit = ACCOUNT_ASSOCIATION_LIMIT) {}

  /** Answers the association calls of `mock` from this store. */
  serve(mock: object): this {
    const stub = mock as FakeableStub;
    stub
      .on(ListAssociationsCommand)
      .callsFake(
        (input: { AssociationFilterList?: { key: string; value: string }[]; NextToken?: string }) => {
          const name = input.AssociationFilterList?.find((filter) => filter.key === 'AssociationName')?.value;
          const all = [...this.associations.values()].filter((a) => !name || a.AssociationName === name);
          const start = Number(input.NextToken ?? 0);
          const page = all.slice(start, start + 50);
          return {
            Associations: page.map((a) => ({
              AssociationId: a.AssociationId,
              AssociationName: a.AssociationName,
              Name: a.Name,
              AssociationVersion: a.AssociationVersion,
              Targets: a.Targets,
            })),
            ...(start + 50 < all.length ? { NextToken: String(start + 50) } : {}),
          };
        },
      );
    stub.on(DescribeAssociationCommand).callsFake((input: { AssociationId: string }) => {
      const found = this.associations.get(input.AssociationId);
      if (!found) throw failure('AssociationDoesNotExist', 'The specified association does not exist.');
      return { AssociationDescription: { ...found } };
    });
    stub.on(CreateAssociationCommand).callsFake((input: CreateAssociationCommandInput) => {
      if (this.associations.size >= this.accountLimit) {
        throw failure('AssociationLimitExceeded', 'You can have at most 2,000 active associations.');
      }
      const AssociationId = `assoc-${String(++this.created).padStart(4, '0')}`;
      const { Tags, ...fields } = input;
      const stored: Stored = { ...fields, AssociationId, AssociationVersion: '1', Tags };
      this.associations.set(AssociationId, stored);
      return { AssociationDescription: { ...stored } };
    });
    stub
      .on(UpdateAssociationCommand)
      .callsFake((input: { AssociationId: string; AssociationVersion?: string }) => {
        const found = this.associations.get(input.AssociationId);
        if (!found) throw failure('AssociationDoesNotExist', 'The specified association does not exist.');
        if (
          input.AssociationVersion &&
          input.AssociationVersion !== '$LATEST' &&
          input.AssociationVersion !== found.AssociationVersion
        ) {
          throw failure('InvalidAssociationVersion', 'The version you specified is not valid.');
        }
        const version = Number(found.AssociationVersion) + 1;
        if (version > VERSION_LIMIT) {
          throw failure('AssociationVersionLimitExceeded', 'Each association has a limit of 1,000 versions.');
        }
        const fields = { ...input, AssociationVersion: undefined };
        const updated: Stored = {
          ...found,
          ...(fields as Partial<Stored>),
          AssociationVersion: String(version),
        };
        this.associations.set(input.AssociationId, updated);
        return { AssociationDescription: { ...updated } };
      });
    stub.on(DeleteAssociationCommand).callsFake((input: { AssociationId: string }) => {
      if (!this.associations.delete(input.AssociationId)) {
        throw failure('AssociationDoesNotExist', 'The specified association does not exist.');
      }
      return {};
    });
    return this;
  }

  /** Adds an association as an earlier version of the app made it (the migration's starting point). */
  add(fields: Omit<Stored, 'AssociationId' | 'AssociationVersion'>): string {
    const AssociationId = `assoc-${String(++this.created).padStart(4, '0')}`;
    this.associations.set(AssociationId, { ...fields, AssociationId, AssociationVersion: '1' });
    return AssociationId;
  }

  named(name: string): Stored | undefined {
    return [...this.associations.values()].find((a) => a.AssociationName === name);
  }

  /** The certificates an association lists (its Certificates parameter, as secret ids). */
  certificatesOf(association: Stored | undefined): string[] {
    return (association?.Parameters?.Certificates?.[0] ?? '').split(' ').filter(Boolean);
  }

  /** How many associations select a node with these tags: State Manager allows it 20. */
  targeting(tags: Record<string, string>): number {
    return [...this.associations.values()].filter((a) =>
      (a.Targets ?? []).every(
        (target) =>
          target.Key?.startsWith('tag:') && (target.Values ?? []).includes(tags[target.Key.slice(4)] ?? ''),
      ),
    ).length;
  }
}
