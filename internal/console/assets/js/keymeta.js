// The tags, aliases and Regionality (replicas) tabs of a key.

import { kms, all } from "./api.js";
import { h, clear, run, table, field, dialog, toast, errorBox, dl } from "./ui.js";
import { listAliases } from "./keys.js";

function tagDialog() {
  const k = h("input", { required: true });
  const v = h("input");
  return { k, v, body: [field("Tag key", k), field("Tag value", v)] };
}

export function tagsTab(panel, md) {
  const status = h("div", { "aria-live": "polite" });
  const redraw = () => tagsTab(panel, md);
  run(panel, "Load tags", async () => {
    const tags = await all(async (marker) => {
      const out = await kms("ListResourceTags", { KeyId: md.KeyId, Marker: marker });
      return { items: out.Tags || [], next: out.Truncated ? out.NextMarker : null };
    });
    const add = h("button", { type: "button", class: "primary", onclick: async () => {
      const d = tagDialog();
      const ok = await dialog("Add tag", d.body, [{ label: "Save", primary: true, run: () => kms("TagResource", { KeyId: md.KeyId, Tags: [{ TagKey: d.k.value, TagValue: d.v.value }] }) }]);
      if (ok) { toast("Tag saved"); redraw(); }
    } }, "Add or edit tag");
    return [h("div", { class: "actions" }, add), status, table({
      caption: "Tags", rows: tags, emptyText: "This key has no tags.",
      columns: [
        { label: "Tag key", value: (t) => t.TagKey },
        { label: "Tag value", value: (t) => t.TagValue },
        { label: "Actions", cell: (t) => h("button", { type: "button", "aria-label": `Remove tag ${t.TagKey}`, onclick: async () => {
          try { await kms("UntagResource", { KeyId: md.KeyId, TagKeys: [t.TagKey] }); toast(`Tag ${t.TagKey} removed`); redraw(); } catch (e) { clear(status, errorBox(e, "The tag was not removed")); }
        } }, "Remove") },
      ],
    })];
  });
}

export function aliasesTab(panel, md, redrawKey) {
  const status = h("div", { "aria-live": "polite" });
  run(panel, "Load aliases", async () => {
    const aliases = await listAliases(md.KeyId);
    const add = h("button", { type: "button", class: "primary", onclick: async () => {
      const name = h("input", { required: true, placeholder: "my-key" });
      const ok = await dialog("Create alias", [field("Alias name", name, "alias/ is added when missing.")], [{ label: "Create alias", primary: true,
        run: () => kms("CreateAlias", { AliasName: name.value.startsWith("alias/") ? name.value : "alias/" + name.value, TargetKeyId: md.KeyId }) }]);
      if (ok) { toast("Alias created"); redrawKey(); }
    } }, "Create alias");
    return [md.KeyManager === "AWS" ? null : h("div", { class: "actions" }, add), status, table({
      caption: "Aliases", rows: aliases, emptyText: "This key has no aliases.",
      columns: [
        { label: "Alias name", value: (a) => a.AliasName },
        { label: "Alias ARN", value: (a) => a.AliasArn, cell: (a) => h("code", {}, a.AliasArn) },
        { label: "Actions", cell: (a) => (md.KeyManager === "AWS" ? "—" : h("button", { type: "button", "aria-label": `Delete ${a.AliasName}`, onclick: async () => {
          try { await kms("DeleteAlias", { AliasName: a.AliasName }); toast(`Alias ${a.AliasName} deleted`); redrawKey(); } catch (e) { clear(status, errorBox(e, "The alias was not deleted")); }
        } }, "Delete")) },
      ],
    })];
  });
}

export function replicasTab(panel, md) {
  const cfg = md.MultiRegionConfiguration || {};
  const status = h("div", { "aria-live": "polite" });
  const region = h("input", { placeholder: "us-west-2", pattern: "[a-z0-9-]+" });
  const primary = cfg.PrimaryKey || {};
  clear(panel, dl([
    ["Multi-Region key type", cfg.MultiRegionKeyType],
    ["Primary key", primary.Arn ? `${primary.Arn} (${primary.Region})` : "—"],
  ]), table({
    caption: "Replica keys", rows: cfg.ReplicaKeys || [], emptyText: "No replicas yet.",
    columns: [{ label: "Region", value: (r) => r.Region }, { label: "Replica ARN", value: (r) => r.Arn, cell: (r) => h("code", {}, r.Arn) }],
  }), cfg.MultiRegionKeyType === "PRIMARY" ? h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await kms("ReplicateKey", { KeyId: md.KeyId, ReplicaRegion: region.value.trim() });
      toast(`Replica created in ${region.value}`);
    } catch (err) {
      clear(status, errorBox(err, "The replica was not created"));
    }
  } }, field("Replica Region", region), h("button", { type: "submit" }, "Create new replica key")) : null, status);
}
