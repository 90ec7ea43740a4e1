// A server that takes every checkpoint and does nothing with it: where bench_app.mjs posts its
// checkpoints when the bench calls it directly, so the baseline is the app's own cost.
// Answers any request 200 `{}` on PORT.
import http from "node:http";

http
  .createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "Content-Type": "application/json" }).end("{}"));
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
