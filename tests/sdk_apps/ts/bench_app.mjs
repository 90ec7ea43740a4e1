// The user's app for `make bench checkpoint`: the official TypeScript SDK on Node, the same
// 10 no-op steps twice, with async checkpointing (the SDK's default once the request carries
// ctx.fn_id) and without. Configured by the SDK's environment variables plus APP_ID and PORT.
import http from "node:http";

import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "bench-ts" });

const tenSteps = async ({ step }) => {
  let total = 0;
  for (let n = 0; n < 10; n++) total += await step.run(`step-${n}`, () => n);
  return total;
};

const on = inngest.createFunction(
  { id: "ten-checkpointed", triggers: [{ event: "bench/ts-ten-checkpointed" }] },
  tenSteps,
);
const off = inngest.createFunction(
  { id: "ten-classic", triggers: [{ event: "bench/ts-ten-classic" }], checkpointing: false },
  tenSteps,
);

const handler = serve({ client: inngest, functions: [on, off] });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
