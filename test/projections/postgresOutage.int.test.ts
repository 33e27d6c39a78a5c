/**
 * postgres.js through a PostgreSQL crash, as the projector uses it (a reserved reader beside the pool):
 * with scripts/patch-postgres.mjs applied, nothing throws outside a promise and the pool serves again
 * once PostgreSQL is back, including the connection that was reserved when it crashed.
 */
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startRestartablePostgres, type RestartablePostgres } from "../support/restartablePostgres.js"

let pg: RestartablePostgres
beforeAll(async () => {
  pg = await startRestartablePostgres()
}, 60_000)
afterAll(async () => {
  await pg?.stop()
})

const eventually = async <A>(probe: () => Promise<A>, timeoutMs = 20_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await probe()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

describe("postgres.js through a PostgreSQL crash", () => {
  it("serves again after the crash, also on the connection that was reserved, and never throws outside a query", async () => {
    const uncaught: Array<unknown> = []
    const record = (error: unknown) => uncaught.push(error)
    process.on("uncaughtException", record)
    // One connection: the reserved one is the pool's only way back.
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      const reader = await sql.reserve()
      expect(await reader`select 1 as one`).toEqual([{ one: 1 }])
      await pg.crash()
      // A query on the reserved connection fails with an error, in its promise; then the projector's
      // session ends and releases its reader, a connection that has closed meanwhile.
      await expect(reader`select 2`).rejects.toThrow()
      reader.release()
      await pg.restart()
      // The pool answers again through the connection that was released closed.
      const answers = await eventually(() => Promise.all([1, 2, 3, 4].map((n) => sql`select ${n}::int as n`)))
      expect(answers.map((rows) => rows[0]?.["n"])).toEqual([1, 2, 3, 4])
      const again = await eventually(async () => {
        const fresh = await sql.reserve()
        try {
          return await fresh`select 5 as five`
        } finally {
          fresh.release()
        }
      })
      expect(again).toEqual([{ five: 5 }])
      expect(uncaught).toEqual([])
    } finally {
      process.off("uncaughtException", record)
      await sql.end({ timeout: 1 })
    }
  })
})
