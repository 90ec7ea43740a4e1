// Functions that exercise the execution protocol, served with the official TypeScript SDK.
// Configured by the SDK's own environment variables (INNGEST_DEV, INNGEST_SIGNING_KEY,
// INNGEST_BASE_URL, INNGEST_EVENT_KEY) plus APP_ID and PORT.
import http from "node:http";

import { Inngest, NonRetriableError, RetryAfterError, group } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "ts-engine" });
const fn = (id, event, handler, options = {}) =>
  inngest.createFunction({ id, triggers: [{ event }], ...options }, handler);

const chain = fn("chain", "ts/chain", async ({ event, step }) => {
  const a = await step.run("a", () => event.data.n + 1);
  const b = await step.run("b", () => a * 2);
  return { sum: a + b };
});

const nap = fn("nap", "ts/nap", async ({ step }) => {
  await step.sleep("nap", "1s");
  return await step.run("after", () => "awake");
});

const approval = fn("approval", "ts/approval", async ({ step }) => {
  const approved = await step.waitForEvent("approved", {
    event: "ts/approved",
    timeout: "30s",
    if: "event.data.order == async.data.order",
  });
  return { approvedBy: approved ? approved.data.by : null };
});

const child = fn("child", "ts/child-direct", async ({ event, step }) => {
  return await step.run("double", () => event.data.x * 2);
});

const parent = fn("parent", "ts/parent", async ({ event, step }) => {
  const result = await step.invoke("call-child", { function: child, data: event.data });
  return { child: result };
});

const fanout = fn("fanout", "ts/fanout", async ({ event, step }) => {
  const parts = () => Promise.all([0, 1, 2, 3].map((i) => step.run(`part-${i}`, () => i * i)));
  if (event.data.race) {
    return await group.parallel({ mode: "race" }, () => Promise.race([0, 1].map((i) => step.run(`racer-${i}`, () => i))));
  }
  return await parts();
});

const flaky = fn(
  "flaky",
  "ts/flaky",
  async ({ attempt, step }) => {
    return await step.run("shaky", () => {
      if (attempt < 2) throw new Error(`failing on attempt ${attempt}`);
      return attempt;
    });
  },
  { retries: 3 },
);

const hopeless = fn("hopeless", "ts/hopeless", async () => {
  throw new NonRetriableError("not worth retrying");
});

const sender = fn("sender", "ts/sender", async ({ step }) => {
  return await step.sendEvent("send", { name: "ts/chain", data: { n: 10 } });
});

const dupes = fn("dupes", "ts/dupes", async ({ step }) => {
  const out = [];
  for (let i = 1; i <= 3; i++) out.push(await step.run("dup", () => i));
  return out;
});

const napUntil = fn("nap-until", "ts/nap-until", async ({ event, step }) => {
  await step.sleepUntil("until", event.data.until);
  return "woke";
});

const impatient = fn("impatient", "ts/impatient", async ({ step }) => {
  const approved = await step.waitForEvent("approved", { event: "ts/approved-late", timeout: "1s" });
  return { approved };
});

const doomed = fn(
  "doomed",
  "ts/doomed",
  async ({ step }) => {
    await step.run("explode", () => {
      throw new TypeError("always broken");
    });
  },
  {
    retries: 1,
    onFailure: async ({ error, step }) => {
      return await step.run("notify", () => `handled: ${error.message}`);
    },
  },
);

const later = fn(
  "later",
  "ts/later",
  async ({ attempt, step }) => {
    return await step.run("wait-a-bit", () => {
      if (attempt === 0) throw new RetryAfterError("not yet", "2s");
      return attempt;
    });
  },
  { retries: 2 },
);

const cancellable = fn(
  "cancellable",
  "ts/cancellable",
  async ({ step }) => {
    await step.sleep("long-nap", "1h");
    return "never";
  },
  { cancelOn: [{ event: "ts/stop", if: "event.data.id == async.data.id" }] },
);

const deadline = fn(
  "deadline",
  "ts/deadline",
  async ({ step }) => {
    await step.sleep("too-long", "10s");
    return "late";
  },
  { timeouts: { finish: "1s" } },
);

const big = fn("big", "ts/big", async ({ event, step }) => {
  const blob = await step.run("blob", () => "x".repeat(event.data.size));
  return await step.run("measure", () => blob.length);
});

const wild = fn("wild", "wild/*", async ({ event, step }) => {
  return await step.run("name", () => event.name);
});

// A batch too large to send in the request: the SDK fetches it from /v0/runs/{id}/batch.
const bigBatch = fn(
  "big-batch",
  "ts/big-batch",
  async ({ events }) => events.map((e) => e.data.blob.length),
  { batchEvents: { maxSize: 8, timeout: "30s" } },
);

// Event meta: what a run sees, and what the SDK stamps on the events a run sends or invokes with.
const metaEcho = fn("meta-echo", "ts/meta-echo", async ({ event, sessions }) => ({
  meta: event.meta ?? null,
  sessions: sessions ?? null,
}));

const metaSender = fn("meta-sender", "ts/meta-sender", async ({ step }) => {
  return await step.sendEvent("send", { name: "ts/meta-echo", data: {} });
});

const metaParent = fn("meta-parent", "ts/meta-parent", async ({ step }) => {
  return await step.invoke("call", { function: metaEcho, data: {} });
});

const metaDoomed = fn(
  "meta-doomed",
  "ts/meta-doomed",
  async () => {
    throw new NonRetriableError("doomed");
  },
  { onFailure: async ({ event }) => ({ meta: event.meta ?? null }) },
);

const functions = [chain, nap, approval, child, parent, fanout, flaky, hopeless, sender];
functions.push(dupes, napUntil, impatient, doomed, later, cancellable, deadline, big);
functions.push(bigBatch, metaEcho, metaSender, metaParent, metaDoomed, wild);
const handler = serve({ client: inngest, functions });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
