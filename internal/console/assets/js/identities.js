// IAM users, roles and access keys, as far as the caller may list them.

import { query, members } from "./api.js";
import { h, clear, run, table, fmtDate } from "./ui.js";
import { listUsers, listRoles } from "./principals.js";

function keysOf(user, cell) {
  run(cell, "Load access keys", async () => {
    const doc = await query("iam", "ListAccessKeys", { UserName: user });
    const keys = members(doc, "AccessKeyMetadata", ["AccessKeyId", "Status", "CreateDate"]);
    return keys.length ? h("ul", { class: "plain" }, keys.map((k) => h("li", {}, h("code", {}, k.AccessKeyId), ` ${k.Status}, created ${fmtDate(k.CreateDate)}`))) : "No access keys";
  });
}

export function identitiesPage(main) {
  const users = h("section", { class: "card", "aria-labelledby": "users-title" });
  const roles = h("section", { class: "card", "aria-labelledby": "roles-title" });
  clear(main, h("h1", {}, "Identities"), users, roles);
  const usersBody = h("div");
  const rolesBody = h("div");
  users.append(h("h2", { id: "users-title" }, "IAM users"), usersBody);
  roles.append(h("h2", { id: "roles-title" }, "IAM roles"), rolesBody);
  run(usersBody, "List IAM users", async () => table({
    caption: "Users", rows: await listUsers(), emptyText: "No IAM users in this account.",
    columns: [
      { label: "User name", value: (u) => u.UserName },
      { label: "ARN", value: (u) => u.Arn, cell: (u) => h("code", {}, u.Arn) },
      { label: "Created", value: (u) => u.CreateDate, cell: (u) => fmtDate(u.CreateDate) },
      { label: "Access keys", cell: (u) => { const c = h("div"); c.append(h("button", { type: "button", onclick: () => keysOf(u.UserName, c) }, "Show access keys")); return c; } },
      { label: "Access", cell: (u) => h("a", { href: `#/access?principal=${encodeURIComponent(u.Arn)}` }, "Check access") },
    ],
  }));
  run(rolesBody, "List IAM roles", async () => table({
    caption: "Roles", rows: await listRoles(), emptyText: "No IAM roles in this account.",
    columns: [
      { label: "Role name", value: (r) => r.RoleName },
      { label: "ARN", value: (r) => r.Arn, cell: (r) => h("code", {}, r.Arn) },
      { label: "Created", value: (r) => r.CreateDate, cell: (r) => fmtDate(r.CreateDate) },
      { label: "Access", cell: (r) => h("a", { href: `#/access?principal=${encodeURIComponent(r.Arn)}` }, "Check access") },
    ],
  }));
}
