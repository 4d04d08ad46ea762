// coldbench's Node.js runtime: imports the handler module, then loops on the Lambda
// Runtime API over plain `http` (the npm runtime client needs a native build).
import http from "node:http";
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";

// console.* as Lambda's Node.js runtime writes it: `time\trequestId\tLEVEL\tmessage` in the
// Text log format, one JSON record per call in the JSON format. The request id is
// "undefined" outside an invocation, as on Lambda. A message's own newlines become \r so
// it stays one log event (the pipe splits events at \n).
const JSON_LOGS = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
const LEVELS = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG",
                 trace: "TRACE" };
let currentRequestId;

function jsonRecord(level, args) {
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  const [first] = args;
  const whole = args.length === 1 && typeof first === "object" && !(first instanceof Error);
  record.message = whole ? first : format(...args);
  const error = args.find((a) => a instanceof Error);
  if (error !== undefined) {
    record.errorType = error.constructor?.name ?? "UnknownError";
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === "string" ? error.stack.split("\n") : [];
  }
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ ...record, message: format(...args) });
  }
}

for (const [method, level] of Object.entries(LEVELS)) {
  console[method] = (...args) => {
    const line = JSON_LOGS
      ? jsonRecord(level, args)
      : `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${format(...args)}`;
    process.stdout.write(line.replace(/\n/g, "\r") + "\n");
  };
}

function logError(what, err, type) {
  if (JSON_LOGS) {
    const record = JSON.parse(jsonRecord("ERROR", [what, err]));
    process.stdout.write(JSON.stringify({ ...record, message: what, errorType: type }) + "\n");
  } else {
    console.error(`${what} \t${errorDoc(err, type)}`);
  }
}

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method, path: BASE + urlPath, agent,
        headers: body === undefined ? headers : { ...headers, "Content-Length": Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorDoc(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  return JSON.stringify({
    errorType: type ?? e.name ?? "Error",
    errorMessage: e.message,
    trace: (e.stack ?? "").split("\n"),
  });
}

async function loadHandler() {
  const spec = process.env._HANDLER ?? "";
  const dot = spec.lastIndexOf(".");
  const moduleName = spec.slice(0, dot), fnName = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT;
  const file = [".mjs", ".js", ".cjs"].map((ext) => path.join(root, moduleName + ext)).find(existsSync);
  if (dot < 1 || file === undefined) {
    const e = new Error(`Cannot find module '${moduleName}'`);
    throw Object.assign(e, { lambdaType: "Runtime.ImportModuleError" });
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw Object.assign(err instanceof Error ? err : new Error(String(err)),
      { lambdaType: "Runtime.ImportModuleError" });
  }
  const fn = mod[fnName] ?? mod.default?.[fnName];
  if (typeof fn !== "function") {
    throw Object.assign(new Error(`${moduleName}.${fnName} is undefined or not exported`),
      { lambdaType: "Runtime.HandlerNotFound" });
  }
  return fn;
}

function invokeHandler(fn, event, context) {
  // Both styles Lambda accepts: async (returns a promise) and callback (three parameters).
  return new Promise((resolve, reject) => {
    const callback = (err, value) => (err ? reject(err) : resolve(value));
    try {
      const out = fn(event, context, callback);
      if (out && typeof out.then === "function") out.then(resolve, reject);
      else if (fn.length < 3) resolve(out);
    } catch (err) {
      reject(err);
    }
  });
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  const type = err.lambdaType ?? "Runtime.UserCodeSyntaxError";
  logError("Uncaught Exception", err, type);
  await call("POST", "/init/error", errorDoc(err, type), { "Lambda-Runtime-Function-Error-Type": type });
  process.exit(1);
}

for (;;) {
  const next = await call("GET", "/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  currentRequestId = id;
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    callbackWaitsForEmptyEventLoop: true,
  };
  try {
    const event = JSON.parse(next.body.toString("utf8") || "null");
    const result = await invokeHandler(handler, event, context);
    await call("POST", `/invocation/${id}/response`, JSON.stringify(result ?? null));
  } catch (err) {
    const type = err instanceof Error ? err.name : "Error";
    logError("Invoke Error", err, type);
    await call("POST", `/invocation/${id}/error`, errorDoc(err, type),
      { "Lambda-Runtime-Function-Error-Type": type });
  }
}
