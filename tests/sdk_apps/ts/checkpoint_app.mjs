// Functions run with the TypeScript SDK's async checkpointing (its default when the request
// carries ctx.fn_id): steps run one after another inside a call and are posted to
// /v1/checkpoint/{run}/async. Configured by the SDK's environment variables plus APP_ID, PORT
// and STEP_PAUSE_MS (how long the "slow" function's second step takes).
import http from "node:http";

import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "ts-checkpoint" });
const fn = (id, event, handler, options = {}) =>
  inngest.createFunction({ id, triggers: [{ event }], ...options }, handler);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ran = {}; // "run id/step name" -> times the step's code ran in this process
const count = (runId, name) => (ran[`${runId}/${name}`] = (ran[`${runId}/${name}`] || 0) + 1);

const threeSteps = async ({ event, step, jobId }) => {
  const a = await step.run("a", () => event.data.n + 1);
  const b = await step.run("b", () => a * 2);
  const c = await step.run("c", () => ({ b, jobId }));
  return { a, b, c };
};

const checkpointed = fn("three", "tscp/three", threeSteps);
const classic = fn("three-classic", "tscp/three-classic", threeSteps, { checkpointing: false });

const flaky = fn(
  "flaky",
  "tscp/flaky",
  async ({ step, runId }) => {
    const before = await step.run("before", () => "ok");
    const shaky = await step.run("shaky", () => {
      const attempt = count(runId, "shaky");
      if (attempt < 2) throw new Error(`shaky attempt ${attempt}`);
      return attempt;
    });
    const after = await step.run("after", () => "done");
    return { before, shaky, after };
  },
  { retries: 2 },
);

const sleepy = fn("sleepy", "tscp/sleepy", async ({ step }) => {
  const first = await step.run("first", () => 1);
  await step.sleep("nap", "1s");
  const second = await step.run("second", () => first + 1);
  return { first, second };
});

const slow = fn("slow", "tscp/slow", async ({ step, runId }) => {
  const first = await step.run("first", () => count(runId, "first"));
  const second = await step.run("second", async () => {
    await pause(Number(process.env.STEP_PAUSE_MS || 0));
    return count(runId, "second");
  });
  return { first, second };
});

const bulky = fn("bulky", "tscp/bulky", async ({ event, step }) => {
  const big = await step.run("big", () => "x".repeat(event.data.bytes));
  return { length: big.length, after: await step.run("after", () => "done") };
});

const functions = [checkpointed, classic, flaky, sleepy, slow, bulky];
const handler = serve({ client: inngest, functions });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
