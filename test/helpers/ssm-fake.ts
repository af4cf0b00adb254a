import type { CommandInvocation } from '@aws-sdk/client-ssm';

/** An invocation as ListCommandInvocations returns it with Details=true. */
/** The last line of a good install: without it a host does not count as installed. */
export const INSTALLED_LINE =
  'RESULT cert_name=web-server status=installed serial=0a:1b:2c not_after=2027-12-24T23:59:59Z sha256=AB:CD formats=pem served=unchecked';

export function invocation(
  instanceId: string,
  status: string,
  statusDetails = status,
  output = status === 'Success' ? INSTALLED_LINE : '',
): CommandInvocation {
  return {
    CommandId: 'cmd-1',
    InstanceId: instanceId,
    Status: status as CommandInvocation['Status'],
    StatusDetails: statusDetails,
    CommandPlugins: [{ Name: 'installCertificate', Status: status as 'Success', Output: output }],
  };
}
