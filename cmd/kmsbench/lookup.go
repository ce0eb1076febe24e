package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/uuid"
)

// The synthetic trail: one account's calls in one Region over 30 days.
const (
	lookupAccount = "111122223333"
	lookupRegion  = "us-east-1"
	lookupKeys    = 1000
	lookupUsers   = 100
	lookupRounds  = 300 // lookups per scenario
)

// runLookup measures CloudTrail LookupEvents over a trail of n records: it
// writes them into a fresh data directory's audit log (through
// audit.OpenFile, without waiting for each fsync), starts kmsd on it,
// times the index being built from the log, and then looks events up
// through the AWS SDK by key (ResourceName), by user (Username), by event
// name within one day, and by nothing, printing p50 and p99 latency.
func runLookup(bin string, n int, extra []string) error {
	dir, err := os.MkdirTemp("", "kmsbench-lookup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(data, "audit", "kmsd-audit.jsonl")
	fmt.Printf("\nLookupEvents over %d audit records (%d keys, %d users, 30 days), --enforce\n", n, lookupKeys, lookupUsers)
	began := time.Now()
	last, err := writeTrail(logPath, n)
	if err != nil {
		return fmt.Errorf("write the trail: %w", err)
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		return err
	}
	fmt.Printf("  log written in %s: %d MB\n", time.Since(began).Round(time.Millisecond), fi.Size()>>20)

	// The last --data wins: kmsd serves the directory just written.
	began = time.Now()
	srv, err := start(bin, true, append(extra, "--data", data))
	if err != nil {
		return err
	}
	defer srv.stop()
	c := trailClient(srv.url)
	ctx := context.Background()
	for {
		out, err := c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventId, last)})
		if err != nil {
			return err
		}
		if len(out.Events) == 1 {
			break
		}
		if time.Since(began) > 10*time.Minute {
			return errors.New("the index did not reach the log's last record in 10 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ix, err := os.Stat(logPath + ".index")
	if err != nil {
		return err
	}
	fmt.Printf("  kmsd started and indexed the log in %s: index %d MB\n", time.Since(began).Round(time.Millisecond), ix.Size()>>20)

	end := time.Now()
	day := end.Add(-15 * 24 * time.Hour)
	scenarios := []struct {
		name string
		in   func() *cloudtrail.LookupEventsInput
	}{
		{"by ResourceName", func() *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyResourceName, keyARN(rand.IntN(lookupKeys)))}
		}},
		// What a call costs besides the events: SigV4, its own durable
		// audit record, and the round trip.
		{"by ResourceName, 1", func() *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyResourceName, keyARN(rand.IntN(lookupKeys))),
				MaxResults: aws.Int32(1)}
		}},
		{"by Username", func() *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyUsername, userName(rand.IntN(lookupUsers)))}
		}},
		{"by EventName, 1 day", func() *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "Decrypt"),
				StartTime: aws.Time(day), EndTime: aws.Time(day.Add(24 * time.Hour))}
		}},
		{"no attribute", func() *cloudtrail.LookupEventsInput { return &cloudtrail.LookupEventsInput{} }},
	}
	fmt.Printf("  %-22s %8s %10s %10s\n", "lookup (page of 50)", "lookups", "p50", "p99")
	for _, sc := range scenarios {
		lat := make([]time.Duration, 0, lookupRounds)
		for range lookupRounds {
			in := sc.in()
			want := 50
			if in.MaxResults != nil {
				want = int(*in.MaxResults)
			}
			t0 := time.Now()
			out, err := c.LookupEvents(ctx, in)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			lat = append(lat, time.Since(t0))
			if len(out.Events) != want {
				return fmt.Errorf("%s: %d events, want a full page of %d", sc.name, len(out.Events), want)
			}
		}
		slices.Sort(lat)
		fmt.Printf("  %-22s %8d %10s %10s\n", sc.name, len(lat), lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond))
	}
	return nil
}

// writeTrail writes n records of KMS calls and returns the last one's
// event ID.
func writeTrail(path string, n int) (string, error) {
	log, err := audit.OpenFile(path, audit.Options{MaxBatch: 4096, QueueSize: 1 << 16, Timeout: time.Minute})
	if err != nil {
		return "", err
	}
	names := []string{"Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey", "Sign", "ReEncrypt", "GetPublicKey"}
	span := 30 * 24 * time.Hour
	t0 := time.Now().Add(-span - time.Minute)
	var last string
	for i := range n {
		key, user := keyARN(rand.IntN(lookupKeys)), userName(rand.IntN(lookupUsers))
		ev := &audit.Event{
			UserIdentity: audit.UserIdentity{Type: "IAMUser", PrincipalID: "AIDAEXAMPLEUSERID0001", ARN: "arn:aws:iam::" + lookupAccount + ":user/" + user,
				AccountID: lookupAccount, AccessKeyID: "AKIA" + user, UserName: user},
			EventTime: t0.Add(time.Duration(float64(span) * float64(i) / float64(n))), EventName: names[rand.IntN(len(names))],
			AWSRegion: lookupRegion, SourceIPAddress: "10.0.0.1", UserAgent: "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/kms#1.37.0",
			RequestParameters: map[string]any{"keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": map[string]any{"app": "orders", "tenant": "t-42"}},
			RequestID:         uuid.New(), EventID: uuid.New(), ReadOnly: true, RecipientAccountID: lookupAccount,
			Resources: []audit.Resource{{AccountID: lookupAccount, Type: "AWS::KMS::Key", ARN: key}},
		}
		if err := log.Append(ev); err != nil {
			log.Close()
			return "", err
		}
		last = ev.EventID
	}
	return last, log.Close()
}

func keyARN(i int) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%08d-0000-4000-8000-000000000000", lookupRegion, lookupAccount, i)
}

func userName(i int) string { return fmt.Sprintf("user%03d", i) }

func attr(k types.LookupAttributeKey, v string) []types.LookupAttribute {
	return []types.LookupAttribute{{AttributeKey: k, AttributeValue: aws.String(v)}}
}

func trailClient(url string) *cloudtrail.Client {
	return cloudtrail.New(cloudtrail.Options{
		Region:           lookupRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:       &http.Client{},
		RetryMaxAttempts: 1,
	})
}
