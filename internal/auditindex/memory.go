package auditindex

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Records lists audit records held in memory — an ephemeral server's,
// which keeps no log file — newest first, each with a number that grows
// with every record and is never reused. A record is one CloudTrail JSON
// object and is not modified once listed.
type Records func(yield func(seq uint64, record []byte) bool)

// Lookup finds events among the records by reading them all, which suits
// the few thousand an ephemeral server keeps, and answers as
// Index.Lookup does: the same trails, attributes, order and pages.
func (r Records) Lookup(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("auditindex: limit %d", q.Limit)
	}
	if _, ok := q.Attr.code(); !ok && q.Attr != EventID {
		return Page{}, ErrUnknownAttr
	}
	lo, hi := bounds(&q)
	var found []*Event
	for seq, rec := range r {
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		ev, err := decodeEvent(seq, rec)
		if err != nil || ev.Account != q.Account || ev.Region != q.Region || !ev.has(q.Attr, q.Value) {
			continue
		}
		t := unixSeconds(ev.Time)
		if t < lo || t > hi || (q.After != nil && !older(t, seq, *q.After)) {
			continue
		}
		found = append(found, ev)
	}
	slices.SortFunc(found, func(a, b *Event) int {
		if c := compare(unixSeconds(b.Time), unixSeconds(a.Time)); c != 0 {
			return c
		}
		return compare(b.Seq, a.Seq)
	})
	page := Page{Events: found[:min(len(found), q.Limit)]}
	if len(found) > q.Limit {
		last := page.Events[len(page.Events)-1]
		page.Next = &Position{Time: unixSeconds(last.Time), Seq: last.Seq}
	}
	return page, nil
}

// has reports whether the event is found by attr = value: whether
// Event.terms lists it (or it is the event's ID), without listing them.
func (ev *Event) has(attr Attr, value string) bool {
	switch attr {
	case all:
		return value == ""
	case EventID:
		return ev.EventID == value
	case ReadOnly:
		return value == strconv.FormatBool(ev.ReadOnly)
	}
	if value == "" {
		return false
	}
	switch attr {
	case EventName:
		return ev.EventName == value
	case EventSource:
		return ev.EventSource == value
	case Username:
		return ev.Username == value
	case AccessKeyID:
		return ev.AccessKeyID == value
	case ResourceType, ResourceName:
		for _, r := range ev.Resources {
			if attr == ResourceType && r.Type == value || attr == ResourceName && r.Name == value {
				return true
			}
		}
	}
	return false
}

// older reports whether (t, seq) comes after p in newest-first order.
func older(t uint32, seq uint64, p Position) bool {
	return t < p.Time || t == p.Time && seq < p.Seq
}

func compare[T uint32 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
