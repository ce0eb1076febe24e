package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/uuid"
)

// Constant field values of every kmsd event, as CloudTrail writes them for
// AWS KMS.
const (
	EventVersion  = "1.11"
	EventSource   = "kms.amazonaws.com"
	EventType     = "AwsApiCall"
	EventCategory = "Management"
)

// timeLayout is CloudTrail's eventTime form: UTC, second precision.
const timeLayout = "2006-01-02T15:04:05Z"

// Event is one CloudTrail record of a KMS API call. Field names on the wire
// are CloudTrail's; see MarshalJSON for eventTime.
type Event struct {
	EventVersion        string         `json:"eventVersion"`
	UserIdentity        UserIdentity   `json:"userIdentity"`
	EventTime           time.Time      `json:"eventTime"`
	EventSource         string         `json:"eventSource"`
	EventName           string         `json:"eventName"`
	AWSRegion           string         `json:"awsRegion"`
	SourceIPAddress     string         `json:"sourceIPAddress"`
	UserAgent           string         `json:"userAgent"`
	ErrorCode           string         `json:"errorCode,omitempty"`
	ErrorMessage        string         `json:"errorMessage,omitempty"`
	RequestParameters   map[string]any `json:"requestParameters"`
	ResponseElements    map[string]any `json:"responseElements"`
	AdditionalEventData map[string]any `json:"additionalEventData,omitempty"`
	RequestID           string         `json:"requestID"`
	EventID             string         `json:"eventID"`
	ReadOnly            bool           `json:"readOnly"`
	Resources           []Resource     `json:"resources,omitempty"`
	EventType           string         `json:"eventType"`
	ManagementEvent     bool           `json:"managementEvent"`
	RecipientAccountID  string         `json:"recipientAccountId"`
	EventCategory       string         `json:"eventCategory"`
	TLSDetails          *TLSDetails    `json:"tlsDetails,omitempty"`
}

// UserIdentity is CloudTrail's userIdentity block: who made the call.
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes temporary credentials (an assumed role or a
// federated session), as in CloudTrail.
type SessionContext struct {
	SessionIssuer  *SessionIssuer    `json:"sessionIssuer,omitempty"`
	Attributes     SessionAttributes `json:"attributes"`
	SourceIdentity string            `json:"sourceIdentity,omitempty"`
}

// SessionIssuer is the role or user whose credentials issued the session.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes holds the session's creation time (CloudTrail's
// "2006-01-02T15:04:05Z" form) and whether MFA was used ("true"/"false";
// CloudTrail writes both as strings).
type SessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Resource is a resource the call touched, normally the KMS key.
type Resource struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// TLSDetails describes the TLS connection that carried the request.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
	KeyExchange              string `json:"keyExchange,omitempty"`
}

// NewEvent returns an event for the named operation with the constant
// fields filled in, a fresh eventID and eventTime t.
func NewEvent(eventName string, t time.Time) *Event {
	ev := &Event{EventName: eventName, EventTime: t}
	ev.fill(time.Now)
	return ev
}

// fill sets the fields every kmsd event shares, where the caller left them
// empty: eventVersion, eventSource, eventType, eventCategory, eventID and
// eventTime. Every KMS call is a management event, so managementEvent is
// always true.
func (e *Event) fill(now func() time.Time) {
	if e.EventVersion == "" {
		e.EventVersion = EventVersion
	}
	if e.EventSource == "" {
		e.EventSource = EventSource
	}
	if e.EventType == "" {
		e.EventType = EventType
	}
	if e.EventCategory == "" {
		e.EventCategory = EventCategory
	}
	if e.EventID == "" {
		e.EventID = uuid.NewTimeOrdered(time.Now())
	}
	if e.EventTime.IsZero() {
		e.EventTime = now()
	}
	e.EventTime = e.EventTime.UTC().Truncate(time.Second)
	e.ManagementEvent = true
}

// eventWire is Event as it appears on the wire; only eventTime differs.
// Its field order is CloudTrail's.
type eventWire struct {
	EventVersion        string         `json:"eventVersion"`
	UserIdentity        UserIdentity   `json:"userIdentity"`
	EventTime           string         `json:"eventTime"`
	EventSource         string         `json:"eventSource"`
	EventName           string         `json:"eventName"`
	AWSRegion           string         `json:"awsRegion"`
	SourceIPAddress     string         `json:"sourceIPAddress"`
	UserAgent           string         `json:"userAgent"`
	ErrorCode           string         `json:"errorCode,omitempty"`
	ErrorMessage        string         `json:"errorMessage,omitempty"`
	RequestParameters   map[string]any `json:"requestParameters"`
	ResponseElements    map[string]any `json:"responseElements"`
	AdditionalEventData map[string]any `json:"additionalEventData,omitempty"`
	RequestID           string         `json:"requestID"`
	EventID             string         `json:"eventID"`
	ReadOnly            bool           `json:"readOnly"`
	Resources           []Resource     `json:"resources,omitempty"`
	EventType           string         `json:"eventType"`
	ManagementEvent     bool           `json:"managementEvent"`
	RecipientAccountID  string         `json:"recipientAccountId"`
	EventCategory       string         `json:"eventCategory"`
	TLSDetails          *TLSDetails    `json:"tlsDetails,omitempty"`
}

// MarshalJSON writes the event with CloudTrail's field names, eventTime as
// "2006-01-02T15:04:05Z" in UTC (second precision), and null
// requestParameters/responseElements when they are nil.
func (e Event) MarshalJSON() ([]byte, error) {
	bp := encBufPool.Get().(*[]byte)
	b, err := e.appendJSON((*bp)[:0])
	if err != nil {
		encBufPool.Put(bp)
		return nil, err
	}
	out := append([]byte(nil), b...)
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		encBufPool.Put(bp)
	}
	return out, nil
}

// UnmarshalJSON reads an event written by MarshalJSON (or by CloudTrail).
// Unknown members, such as kmsdChain, are ignored.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w eventWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var t time.Time
	if w.EventTime != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, w.EventTime); err != nil {
			return fmt.Errorf("eventTime: %w", err)
		}
	}
	*e = Event{
		EventVersion:        w.EventVersion,
		UserIdentity:        w.UserIdentity,
		EventTime:           t,
		EventSource:         w.EventSource,
		EventName:           w.EventName,
		AWSRegion:           w.AWSRegion,
		SourceIPAddress:     w.SourceIPAddress,
		UserAgent:           w.UserAgent,
		ErrorCode:           w.ErrorCode,
		ErrorMessage:        w.ErrorMessage,
		RequestParameters:   w.RequestParameters,
		ResponseElements:    w.ResponseElements,
		AdditionalEventData: w.AdditionalEventData,
		RequestID:           w.RequestID,
		EventID:             w.EventID,
		ReadOnly:            w.ReadOnly,
		Resources:           w.Resources,
		EventType:           w.EventType,
		ManagementEvent:     w.ManagementEvent,
		RecipientAccountID:  w.RecipientAccountID,
		EventCategory:       w.EventCategory,
		TLSDetails:          w.TLSDetails,
	}
	return nil
}
