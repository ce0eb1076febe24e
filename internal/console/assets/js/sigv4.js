// AWS Signature Version 4 for the browser, on WebCrypto (HMAC-SHA256 and
// SHA-256 from crypto.subtle; no hash is written here by hand).

const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === "string" ? enc.encode(key) : key;
  const k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, enc.encode(text));
}

// amzDate formats a time as SigV4's YYYYMMDD'T'HHMMSS'Z'.
export function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

// sign returns the headers to send with a POST of body to path on host:
// the given ones plus X-Amz-Date, the session token if any, and
// Authorization. The browser adds Host itself, with the same value.
export async function sign({ host, path, headers, body, creds, region, service, now = new Date() }) {
  const date = amzDate(now);
  const all = { ...headers, host, "x-amz-date": date };
  if (creds.sessionToken) all["x-amz-security-token"] = creds.sessionToken;
  const canon = {};
  for (const [k, v] of Object.entries(all)) canon[k.toLowerCase()] = String(v).trim().replace(/\s+/g, " ");
  const names = Object.keys(canon).sort();
  const signedHeaders = names.join(";");
  const request = ["POST", path, "", names.map((n) => `${n}:${canon[n]}\n`).join(""), signedHeaders, await sha256Hex(body)].join("\n");
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, await sha256Hex(request)].join("\n");
  let key = await hmac("AWS4" + creds.secretAccessKey, date.slice(0, 8));
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  const out = { ...all };
  delete out.host;
  out.Authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
