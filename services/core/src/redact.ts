// Credentials inside URLs (`nats://user:password@host`, `nats://token@host`, `https://u:p@judge`)
// never reach a log line, an error message or a stored record: the user info is replaced.

export const REDACTED = "<redacted>";

// scheme://userinfo@ — userinfo without "/", "@" or whitespace (RFC 3986 allows no "@" unescaped).
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@]+)@/gi;

/**
 * `text` with every URL's credentials replaced: `user:<redacted>@` keeps the user name; a bare
 * `<token>@` (how NATS URLs carry tokens) becomes `<redacted>@`. Safe on free text and lists.
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(":");
    return colon < 0 ? `${scheme}${REDACTED}@` : `${scheme}${info.slice(0, colon)}:${REDACTED}@`;
  });
}
