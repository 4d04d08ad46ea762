// Test handler: reports its own init timestamps and does what the event asks.
const INIT_START_MS = Date.now();
import { randomUUID } from "node:crypto";

const SANDBOX_ID = randomUUID();
let count = 0;
const INIT_END_MS = Date.now();

export const handler = async (event) => {
  count += 1;
  if (event.action === "raise") throw new TypeError(event.message ?? "boom");
  if (event.action === "print") for (const line of event.lines) console.log(line);
  if (event.action === "sleep") await new Promise((r) => setTimeout(r, event.s * 1000));
  return {
    sandbox_id: SANDBOX_ID, pid: process.pid, init_start_ms: INIT_START_MS, init_end_ms: INIT_END_MS,
    invocation: count, env: event.env ? process.env : null, echo: event.echo ?? null,
  };
};
