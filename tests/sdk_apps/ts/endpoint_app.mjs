// Durable endpoints of the TypeScript SDK (`inngest.endpoint`, `inngest/node`'s endpointAdapter):
// ordinary HTTP routes whose steps run inside the request and are checkpointed to the server
// (POST /v1/checkpoint, /v1/checkpoint/{run}/steps). A step that cannot finish in the request
// (a sleep, a retry) turns the run async: the caller is redirected to the run's output and the
// server calls the route again to go on. Configured by the SDK's environment variables plus
// APP_ID and PORT. GET /ran?key=... answers how often a step's code ran in this process.
import { Inngest, NonRetriableError, step } from "inngest";
import { createEndpointServer, endpointAdapter } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "ts-endpoints", endpointAdapter });
const ran = {}; // "<key>/<step>" -> times the step's code ran in this process
const count = (key, name) => (ran[`${key}/${name}`] = (ran[`${key}/${name}`] || 0) + 1);
const json = (data, status = 200) =>
  new Response(JSON.stringify(data), { status, headers: { "Content-Type": "application/json" } });

const routes = {
  // Three steps and the answer, all inside the caller's request.
  "/api/steps": inngest.endpoint(async (req) => {
    const n = Number(new URL(req.url).searchParams.get("n") || 1);
    const a = await step.run("a", () => n + 1);
    const b = await step.run("b", () => a * 2);
    return json({ a, b });
  }),
  // A sleep cannot wait inside the request: the run goes on in the background.
  "/api/sleepy": inngest.endpoint(async (req) => {
    const key = new URL(req.url).searchParams.get("key");
    const first = await step.run("first", () => count(key, "first"));
    await step.sleep("nap", "1s");
    const second = await step.run("second", () => count(key, "second"));
    return json({ first, second });
  }),
  // A step that fails once: its retry runs in a later call of the server.
  "/api/flaky": inngest.endpoint(async (req) => {
    const key = new URL(req.url).searchParams.get("key");
    const shaky = await step.run("shaky", () => {
      const attempt = count(key, "shaky");
      if (attempt < 2) throw new Error(`shaky attempt ${attempt}`);
      return attempt;
    });
    return json({ shaky });
  }),
  "/api/refused": inngest.endpoint(async () => {
    await step.run("only", () => {
      throw new NonRetriableError("not today");
    });
    return json({ unreachable: true });
  }),
};

const server = createEndpointServer(async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/ran") return json(ran[url.searchParams.get("key")] ?? 0);
  const route = routes[url.pathname];
  return route ? route(req) : json({ routes: Object.keys(routes) }, url.pathname === "/" ? 200 : 404);
});
server.listen(Number(process.env.PORT || 3000), "127.0.0.1");
