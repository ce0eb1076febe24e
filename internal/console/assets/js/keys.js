// The key lists: customer managed and AWS managed keys, as the AWS KMS
// console shows them, with filter, sort and pages.

import { kms, all } from "./api.js";
import { h, clear, run, table } from "./ui.js";

// keyType is the console's "Key type" column.
export function keyType(md) {
  return md.KeySpec === "SYMMETRIC_DEFAULT" || (md.KeySpec || "").startsWith("HMAC_") ? "Symmetric" : "Asymmetric";
}

// regionality is the console's "Regionality" column.
export function regionality(md) {
  if (!md.MultiRegion) return "Single-Region";
  const t = md.MultiRegionConfiguration && md.MultiRegionConfiguration.MultiRegionKeyType;
  return t === "REPLICA" ? "Multi-Region replica" : "Multi-Region primary";
}

export function statusBadge(state) {
  const kind = state === "Enabled" ? "ok" : state === "PendingDeletion" || state === "PendingReplicaDeletion" ? "danger" : "warn";
  return h("span", { class: `badge ${kind}` }, state);
}

// listAliases returns every alias of the account and Region (or of one key).
export function listAliases(keyId) {
  return all(async (marker) => {
    const out = await kms("ListAliases", { KeyId: keyId, Marker: marker, Limit: 100 });
    return { items: out.Aliases || [], next: out.Truncated ? out.NextMarker : null };
  });
}

// mapLimit runs fn over items with at most n in flight.
async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// loadKeys lists every key with its metadata and alias names.
export async function loadKeys() {
  // Both lists load at once, but a refusal of ListKeys is the one shown.
  const pending = listAliases();
  pending.catch(() => {});
  const keys = await all(async (marker) => {
    const out = await kms("ListKeys", { Marker: marker, Limit: 100 });
    return { items: out.Keys || [], next: out.Truncated ? out.NextMarker : null };
  });
  const aliases = await pending;
  const byKey = {};
  for (const a of aliases) if (a.TargetKeyId) (byKey[a.TargetKeyId] ||= []).push(a.AliasName);
  const described = await mapLimit(keys, 6, async (k) => {
    try {
      return (await kms("DescribeKey", { KeyId: k.KeyId })).KeyMetadata;
    } catch (e) {
      return { KeyId: k.KeyId, Arn: k.KeyArn, KeyState: "Unknown", KeyManager: "CUSTOMER", error: e };
    }
  });
  const out = described.map((md) => ({ ...md, aliases: (byKey[md.KeyId] || []).sort() }));
  out.truncated = keys.truncated;
  return out;
}

function aliasCell(k) {
  return k.aliases.length ? h("ul", { class: "plain" }, k.aliases.map((a) => h("li", {}, a))) : "—";
}

export function keysPage(main, manager) {
  const title = manager === "AWS" ? "AWS managed keys" : "Customer managed keys";
  const body = h("div");
  clear(main,
    h("div", { class: "page-head" }, h("h1", {}, title),
      manager === "CUSTOMER" ? h("a", { class: "button primary", href: "#/create" }, "Create key") : null),
    manager === "AWS" ? h("p", { class: "muted" }, "AWS managed keys are created for AWS services in your account. You can view them and their policies, but not change them.") : null,
    body);
  run(body, "Load keys", async () => {
    const loaded = await loadKeys();
    const keys = loaded.filter((k) => (k.KeyManager || "CUSTOMER") === manager);
    const link = (k) => h("a", { href: `#/keys/${encodeURIComponent(k.KeyId)}` }, k.KeyId);
    const columns = manager === "AWS"
      ? [
        { label: "Aliases", value: (k) => k.aliases.join(", "), cell: aliasCell },
        { label: "Key ID", value: (k) => k.KeyId, cell: link },
        { label: "Status", value: (k) => k.KeyState, cell: (k) => statusBadge(k.KeyState) },
      ]
      : [
        { label: "Aliases", value: (k) => k.aliases.join(", "), cell: aliasCell },
        { label: "Key ID", value: (k) => k.KeyId, cell: link },
        { label: "Status", value: (k) => k.KeyState, cell: (k) => statusBadge(k.KeyState) },
        { label: "Key type", value: keyType },
        { label: "Key spec", value: (k) => k.KeySpec },
        { label: "Key usage", value: (k) => k.KeyUsage },
        { label: "Regionality", value: regionality },
      ];
    return [loaded.truncated ? h("p", { class: "state empty", role: "status" }, `Showing the first ${loaded.length} keys of this account and Region; use the AWS CLI to list them all.`) : null, table({
      columns, rows: keys, caption: `${title} (${keys.length})`, filterLabel: "Filter keys by alias, id, status, type or spec",
      emptyText: manager === "AWS" ? "No AWS managed keys in this account and Region." : "No customer managed keys yet. Create one to start.",
    })];
  });
}
