// The create-key wizard: configure (type, usage, spec, origin,
// Regionality), labels (alias, description, tags), administrators, users,
// and a review that shows the key policy before the key is created.

import { kms, session, whoAmI } from "./api.js";
import { h, clear, field, select, errorBox, loading, toast, uid } from "./ui.js";
import { defaultPolicy } from "./policydoc.js";
import { principals } from "./principals.js";

const SPECS = {
  "Symmetric/ENCRYPT_DECRYPT": ["SYMMETRIC_DEFAULT"],
  "Symmetric/GENERATE_VERIFY_MAC": ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"],
  "Asymmetric/ENCRYPT_DECRYPT": ["RSA_2048", "RSA_3072", "RSA_4096", "SM2"],
  "Asymmetric/SIGN_VERIFY": ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "SM2"],
  "Asymmetric/KEY_AGREEMENT": ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2"],
  "Asymmetric/KEY_ENCAPSULATION": ["ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"],
};
const USAGES = {
  Symmetric: [["ENCRYPT_DECRYPT", "Encrypt and decrypt"], ["GENERATE_VERIFY_MAC", "Generate and verify MAC"]],
  Asymmetric: [["ENCRYPT_DECRYPT", "Encrypt and decrypt"], ["SIGN_VERIFY", "Sign and verify"], ["KEY_AGREEMENT", "Key agreement"], ["KEY_ENCAPSULATION", "Key encapsulation"]],
};
const STEPS = ["Configure key", "Add labels", "Define key administrative permissions", "Define key usage permissions", "Review"];

function radios(name, legend, options, value, onchange) {
  return h("fieldset", { class: "radios" }, h("legend", {}, legend), options.map(([v, label, hint]) => {
    const id = uid(name);
    return h("div", { class: "radio" }, h("input", { type: "radio", id, name, value: v, checked: v === value, onchange: () => onchange(v) }),
      h("label", { for: id }, label), hint ? h("span", { class: "hint" }, hint) : null);
  }));
}

export function createPage(main) {
  const st = { step: 0, type: "Symmetric", usage: "ENCRYPT_DECRYPT", spec: "SYMMETRIC_DEFAULT", origin: "AWS_KMS", multiRegion: false,
    alias: "", description: "", tags: [], admins: new Set(), users: new Set(), adminsMayDelete: true, people: null, peopleError: null };
  const steps = h("ol", { class: "steps", "aria-label": "Steps" });
  const body = h("section", { class: "card wizard", "aria-live": "polite" });
  clear(main, h("h1", {}, "Create key"), h("div", { class: "wizard-layout" }, steps, body));

  principals().then((p) => { st.people = p; }, (e) => { st.peopleError = e; st.people = []; }).finally(() => { if (st.step === 2 || st.step === 3) draw(); });

  function nav(canNext = true) {
    return h("div", { class: "actions" },
      st.step > 0 ? h("button", { type: "button", onclick: () => { st.step -= 1; draw(); } }, "Previous") : null,
      st.step < STEPS.length - 1 ? h("button", { type: "button", class: "primary", disabled: !canNext, onclick: () => { st.step += 1; draw(); } }, "Next") : null);
  }

  function configure() {
    const specs = SPECS[`${st.type}/${st.usage}`] || [];
    if (!specs.includes(st.spec)) st.spec = specs[0];
    return [
      radios("ktype", "Key type", [["Symmetric", "Symmetric", "A single key for encryption and decryption, or for MACs"], ["Asymmetric", "Asymmetric", "A public and private key pair"]],
        st.type, (v) => { st.type = v; st.usage = USAGES[v][0][0]; draw(); }),
      radios("kusage", "Key usage", USAGES[st.type], st.usage, (v) => { st.usage = v; draw(); }),
      specs.length > 1 ? field("Key spec", select(specs, st.spec, { onchange: (e) => { st.spec = e.target.value; } })) : h("p", {}, "Key spec: ", h("code", {}, st.spec)),
      h("details", { class: "advanced" }, h("summary", {}, "Advanced options"),
        radios("korigin", "Key material origin", [["AWS_KMS", "KMS - recommended"], ["EXTERNAL", "External (import key material)"]], st.origin, (v) => { st.origin = v; }),
        radios("kregion", "Regionality", [["single", "Single-Region key"], ["multi", "Multi-Region key"]], st.multiRegion ? "multi" : "single", (v) => { st.multiRegion = v === "multi"; })),
      nav(),
    ];
  }

  function labels() {
    const alias = h("input", { value: st.alias, placeholder: "my-key", oninput: (e) => { st.alias = e.target.value.trim(); } });
    const desc = h("textarea", { rows: "3", oninput: (e) => { st.description = e.target.value; } }, st.description);
    const tagRows = h("div", { class: "tags" });
    const drawTags = () => clear(tagRows, st.tags.map((t, i) => h("div", { class: "tag-row" },
      field("Tag key", h("input", { value: t.TagKey, oninput: (e) => { t.TagKey = e.target.value; } })),
      field("Tag value", h("input", { value: t.TagValue, oninput: (e) => { t.TagValue = e.target.value; } })),
      h("button", { type: "button", "aria-label": `Remove tag ${i + 1}`, onclick: () => { st.tags.splice(i, 1); drawTags(); } }, "Remove"))));
    drawTags();
    return [
      field("Alias", alias, "Without the alias/ prefix: letters, digits, /_- ; it names the key in place of its id."),
      field("Description", desc),
      h("h3", {}, "Tags"), tagRows,
      h("button", { type: "button", onclick: () => { st.tags.push({ TagKey: "", TagValue: "" }); drawTags(); tagRows.querySelector(".tag-row:last-child input")?.focus(); } }, "Add tag"),
      nav(),
    ];
  }

  function picker(set, label) {
    if (!st.people) return loading("Loading IAM users and roles");
    const note = st.peopleError ? errorBox(st.peopleError, "Could not list IAM users and roles (you can still continue)") : null;
    if (!st.people.length) return [note, h("p", { class: "muted" }, "No IAM users or roles to choose. The account root can still manage and use the key.")];
    return [note, h("fieldset", { class: "checks" }, h("legend", {}, label), st.people.map((p) => {
      const id = uid("p");
      return h("div", { class: "check" }, h("input", { type: "checkbox", id, checked: set.has(p.arn), onchange: (e) => (e.target.checked ? set.add(p.arn) : set.delete(p.arn)) }),
        h("label", { for: id }, `${p.name} `, h("span", { class: "muted" }, `(${p.kind}) ${p.arn}`)));
    }))];
  }

  function policyDoc() {
    return defaultPolicy({
      account: session.identity ? session.identity.account : "", admins: [...st.admins], users: [...st.users],
      usage: st.usage, symmetric: st.type === "Symmetric", adminsMayDelete: st.adminsMayDelete,
    });
  }

  function review() {
    const policy = JSON.stringify(policyDoc(), null, 2);
    const status = h("div", { "aria-live": "polite" });
    const tags = st.tags.filter((t) => t.TagKey);
    const finish = h("button", { type: "button", class: "primary", onclick: async () => {
      finish.disabled = true;
      clear(status, loading("Creating the key"));
      try {
        const input = { KeySpec: st.spec, KeyUsage: st.usage, Origin: st.origin, MultiRegion: st.multiRegion, Policy: policy };
        if (st.description) input.Description = st.description;
        if (tags.length) input.Tags = tags;
        const md = (await kms("CreateKey", input)).KeyMetadata;
        if (st.alias) {
          try {
            await kms("CreateAlias", { AliasName: "alias/" + st.alias.replace(/^alias\//, ""), TargetKeyId: md.KeyId });
          } catch (e) {
            toast(`The key was created, but its alias was not: ${e}`, "error");
          }
        }
        toast(`Created key ${md.KeyId}`);
        location.hash = `#/keys/${md.KeyId}`;
      } catch (e) {
        finish.disabled = false;
        clear(status, errorBox(e, "The key was not created"));
      }
    } }, "Finish");
    return [
      h("h3", {}, "Key configuration"),
      h("dl", { class: "props" }, [["Key type", st.type], ["Key spec", st.spec], ["Key usage", st.usage], ["Origin", st.origin], ["Regionality", st.multiRegion ? "Multi-Region" : "Single-Region"]]
        .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h3", {}, "Alias and description"),
      h("dl", { class: "props" }, h("dt", {}, "Alias"), h("dd", {}, st.alias ? "alias/" + st.alias : "—"), h("dt", {}, "Description"), h("dd", {}, st.description || "—")),
      h("h3", {}, "Tags"), tags.length ? h("ul", {}, tags.map((t) => h("li", {}, `${t.TagKey} = ${t.TagValue}`))) : h("p", { class: "muted" }, "No tags"),
      h("h3", { id: "policy-preview-title" }, "Key policy"),
      h("pre", { class: "code", id: "policy-preview", tabindex: "0", "aria-labelledby": "policy-preview-title" }, policy),
      status, h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { st.step -= 1; draw(); } }, "Previous"), finish),
    ];
  }

  const pages = [
    configure, labels,
    () => [picker(st.admins, "Key administrators"),
      h("div", { class: "check" }, h("input", { type: "checkbox", id: "admins-delete", checked: st.adminsMayDelete, onchange: (e) => { st.adminsMayDelete = e.target.checked; } }),
        h("label", { for: "admins-delete" }, "Allow key administrators to delete this key")), nav()],
    () => [picker(st.users, "Key users"), nav()],
    review,
  ];

  function draw() {
    clear(steps, STEPS.map((s, i) => h("li", { "aria-current": i === st.step ? "step" : null, class: i < st.step ? "done" : "" }, h("span", { class: "muted" }, `Step ${i + 1}`), h("br"), s)));
    clear(body, h("h2", { tabindex: "-1" }, STEPS[st.step]), pages[st.step]());
    body.querySelector("h2").focus();
  }

  (session.identity ? Promise.resolve() : whoAmI().catch(() => null)).then(draw);
}
