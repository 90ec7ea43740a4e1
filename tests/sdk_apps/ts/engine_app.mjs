// Functions that exercise the execution protocol, served with the official TypeScript SDK.
// Configured by the SDK's own environment variables (INNGEST_DEV, INNGEST_SIGNING_KEY,
// INNGEST_BASE_URL, INNGEST_EVENT_KEY) plus APP_ID and PORT.
import http from "node:http";

import { Inngest, NonRetriableError, group } from "inngest";
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

const handler = serve({ client: inngest, functions: [chain, nap, approval, child, parent, fanout, flaky, hopeless, sender] });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
