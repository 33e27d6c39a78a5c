/**
 * A connection URL fit to print or write to run.json: its password replaced by `***`. Anything that
 * does not parse as a URL is returned as it is (it carries no userinfo we could find).
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password === "") return url
    parsed.password = "***"
    return parsed.toString()
  } catch {
    return url
  }
}
