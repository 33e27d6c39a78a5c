// A tiny app for Berth to deploy: answers on PORT, reports its version, serves /openapi.yaml.
import { createServer } from "node:http"

const version = process.env.APP_VERSION ?? "v1"
const spec = `openapi: 3.0.0
info:
  title: hello
  version: ${version}
paths:
  /:
    get:
      responses:
        "200":
          description: greeting
`

createServer((request, response) => {
  if (request.url === "/openapi.yaml") {
    response.writeHead(200, { "content-type": "application/yaml" }).end(spec)
    return
  }
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ hello: "world", version }))
}).listen(Number(process.env.PORT ?? 3000), "127.0.0.1")
