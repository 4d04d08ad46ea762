// Drives the local endpoint with the AWS SDK for JavaScript v3, configured by nothing but
// the environment (`bench emulator`'s exports). Prints one JSON object of what it saw;
// the Python test asserts on it. Usage: node drive.mjs <zip file>
import { readFileSync } from "node:fs";
import {
  LambdaClient, CreateFunctionCommand, InvokeCommand, GetFunctionCommand,
  UpdateFunctionConfigurationCommand, DeleteFunctionCommand, paginateListFunctions,
  waitUntilFunctionActiveV2, waitUntilFunctionUpdatedV2, ResourceNotFoundException,
  InvalidRequestContentException, ResourceConflictException, LambdaServiceException,
} from "@aws-sdk/client-lambda";
import {
  CloudWatchLogsClient, paginateFilterLogEvents, paginateDescribeLogGroups,
  DescribeLogStreamsCommand, ResourceNotFoundException as LogsNotFound,
  CreateLogGroupCommand, ResourceAlreadyExistsException,
} from "@aws-sdk/client-cloudwatch-logs";

const zip = readFileSync(process.argv[2]);
const role = "arn:aws:iam::123456789012:role/jssdk";
const lambda = new LambdaClient({});
const logs = new CloudWatchLogsClient({});
const seen = { region: await lambda.config.region() };
const names = ["js-a", "js-b", "js-c"];

async function caught(promise) {
  try {
    await promise;
    return { thrown: null };
  } catch (err) {
    return {
      name: err.name,
      status: err.$metadata?.httpStatusCode,
      message: err.message,
      lambdaClasses: {
        notFound: err instanceof ResourceNotFoundException,
        invalidContent: err instanceof InvalidRequestContentException,
        conflict: err instanceof ResourceConflictException,
        service: err instanceof LambdaServiceException,
      },
      logsClasses: {
        notFound: err instanceof LogsNotFound,
        alreadyExists: err instanceof ResourceAlreadyExistsException,
      },
    };
  }
}

for (const name of names) {
  const created = await lambda.send(new CreateFunctionCommand({
    FunctionName: name, Runtime: "python3.12", Handler: "handler.handler", Role: role,
    Code: { ZipFile: zip }, Tags: { suite: "jssdk" },
  }));
  seen.createdState ??= created.State;
  const waited = await waitUntilFunctionActiveV2(
    { client: lambda, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { FunctionName: name });
  seen.waiterState ??= waited.state;
}
seen.duplicate = await caught(lambda.send(new CreateFunctionCommand({
  FunctionName: "js-a", Runtime: "python3.12", Handler: "handler.handler", Role: role,
  Code: { ZipFile: zip },
})));

const invoked = await lambda.send(new InvokeCommand({
  FunctionName: "js-a", LogType: "Tail", Payload: new TextEncoder().encode('{"from": "js"}'),
}));
seen.invoke = {
  status: invoked.StatusCode,
  payload: JSON.parse(new TextDecoder().decode(invoked.Payload)),
  executedVersion: invoked.ExecutedVersion,
  functionError: invoked.FunctionError ?? null,
  tail: Buffer.from(invoked.LogResult ?? "", "base64").toString("utf8"),
  requestId: invoked.$metadata.requestId,
};
seen.badPayload = await caught(lambda.send(new InvokeCommand({
  FunctionName: "js-a", Payload: new TextEncoder().encode("Hello World"),
})));
seen.missing = await caught(lambda.send(new GetFunctionCommand({ FunctionName: "js-nope" })));

const pages = [];
for await (const page of paginateListFunctions({ client: lambda, pageSize: 1 }, {})) {
  pages.push(page.Functions.map((f) => f.FunctionName));
}
seen.functionPages = pages;

await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: "js-a", MemorySize: 256 }));
const updated = await waitUntilFunctionUpdatedV2(
  { client: lambda, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { FunctionName: "js-a" });
seen.updatedWaiter = updated.state;
const fn = await lambda.send(new GetFunctionCommand({ FunctionName: "js-a" }));
seen.afterUpdate = { memory: fn.Configuration.MemorySize, tags: fn.Tags,
                     codeLocation: fn.Code.Location };

seen.logsMissing = await caught(logs.send(new DescribeLogStreamsCommand({
  logGroupName: "/aws/lambda/js-nope" })));
await logs.send(new CreateLogGroupCommand({ logGroupName: "/jssdk/own" }));
seen.logsDuplicate = await caught(logs.send(new CreateLogGroupCommand({
  logGroupName: "/jssdk/own" })));
const groups = [];
for await (const page of paginateDescribeLogGroups({ client: logs, pageSize: 1 },
                                                   { logGroupNamePrefix: "/aws/lambda/js-" })) {
  groups.push(page.logGroups.map((g) => g.logGroupName));
}
seen.groupPages = groups;
const reports = [];
for await (const page of paginateFilterLogEvents({ client: logs, pageSize: 1 },
    { logGroupName: "/aws/lambda/js-a", filterPattern: '"REPORT RequestId"' })) {
  reports.push(...page.events.map((e) => e.message));
}
seen.reports = reports;

for (const name of names) await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
seen.afterDelete = await caught(lambda.send(new GetFunctionCommand({ FunctionName: "js-b" })));
console.log(JSON.stringify(seen));
