import type { CommandInvocation } from '@aws-sdk/client-ssm';

/** An invocation as ListCommandInvocations returns it with Details=true. */
export function invocation(
  instanceId: string,
  status: string,
  statusDetails = status,
  output = '',
): CommandInvocation {
  return {
    CommandId: 'cmd-1',
    InstanceId: instanceId,
    Status: status as CommandInvocation['Status'],
    StatusDetails: statusDetails,
    CommandPlugins: [{ Name: 'installCertificate', Status: status as 'Success', Output: output }],
  };
}
