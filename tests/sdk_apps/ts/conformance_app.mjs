// Functions that exercise what today's TypeScript SDK expects of a server beyond the classic
// protocol: the ids it reads from the request, opcodes this server does not support (they must
// fail their step, never loop), invoke errors and the failure event's error shape.
// Configured by the SDK's environment variables plus APP_ID and PORT.
import http from "node:http";

import { Inngest, NonRetriableError, referenceFunction } from "inngest";
import { createDefer } from "inngest/experimental";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "ts-conformance" });
const fn = (id, event, handler, options = {}) =>
  inngest.createFunction({ id, triggers: [{ event }], ...options }, handler);
const caught = async (work) => {
  try {
    return { ok: await work() };
  } catch (error) {
    return { name: error.name, message: error.message };
  }
};

// One call per step (checkpointing would run both in one call, with one pair of ids).
const ids = fn(
  "ids",
  "tsc/ids",
  async ({ jobId, requestId, step }) => {
    const first = await step.run("first", () => ({ jobId, requestId }));
    return { first, final: { jobId, requestId } };
  },
  { checkpointing: false },
);

const fetcher = fn("fetcher", "tsc/fetch", async ({ step }) => {
  const fetched = await caught(() => step.fetch("http://127.0.0.1:9/never"));
  return { fetched, after: await step.run("after", () => "still running") };
});

const signalled = fn("signalled", "tsc/signal", async ({ step }) => {
  return await caught(() => step.waitForSignal("wait", { signal: "go", timeout: "1m" }));
});

const followUp = createDefer(inngest, { id: "follow-up" }, async ({ event, parents }) => ({
  data: event.data,
  parent: parents[0]?.runId,
}));

const deferWork = async ({ event, defer, step }) => {
  defer("later", { function: followUp, data: { n: event.data.n } });
  return await step.run("work", () => "done");
};
// Checkpointed (the SDK's default: DeferAdd comes in a checkpoint) and classic (in an answer).
const deferring = fn("deferring", "tsc/defer", deferWork);
const deferringClassic = fn("deferring-classic", "tsc/defer-classic", deferWork, {
  checkpointing: false,
});

const aborting = fn("aborting", "tsc/defer-abort", async ({ defer, step }) => {
  const maybe = defer("maybe", { function: followUp, data: { n: 3 } });
  const verdict = await step.run("decide", () => "no");
  maybe.abort();
  return await step.run("after", () => verdict);
});

const failingDeferrer = fn(
  "failing-deferrer",
  "tsc/defer-fail",
  async ({ defer, step }) => {
    defer("anyway", { function: followUp, data: { n: 4 } });
    await step.run("work", () => 1);
    throw new NonRetriableError("the parent fails");
  },
  { retries: 0 },
);

const missing = fn("missing", "tsc/invoke-missing", async ({ step }) => {
  const ghost = referenceFunction({ functionId: "no-such-function" });
  return await caught(() => step.invoke("call-ghost", { function: ghost, data: {} }));
});

const slowChild = fn("slow-child", "tsc/slow-child", async ({ step }) => {
  await step.sleep("dawdle", "1m");
  return "too late";
});

const impatient = fn("impatient", "tsc/invoke-timeout", async ({ step }) => {
  return await caught(() =>
    step.invoke("call-slow", { function: slowChild, data: {}, timeout: "1s" }),
  );
});

const doomed = fn(
  "doomed",
  "tsc/doomed",
  async () => {
    throw new Error("doomed from the start");
  },
  {
    retries: 0,
    onFailure: async ({ error, event }) => ({
      seen: { name: error.name, message: error.message },
      raw: event.data.error,
    }),
  },
);

const functions = [ids, fetcher, signalled, followUp, deferring, missing, slowChild, impatient];
functions.push(doomed, deferringClassic, aborting, failingDeferrer);
const handler = serve({ client: inngest, functions });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
