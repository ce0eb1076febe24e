package keyuse

import (
	"time"

	"github.com/kmsd/kmsd/internal/uuid"
)

// lastUse is one use as the flush writes it and LastUse reports it: the
// request and event ids as their 16 bytes when both are lowercase UUIDs
// (the form of kmsd's own ids), other ids as given.
type lastUse struct {
	at        int64  // Unix nanoseconds, UTC
	operation string // a KeyLastUsageTrackingOperation constant
	uuids     [2][16]byte
	texts     *[2]string // the ids as given when either is not a UUID; then uuids is unused
}

// newLastUse is a use given as text, as Use holds it, in the form the
// tracker keeps (Tracker.Record builds the same from its ids).
func newLastUse(at time.Time, op, requestID, eventID string) *lastUse {
	u := &lastUse{at: at.UnixNano(), operation: op}
	r, e := newCompactID(requestID), newCompactID(eventID)
	if r.isUUID && e.isUUID {
		u.uuids = [2][16]byte{r.uuid, e.uuid}
	} else {
		u.texts = &[2]string{requestID, eventID}
	}
	return u
}

func (u *lastUse) requestID() compactID { return u.id(0) }
func (u *lastUse) eventID() compactID   { return u.id(1) }

func (u *lastUse) id(i int) compactID {
	if u.texts == nil {
		return compactID{uuid: u.uuids[i], isUUID: true}
	}
	return newCompactID(u.texts[i])
}

func (u *lastUse) time() time.Time { return time.Unix(0, u.at).UTC() }

func (u *lastUse) asUse() Use {
	return Use{At: u.time(), Operation: u.operation, RequestID: u.requestID().String(), EventID: u.eventID().String()}
}

// compactID is an id that is usually a lowercase UUID (the form of
// kmsd's request and event ids): its 16 bytes, or any other text as is.
type compactID struct {
	uuid   [16]byte
	isUUID bool
	text   string
}

func newCompactID(s string) compactID {
	if b, ok := uuid.Parse(s); ok {
		return compactID{uuid: b, isUUID: true}
	}
	return compactID{text: s}
}

func (c compactID) String() string {
	if !c.isUUID {
		return c.text
	}
	return uuid.Format(c.uuid)
}
