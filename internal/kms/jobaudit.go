package kms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/outbox"
)

// EventSink receives the CloudTrail records of changes that background jobs
// make (AWS service events). A sink that also has Finish — an
// *outbox.Outbox — is told whether each record reached the log, so a
// record the log refused is shipped later.
type EventSink interface {
	Append(ev *audit.Event) error
}

type entryFinisher interface {
	Finish(e *outbox.Entry, delivered bool)
}

// errJobAudit marks a change a job made whose record the sink refused.
var errJobAudit = errors.New("audit record not written")

// auditedJobStep runs one step of a background job. The step's transaction
// stages its record (outbox.Stage), so over an outbox store the change
// commits only with its record; the record then goes to sink. step returns
// the record it committed, or nil when it changed nothing.
func auditedJobStep(ctx context.Context, sink EventSink, step func(ctx context.Context) (*audit.Event, error)) error {
	e := outbox.NewEntry("", nil)
	ev, err := step(outbox.With(ctx, e))
	if err != nil || ev == nil || sink == nil {
		return err
	}
	if staged := e.Staged(); staged != nil {
		ev = staged // the very record in the outbox, with its eventID
	}
	aerr := sink.Append(ev)
	if f, ok := sink.(entryFinisher); ok {
		f.Finish(e, aerr == nil)
	}
	if aerr != nil {
		return fmt.Errorf("%w: %s of %v: %w", errJobAudit, ev.EventName, ev.Resources, aerr)
	}
	return nil
}

// serviceEvent is the frame of a record AWS writes for work it does on its
// own (an AwsServiceEvent): invoked by "AWS Internal", on key r.
func serviceEvent(name string, r *keyRecord, at time.Time) *audit.Event {
	ev := audit.NewEvent(name, at)
	ev.UserIdentity = audit.UserIdentity{AccountID: r.AccountID, InvokedBy: "AWS Internal"}
	ev.AWSRegion = r.Region
	ev.SourceIPAddress = "AWS Internal"
	ev.UserAgent = "AWS Internal"
	ev.EventType = "AwsServiceEvent"
	ev.RecipientAccountID = r.AccountID
	ev.Resources = []audit.Resource{{AccountID: r.AccountID, Type: "AWS::KMS::Key", ARN: r.arn()}}
	return ev
}
