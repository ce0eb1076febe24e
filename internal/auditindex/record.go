package auditindex

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// lenient reads a record whatever its encoder did with names and bytes:
// the chain, not the JSON, vouches for a record.
var lenient = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// chainMarker starts the chain member that ends every line of the log
// (see package audit).
const chainMarker = `,"kmsdChain":{"seq":`

// hashMarker precedes the record's chain hash within the chain member.
const hashMarker = `","hash":"`

// line is one record of the log, split into the CloudTrail event and its
// place in the chain.
type line struct {
	seq  uint64
	hash []byte // hex chain hash, of the line's bytes
	body []byte // the event's JSON without the chain member, ending in '}'
}

var errNotRecord = errors.New("auditindex: not a record of the audit log")

// parseLine splits a line of the log (without its newline). The body is
// b's own bytes, the chain member's first replaced by the closing brace:
// b must not be reused while the line is.
func parseLine(b []byte) (line, error) {
	i := lastChainMarker(b)
	if i < 0 {
		return line{}, errNotRecord
	}
	rest := b[i+len(chainMarker):]
	j := bytes.IndexByte(rest, ',')
	if j <= 0 {
		return line{}, errNotRecord
	}
	seq, ok := parseSeq(rest[:j])
	if !ok || seq == 0 {
		return line{}, errNotRecord
	}
	h := bytes.Index(rest, []byte(hashMarker))
	if h < 0 || len(rest) < h+len(hashMarker)+64 {
		return line{}, errNotRecord
	}
	hash := rest[h+len(hashMarker) : h+len(hashMarker)+64 : h+len(hashMarker)+64]
	b[i] = '}'
	return line{seq: seq, hash: hash, body: b[:i+1]}, nil
}

// lastChainMarker is bytes.LastIndex(b, []byte(chainMarker)), found from
// the marker's "k", which the rest of the chain member (digits, hex and
// quoted names without a "k") never holds: the first one back from the
// end is the marker's.
func lastChainMarker(b []byte) int {
	const at = 2 // chainMarker[at] == 'k'
	for end := len(b); ; {
		k := bytes.LastIndexByte(b[:end], chainMarker[at])
		if k < 0 {
			return -1
		}
		if k >= at && bytes.HasPrefix(b[k-at:], []byte(chainMarker)) {
			return k - at
		}
		end = k
	}
}

// parseSeq parses a seq as strconv.ParseUint does in base 10, without
// making a string of it.
func parseSeq(b []byte) (uint64, bool) {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, len(b) > 0
}

// Resource is a resource an event names, as LookupEvents shows it.
type Resource struct {
	Type string // AWS::KMS::Key
	Name string // the resource's ARN
}

// Event is one record found by a lookup: the fields LookupEvents shows and
// the CloudTrail record itself.
type Event struct {
	Seq         uint64
	EventID     string
	EventName   string
	EventSource string
	ReadOnly    bool
	AccessKeyID string
	Username    string
	Time        time.Time
	Resources   []Resource
	// Account and Region are the event's recipientAccountId and awsRegion:
	// whose trail it is in.
	Account, Region string
	// JSON is the CloudTrail record, without kmsd's chain member.
	JSON []byte
}

// record holds the members of a CloudTrail record that lookups use.
type record struct {
	EventID            string `json:"eventID"`
	EventName          string `json:"eventName"`
	EventSource        string `json:"eventSource"`
	EventTime          string `json:"eventTime"`
	ReadOnly           bool   `json:"readOnly"`
	AWSRegion          string `json:"awsRegion"`
	RecipientAccountID string `json:"recipientAccountId"`
	UserIdentity       struct {
		Type        string `json:"type"`
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
	} `json:"userIdentity"`
	Resources []struct {
		Type string `json:"type"`
		ARN  string `json:"ARN"`
	} `json:"resources"`
}

// decodeEvent reads what lookups need from a record's JSON. The event
// keeps body as its JSON.
func decodeEvent(seq uint64, body []byte) (*Event, error) {
	var r record
	if err := json.Unmarshal(body, &r, lenient); err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return nil, err
	}
	ev := &Event{
		Seq: seq, EventID: r.EventID, EventName: r.EventName, EventSource: r.EventSource,
		ReadOnly: r.ReadOnly, AccessKeyID: r.UserIdentity.AccessKeyID, Time: t.UTC(),
		Account: r.RecipientAccountID, Region: r.AWSRegion, JSON: body,
	}
	ev.Username = username(r.UserIdentity.Type, r.UserIdentity.ARN, r.UserIdentity.UserName)
	for _, res := range r.Resources {
		ev.Resources = append(ev.Resources, Resource{Type: res.Type, Name: res.ARN})
	}
	return ev, nil
}

// username is what CloudTrail shows as an event's user name: "root" for an
// account root, the user name of an IAM user, and the session name of an
// assumed role (the last part of its ARN).
func username(typ, arn, name string) string {
	switch typ {
	case "Root":
		return "root"
	case "AssumedRole":
		if i := strings.LastIndexByte(arn, '/'); i >= 0 {
			return arn[i+1:]
		}
	}
	return name
}

// terms lists the attribute values an event is found by, besides its
// event ID: each once, none empty.
func (ev *Event) terms() []term {
	out := make([]term, 0, 8+2*len(ev.Resources))
	add := func(a Attr, v string) {
		if v == "" {
			return
		}
		for _, t := range out {
			if t.attr == a && t.value == v {
				return
			}
		}
		out = append(out, term{a, v})
	}
	out = append(out, term{all, ""})
	add(EventName, ev.EventName)
	add(EventSource, ev.EventSource)
	add(ReadOnly, strconv.FormatBool(ev.ReadOnly))
	add(Username, ev.Username)
	add(AccessKeyID, ev.AccessKeyID)
	for _, r := range ev.Resources {
		add(ResourceType, r.Type)
		add(ResourceName, r.Name)
	}
	return out
}
