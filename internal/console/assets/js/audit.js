// The event history: CloudTrail LookupEvents over kmsd's audit trail, with
// one lookup attribute (as CloudTrail allows), a time range, and each
// event's full record.

import { lookupEvents } from "./api.js";
import { h, clear, loading, errorBox, empty, field, select, fmtDate } from "./ui.js";

const ATTRS = [["EventName", "Event name"], ["ResourceName", "Resource name (key ARN)"], ["Username", "User name"], ["ReadOnly", "Read-only"],
  ["EventId", "Event ID"], ["AccessKeyId", "AWS access key"], ["ResourceType", "Resource type"], ["EventSource", "Event source"]];

function eventRow(ev) {
  let rec = null;
  try { rec = JSON.parse(ev.CloudTrailEvent); } catch { /* shown raw */ }
  const error = rec && rec.errorCode ? h("span", { class: "badge danger" }, rec.errorCode) : null;
  const resource = (ev.Resources || []).map((r) => r.ResourceName).join(", ");
  return h("li", { class: "event" }, h("details", {},
    h("summary", {}, h("span", { class: "event-time" }, fmtDate(ev.EventTime)), " ", h("strong", { class: "event-name" }, ev.EventName), " ",
      h("span", { class: "muted" }, `by ${ev.Username || "—"}`), " ", error, resource ? h("span", { class: "muted resource" }, ` on ${resource}`) : null),
    h("pre", { class: "code", tabindex: "0", "aria-label": `Record of event ${ev.EventId}` }, rec ? JSON.stringify(rec, null, 2) : ev.CloudTrailEvent)));
}

// eventList draws the events matching attr (or all) in el, newest first,
// with a button for the next page.
export function eventList(el, attr, range = {}) {
  const list = h("ol", { class: "events", "aria-label": "Events, newest first" });
  const more = h("div");
  clear(el, list, more);
  async function page(token) {
    clear(more, loading("Loading events"));
    const input = { MaxResults: 25 };
    if (attr && attr.AttributeValue) input.LookupAttributes = [attr];
    if (range.start) input.StartTime = range.start.getTime() / 1000;
    if (range.end) input.EndTime = range.end.getTime() / 1000;
    if (token) input.NextToken = token;
    try {
      const out = await lookupEvents(input);
      list.append(...(out.Events || []).map(eventRow));
      if (!list.children.length) clear(more, empty("No events match. kmsd records every call; try a wider time range or another filter."));
      else clear(more, out.NextToken ? h("button", { type: "button", onclick: () => page(out.NextToken) }, "Load more events") : null);
    } catch (e) {
      clear(more, errorBox(e, "Could not look up events"));
    }
  }
  page();
  return el;
}

function localInput(d) {
  return d ? new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "";
}

export function auditPage(main, params) {
  const key = params.get("key");
  const attrKey = select(ATTRS, key ? "ResourceName" : params.get("attr") || "EventName");
  const value = h("input", { value: key || params.get("value") || "", placeholder: "e.g. Encrypt" });
  const readOnly = select([["", "Any"], ["true", "Read-only"], ["false", "Not read-only"]], "");
  const start = h("input", { type: "datetime-local", value: localInput(params.get("start") ? new Date(params.get("start")) : null) });
  const end = h("input", { type: "datetime-local" });
  const results = h("div");
  const syncValue = () => {
    const ro = attrKey.value === "ReadOnly";
    value.parentElement.hidden = ro;
    readOnly.parentElement.hidden = !ro;
  };
  attrKey.addEventListener("change", syncValue);
  const form = h("form", { class: "filters card", "aria-label": "Event filters", onsubmit: (e) => {
    e.preventDefault();
    const v = attrKey.value === "ReadOnly" ? readOnly.value : value.value.trim();
    eventList(results, v ? { AttributeKey: attrKey.value, AttributeValue: v } : null, {
      start: start.value ? new Date(start.value) : null, end: end.value ? new Date(end.value) : null,
    });
  } },
  field("Lookup attribute", attrKey), field("Value", value), field("Read-only", readOnly),
  field("From", start), field("To", end), h("button", { type: "submit", class: "primary" }, "Look up events"));
  clear(main, h("h1", {}, "Event history"),
    h("p", { class: "muted" }, "Every call to kmsd, allowed or refused, as CloudTrail records it. One lookup attribute at a time, as CloudTrail's LookupEvents allows."),
    form, results);
  syncValue();
  form.requestSubmit();
}
