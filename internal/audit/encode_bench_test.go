package audit

import (
	"encoding/json"
	"testing"
	"time"
)

// encryptEvent is a typical record: an Encrypt call by the root user.
func encryptEvent() *Event {
	keyARN := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ev := &Event{
		UserIdentity: UserIdentity{
			Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root",
			AccountID: "111122223333", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		},
		EventTime:       time.Date(2025, 5, 20, 22, 45, 1, 0, time.UTC),
		EventName:       "Encrypt",
		AWSRegion:       "us-east-1",
		SourceIPAddress: "192.0.2.10",
		UserAgent:       "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/kms.encrypt",
		RequestParameters: map[string]any{
			"keyId":               keyARN,
			"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
			"encryptionContext":   map[string]any{"Department": "Engineering"},
		},
		RequestID:          "11111111-2222-4333-8444-555555555555",
		EventID:            "66666666-7777-4888-9999-aaaaaaaaaaaa",
		ReadOnly:           true,
		Resources:          []Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: keyARN}},
		RecipientAccountID: "111122223333",
	}
	ev.fill(time.Now)
	return ev
}

func BenchmarkMarshalEvent(b *testing.B) {
	for _, c := range []struct {
		name string
		ev   *Event
	}{{"Encrypt", encryptEvent()}, {"Full", fullEvent()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ev.MarshalJSON(); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The encoding/json form MarshalJSON used to return, for comparison.
		b.Run(c.name+"/reflect", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(wireOf(c.ev)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendLine measures the writer's per-record chaining work.
func BenchmarkAppendLine(b *testing.B) {
	body, err := encryptEvent().MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	var prev [hashSize]byte
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, prev = appendLine(buf[:0], body, 1, &prev)
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		var c chainHasher
		var buf []byte
		for b.Loop() {
			buf, prev = c.appendLine(buf[:0], body, 1, &prev)
		}
	})
}
