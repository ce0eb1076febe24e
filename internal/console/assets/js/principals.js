// IAM users and roles of the account, for the pickers of the create-key
// wizard, grants and the access check.

import { query, members } from "./api.js";

async function listAll(action, list, fields) {
  const out = [];
  let marker;
  do {
    const doc = await query("iam", action, { Marker: marker, MaxItems: "100" });
    out.push(...members(doc, list, fields));
    marker = doc.getElementsByTagName("IsTruncated")[0]?.textContent === "true" ? doc.getElementsByTagName("Marker")[0]?.textContent : null;
  } while (marker && out.length < 1000);
  return out;
}

export function listUsers() {
  return listAll("ListUsers", "Users", ["UserName", "UserId", "Arn", "CreateDate", "Path"]);
}

export function listRoles() {
  return listAll("ListRoles", "Roles", ["RoleName", "RoleId", "Arn", "CreateDate", "Path"]);
}

// principals returns users and roles as {name, arn, kind}; a failure (no
// permission to list them) leaves the error for the caller to show.
export async function principals() {
  const [users, roles] = await Promise.all([listUsers(), listRoles()]);
  return [
    ...users.map((u) => ({ name: u.UserName, arn: u.Arn, kind: "User" })),
    ...roles.map((r) => ({ name: r.RoleName, arn: r.Arn, kind: "Role" })),
  ];
}
