// Small DOM helpers shared by the pages. Text always goes in as text nodes,
// never as HTML, so nothing a server or user typed can become markup.

let idSeq = 0;

// uid returns a fresh element id for label/aria wiring.
export function uid(prefix = "c") {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// h creates an element. attrs: class, text, on<event> handlers, and any
// other attribute (aria-*, role, href, ...); false/null skip it.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// loading is a polite live status shown while a request is in flight.
export function loading(what = "Loading") {
  return h("div", { class: "state loading", role: "status", "aria-live": "polite" }, h("span", { class: "spinner", "aria-hidden": "true" }), `${what}…`);
}

export function empty(text) {
  return h("div", { class: "state empty" }, text);
}

// errorBox says in words what failed and with which AWS exception.
export function errorBox(err, what = "The request failed") {
  const code = err && err.code ? err.code : "Error";
  const msg = err && err.message && err.message !== code ? err.message : "";
  let hint = "";
  if (code === "AccessDeniedException" || code === "AccessDenied") {
    hint = "Your credentials are not allowed to do this. Ask an administrator for permission, or sign in as someone who has it.";
  } else if (["ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "InvalidClientTokenId"].includes(code)) {
    hint = "Your credentials have expired or are no longer valid: sign out and sign in again.";
  }
  return h("div", { class: "state error", role: "alert" },
    h("strong", {}, `${what}: `), h("code", { class: "exception" }, code), msg ? h("span", { class: "message" }, ` — ${msg}`) : null,
    hint ? h("p", { class: "hint" }, hint) : null);
}

// toast announces a finished action.
export function toast(text, kind = "ok") {
  const area = document.getElementById("toasts");
  const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  area.append(t);
  while (area.children.length > 3) area.firstElementChild.remove();
  setTimeout(() => t.remove(), 6000);
}

// field wraps a control with its label (and an optional hint).
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: id + "-hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: v === value }, label);
  }));
}

// dialog opens a modal <dialog> (focus trapped, Escape closes) and
// resolves with the action chosen, or null.
export function dialog(title, body, actions) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": titleId });
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    const buttons = actions.map((a) => h("button", {
      type: "button", class: a.primary ? "primary" : a.danger ? "danger" : "",
      onclick: async () => {
        if (!a.run) return done(a.value ?? null);
        const err = dlg.querySelector(".dialog-error");
        clear(err);
        try { done(await a.run()); } catch (e) { clear(err, errorBox(e)); }
      },
    }, a.label));
    dlg.append(h("h2", { id: titleId }, title), h("div", { class: "dialog-body" }, body), h("div", { class: "dialog-error" }),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => done(null) }, "Cancel"), buttons));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(null); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// table renders rows with sortable columns, a text filter and pages of
// pageSize. columns: {label, value(row) for sort/filter, cell(row)}.
export function table({ columns, rows, caption, pageSize = 10, filterLabel = "Filter", emptyText = "Nothing to show.", initialSort = 0 }) {
  const state = { sort: initialSort, dir: 1, page: 0, filter: "" };
  const wrap = h("div", { class: "table-wrap" });
  const input = h("input", { type: "search", placeholder: filterLabel, "aria-label": filterLabel, oninput: () => { state.filter = input.value.toLowerCase(); state.page = 0; draw(); } });
  const body = h("div");
  wrap.append(h("div", { class: "table-tools" }, input), body);
  const text = (c, r) => String(c.value ? c.value(r) ?? "" : "");
  function draw() {
    let list = rows.filter((r) => !state.filter || columns.some((c) => text(c, r).toLowerCase().includes(state.filter)));
    const c = columns[state.sort];
    if (c && c.value) list = [...list].sort((a, b) => state.dir * text(c, a).localeCompare(text(c, b), undefined, { numeric: true }));
    const pages = Math.max(1, Math.ceil(list.length / pageSize));
    state.page = Math.min(state.page, pages - 1);
    const shown = list.slice(state.page * pageSize, (state.page + 1) * pageSize);
    const head = h("tr", {}, columns.map((col, i) => {
      const sorted = i === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none";
      const label = col.value ? h("button", { type: "button", class: "sort", onclick: () => {
        state.dir = state.sort === i ? -state.dir : 1; state.sort = i; draw();
      } }, col.label, h("span", { "aria-hidden": "true" }, sorted === "ascending" ? " ▲" : sorted === "descending" ? " ▼" : "")) : col.label;
      return h("th", { scope: "col", "aria-sort": col.value ? sorted : null }, label);
    }));
    const tbl = h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head),
      h("tbody", {}, shown.map((r) => h("tr", {}, columns.map((col) => h("td", { "data-label": col.label }, col.cell ? col.cell(r) : text(col, r)))))));
    const pager = h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: state.page === 0, onclick: () => { state.page -= 1; draw(); } }, "Previous"),
      h("span", { "aria-live": "polite" }, `Page ${state.page + 1} of ${pages} · ${list.length} item${list.length === 1 ? "" : "s"}`),
      h("button", { type: "button", disabled: state.page >= pages - 1, onclick: () => { state.page += 1; draw(); } }, "Next"));
    clear(body, list.length ? [tbl, pager] : [empty(rows.length ? "No item matches the filter." : emptyText)]);
  }
  draw();
  return wrap;
}

// tabs renders a tab list (arrow keys move between tabs) whose panels are
// drawn by each tab's render(panel) when selected.
export function tabs(list, selected = 0) {
  const bar = h("div", { role: "tablist", class: "tabs" });
  const panel = h("div", { role: "tabpanel", class: "tabpanel", tabindex: "0" });
  const buttons = list.map((t, i) => h("button", {
    type: "button", role: "tab", id: uid("tab"), "data-tab": t.id,
    onclick: () => choose(i),
    onkeydown: (e) => {
      const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (d) { const j = (i + d + list.length) % list.length; choose(j); buttons[j].focus(); }
    },
  }, t.label));
  function choose(i) {
    buttons.forEach((b, j) => { b.setAttribute("aria-selected", String(i === j)); b.tabIndex = i === j ? 0 : -1; });
    panel.setAttribute("aria-labelledby", buttons[i].id);
    // A fresh container per selection: a slow render of the tab left
    // behind then writes into a detached node, never over this one.
    const inner = h("div");
    clear(panel, inner);
    list[i].render(inner);
  }
  bar.append(...buttons);
  choose(Math.max(0, selected));
  return h("div", {}, bar, panel);
}

// run shows loading in el, awaits fn, and replaces it with fn's content or
// the error in words.
export async function run(el, what, fn) {
  clear(el, loading(what));
  try {
    clear(el, await fn());
  } catch (e) {
    clear(el, errorBox(e, `Could not ${what.toLowerCase()}`));
  }
}

export function fmtDate(epoch) {
  if (epoch === undefined || epoch === null || epoch === "") return "—";
  const d = typeof epoch === "number" ? new Date(epoch * 1000) : new Date(epoch);
  return isNaN(d) ? String(epoch) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// dl renders a description list of [term, value] pairs.
export function dl(pairs) {
  return h("dl", { class: "props" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === undefined || v === "" ? "—" : v)]));
}
