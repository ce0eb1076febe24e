package cloudtrail

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// lookupEvents returns the events of the caller's trail — its account, in
// the Region the request is signed for — that match at most one lookup
// attribute and the time range, newest first, a page at a time.
func (h *Handler) lookupEvents(ctx context.Context, c *call, in *LookupEventsRequest) (*LookupEventsResponse, error) {
	c.params = lookupParams(in)
	q, err := lookupQuery(c, in)
	if err != nil {
		return nil, err
	}
	fp := fingerprint(&q, in.EventCategory)
	if in.NextToken != "" {
		pos, ok := decodeToken(in.NextToken, fp)
		if !ok {
			return nil, kmserr.New(CodeInvalidNextToken, "Invalid NextToken. A NextToken is valid only with the parameters of the request that returned it.")
		}
		q.After = &pos
	}
	out := &LookupEventsResponse{Events: []Event{}}
	if in.EventCategory == EventCategoryInsight {
		return out, nil // kmsd records no Insights events
	}
	if h.cfg.Events == nil {
		return nil, kmserr.New(CodeUnsupportedOperation, "This server keeps no audit log on disk to look events up in.")
	}
	page, err := h.cfg.Events.Lookup(ctx, q)
	if err != nil {
		return nil, kmserr.Internalf("look up events: %w", err)
	}
	for _, ev := range page.Events {
		out.Events = append(out.Events, wireEvent(ev))
	}
	if page.Next != nil {
		out.NextToken = encodeToken(*page.Next, fp)
	}
	return out, nil
}

// lookupQuery validates a request, in the order AWS checks it, and returns
// its query.
func lookupQuery(c *call, in *LookupEventsRequest) (auditindex.Query, error) {
	q := auditindex.Query{Account: c.caller.AccountID, Region: c.caller.Region, Limit: MaxResultsMax}
	if in.EventCategory != "" && in.EventCategory != EventCategoryInsight {
		return q, kmserr.New(CodeInvalidEventCategory, "Event category %s is not valid. The only valid event category is insight.", quote(string(in.EventCategory)))
	}
	if in.MaxResults != nil {
		if n := *in.MaxResults; n < MaxResultsMin || n > MaxResultsMax {
			return q, kmserr.New(CodeInvalidMaxResults, "MaxResults %d is not valid. Specify a value from %d through %d.", n, MaxResultsMin, MaxResultsMax)
		}
		q.Limit = int(*in.MaxResults)
	}
	switch len(in.LookupAttributes) {
	case 0:
	case 1:
		a := in.LookupAttributes[0]
		if !validKey(a.AttributeKey) {
			return q, kmserr.New(CodeInvalidLookupAttributes, "Lookup attribute key %s is not valid. Valid keys: %s.", quote(string(a.AttributeKey)), keyList())
		}
		if a.AttributeValue == "" {
			return q, kmserr.New(CodeInvalidLookupAttributes, "A lookup attribute needs an AttributeValue of at least %d character.", LookupAttributeValueMin)
		}
		if n := attributeLength(a.AttributeValue); n > LookupAttributeValueMax {
			return q, kmserr.New(CodeInvalidLookupAttributes, "AttributeValue is %d characters long, counting each '_', ' ', ',' and newline as two; the limit is %d.", n, LookupAttributeValueMax)
		}
		if in.EventCategory == EventCategoryInsight && !insightKey(a.AttributeKey) {
			return q, kmserr.New(CodeInvalidLookupAttributes, "Insights events can be looked up only by EventId, EventName or EventSource, not by %s.", a.AttributeKey)
		}
		q.Attr, q.Value = auditindex.Attr(a.AttributeKey), a.AttributeValue
	default:
		return q, kmserr.New(CodeInvalidLookupAttributes, "You can specify only one lookup attribute; the request has %d.", len(in.LookupAttributes))
	}
	if in.StartTime != nil {
		q.Start = in.StartTime.Time()
	}
	if in.EndTime != nil {
		q.End = in.EndTime.Time()
	}
	if in.StartTime != nil && in.EndTime != nil && q.Start.After(q.End) {
		return q, kmserr.New(CodeInvalidTimeRange, "The start time %s is after the end time %s.", q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339))
	}
	return q, nil
}

func validKey(k LookupAttributeKey) bool {
	for _, v := range k.Values() {
		if k == v {
			return true
		}
	}
	return false
}

func insightKey(k LookupAttributeKey) bool {
	return k == LookupAttributeKeyEventId || k == LookupAttributeKeyEventName || k == LookupAttributeKeyEventSource
}

func keyList() string {
	var names []string
	for _, v := range LookupAttributeKey("").Values() {
		names = append(names, string(v))
	}
	return strings.Join(names, ", ")
}

// attributeLength counts a value's characters as AWS limits them: '_',
// ' ', ',' and newline count twice.
func attributeLength(v string) int {
	n := 0
	for _, r := range v {
		n++
		switch r {
		case '_', ' ', ',', '\n':
			n++
		}
	}
	return n
}

// quote repeats a caller's value in a message: in quotes, at most 64
// bytes of printable ASCII.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return "'" + string(b) + "'"
}

// lookupParams is the audit record's view of a request, with CloudTrail's
// member names.
func lookupParams(in *LookupEventsRequest) map[string]any {
	p := map[string]any{}
	if len(in.LookupAttributes) > 0 {
		attrs := make([]any, 0, len(in.LookupAttributes))
		for _, a := range in.LookupAttributes {
			attrs = append(attrs, map[string]any{"attributeKey": string(a.AttributeKey), "attributeValue": a.AttributeValue})
		}
		p["lookupAttributes"] = attrs
	}
	if in.StartTime != nil {
		p["startTime"] = in.StartTime.Time().UTC().Format(time.RFC3339)
	}
	if in.EndTime != nil {
		p["endTime"] = in.EndTime.Time().UTC().Format(time.RFC3339)
	}
	if in.EventCategory != "" {
		p["eventCategory"] = string(in.EventCategory)
	}
	if in.MaxResults != nil {
		p["maxResults"] = *in.MaxResults
	}
	return p
}

// wireEvent is an event as LookupEvents returns it.
func wireEvent(ev *auditindex.Event) Event {
	out := Event{
		EventId: ev.EventID, EventName: ev.EventName, ReadOnly: strconv.FormatBool(ev.ReadOnly),
		AccessKeyId: ev.AccessKeyID, EventTime: kmsapi.Time(ev.Time), EventSource: ev.EventSource,
		Username: ev.Username, Resources: make([]Resource, 0, len(ev.Resources)), CloudTrailEvent: string(ev.JSON),
	}
	for _, r := range ev.Resources {
		out.Resources = append(out.Resources, Resource{ResourceType: r.Type, ResourceName: r.Name})
	}
	return out
}
