package kmsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// fakeKMS records the last request and answers with a canned body.
type fakeKMS struct {
	mu     sync.Mutex
	target string
	body   []byte
	reply  []byte
}

func (f *fakeKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.target, f.body = r.Header.Get("X-Amz-Target"), body
	reply := f.reply
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
	_, _ = w.Write(reply)
}

func (f *fakeKMS) answer(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = b
}

func (f *fakeKMS) last() (string, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.target, f.body
}

func newSDK(t *testing.T) (*kms.Client, *fakeKMS) {
	t.Helper()
	f := &fakeKMS{reply: []byte("{}")}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := kms.New(kms.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:       sdkhttp.Wrap(srv.Client()),
		RetryMaxAttempts: 1,
	})
	return c, f
}

// call invokes the SDK client method of op with in and returns its output.
func call(c *kms.Client, op string, in reflect.Value) (reflect.Value, error) {
	res := reflect.ValueOf(c).MethodByName(op).Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
	err, _ := res[1].Interface().(error)
	return res[0], err
}

func sdkInput(c *kms.Client, op string) reflect.Type {
	return reflect.ValueOf(c).MethodByName(op).Type().In(1).Elem()
}

var (
	timestampType = reflect.TypeFor[Timestamp]()
	timeType      = reflect.TypeFor[time.Time]()
	sampleTime    = time.Unix(1700000000, 123_000_000)
)

// fill sets every exported field reachable from v: strings to a value derived
// from the field name, enums to their last value, lists to two elements,
// maps to two entries, booleans to b and timestamps to sampleTime.
func fill(v reflect.Value, name string, b bool) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), name, b)
	case reflect.Struct:
		switch v.Type() {
		case timestampType:
			v.Set(reflect.ValueOf(Timestamp(sampleTime)))
			return
		case timeType:
			v.Set(reflect.ValueOf(sampleTime))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.IsExported() && f.Name != "ResultMetadata" {
				fill(v.Field(i), f.Name, b)
			}
		}
	case reflect.String:
		if m := v.MethodByName("Values"); m.IsValid() {
			vals := m.Call(nil)[0]
			v.Set(vals.Index(vals.Len() - 1))
			return
		}
		v.SetString("v-" + name)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("blob-" + name))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), fmt.Sprint(name, i), b)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.ValueOf("k1-"+name), reflect.ValueOf("v1"))
		m.SetMapIndex(reflect.ValueOf("k2-"+name), reflect.ValueOf("v2"))
		v.Set(m)
	case reflect.Bool:
		v.SetBool(b)
	case reflect.Int32, reflect.Int64:
		v.SetInt(7)
	default:
		panic("fill: unexpected kind " + v.Kind().String())
	}
}

// same compares a kmsapi value with the SDK value of the same shape, member
// by member, and reports members either side lacks.
func same(path string, ours, sdk reflect.Value) error {
	if ours.Kind() == reflect.Pointer {
		if ours.IsNil() {
			if sdk.IsValid() && !sdk.IsZero() {
				return fmt.Errorf("%s: kmsapi has no value, SDK has %v", path, sdk)
			}
			return nil
		}
		ours = ours.Elem()
	}
	if sdk.Kind() == reflect.Pointer {
		if sdk.IsNil() {
			if !ours.IsZero() {
				return fmt.Errorf("%s: SDK has no value, kmsapi has %v", path, ours)
			}
			return nil
		}
		sdk = sdk.Elem()
	}
	if ours.Type() == timestampType {
		a, b := time.Time(ours.Interface().(Timestamp)), sdk.Interface().(time.Time)
		if !a.Equal(b) {
			return fmt.Errorf("%s: kmsapi %v, SDK %v", path, a, b)
		}
		return nil
	}
	switch ours.Kind() {
	case reflect.String:
		if ours.String() != sdk.String() {
			return fmt.Errorf("%s: kmsapi %q, SDK %q", path, ours.String(), sdk.String())
		}
	case reflect.Bool:
		if ours.Bool() != sdk.Bool() {
			return fmt.Errorf("%s: kmsapi %v, SDK %v", path, ours.Bool(), sdk.Bool())
		}
	case reflect.Int32, reflect.Int64:
		if ours.Int() != sdk.Int() {
			return fmt.Errorf("%s: kmsapi %d, SDK %d", path, ours.Int(), sdk.Int())
		}
	case reflect.Slice:
		if ours.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(ours.Bytes(), sdk.Bytes()) {
				return fmt.Errorf("%s: kmsapi %q, SDK %q", path, ours.Bytes(), sdk.Bytes())
			}
			return nil
		}
		if ours.Len() != sdk.Len() || ours.IsNil() != sdk.IsNil() {
			return fmt.Errorf("%s: kmsapi has %d elements, SDK %d", path, ours.Len(), sdk.Len())
		}
		for i := range ours.Len() {
			if err := same(fmt.Sprintf("%s[%d]", path, i), ours.Index(i), sdk.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if !reflect.DeepEqual(ours.Interface(), sdk.Interface()) {
			return fmt.Errorf("%s: kmsapi %v, SDK %v", path, ours, sdk)
		}
	case reflect.Struct:
		for i := range ours.NumField() {
			name := ours.Type().Field(i).Name
			sf := sdk.FieldByName(name)
			if !sf.IsValid() {
				return fmt.Errorf("%s.%s: not in the SDK", path, name)
			}
			if err := same(path+"."+name, ours.Field(i), sf); err != nil {
				return err
			}
		}
		for i := range sdk.NumField() {
			f := sdk.Type().Field(i)
			if f.IsExported() && f.Name != "ResultMetadata" && !ours.FieldByName(f.Name).IsValid() {
				return fmt.Errorf("%s.%s: SDK member missing in kmsapi", path, f.Name)
			}
		}
	default:
		return fmt.Errorf("%s: unexpected kind %s", path, ours.Kind())
	}
	return nil
}

// TestWireRequests sends every operation from the AWS SDK with every member
// set and decodes the body into the generated input, refusing unknown fields.
func TestWireRequests(t *testing.T) {
	c, f := newSDK(t)
	for _, op := range Operations {
		t.Run(op, func(t *testing.T) {
			in := reflect.New(sdkInput(c, op))
			fill(in.Elem(), op, true)
			if _, err := call(c, op, in); err != nil {
				t.Fatalf("SDK %s: %v", op, err)
			}
			target, body := f.last()
			if target != "TrentService."+op {
				t.Errorf("X-Amz-Target = %q", target)
			}
			ours := NewInput(op)
			// Decoded as the server does (exact names), refusing any
			// member the shape lacks: every name the SDK sends is ours.
			if err := jsonv2.Unmarshal(body, ours, jsonv2.RejectUnknownMembers(true)); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if err := same(op+"Input", reflect.ValueOf(ours), in); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWireResponses serves every generated output with every member set and
// checks that the AWS SDK reads back the same values.
func TestWireResponses(t *testing.T) {
	c, f := newSDK(t)
	for _, op := range Operations {
		t.Run(op, func(t *testing.T) {
			out := NewOutput(op)
			fill(reflect.ValueOf(out).Elem(), op, false)
			body, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			f.answer(body)
			in := reflect.New(sdkInput(c, op))
			fill(in.Elem(), op, true)
			got, err := call(c, op, in)
			if err != nil {
				t.Fatalf("SDK %s: %v", op, err)
			}
			if err := same(op+"Output", reflect.ValueOf(out), got); err != nil {
				t.Errorf("%v\nbody: %s", err, body)
			}
		})
	}
}

// TestWireExamples pins a few requests and responses by value.
func TestWireExamples(t *testing.T) {
	c, f := newSDK(t)
	ctx := context.Background()

	_, err := c.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    []byte{0, 1, 2, 0xff},
		EncryptionContext: map[string]string{"purpose": "test", "tenant": "a b"},
		KeyId:             aws.String("alias/app"),
		DryRun:            aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	var dec DecryptInput
	_, body := f.last()
	if err := json.Unmarshal(body, &dec); err != nil {
		t.Fatal(err)
	}
	want := DecryptInput{
		CiphertextBlob:    []byte{0, 1, 2, 0xff},
		EncryptionContext: map[string]string{"purpose": "test", "tenant": "a b"},
		KeyId:             "alias/app",
		DryRun:            Bool(false),
	}
	if !reflect.DeepEqual(dec, want) {
		t.Errorf("Decrypt request decoded to %+v, want %+v", dec, want)
	}

	// AWS sends empty lists as [] and omits absent ones; a key's description
	// and a grant's name are sent even when empty.
	for _, tc := range []struct {
		out  Output
		json string
	}{
		{&ListAliasesOutput{Aliases: []AliasListEntry{}, Truncated: Bool(false)}, `{"Aliases":[],"Truncated":false}`},
		{&ListAliasesOutput{}, `{}`},
		{&ListResourceTagsOutput{Tags: []Tag{{TagKey: "k", TagValue: ""}}}, `{"Tags":[{"TagKey":"k","TagValue":""}]}`},
		{&DescribeKeyOutput{KeyMetadata: &KeyMetadata{KeyId: "k", CreationDate: Time(time.Unix(1700000000, 0)), Enabled: Bool(false), KeyState: KeyStateEnabled}},
			`{"KeyMetadata":{"KeyId":"k","CreationDate":1700000000,"Enabled":false,"Description":"","KeyState":"Enabled"}}`},
		{&ListGrantsOutput{Grants: []GrantListEntry{{GrantId: "g"}}}, `{"Grants":[{"GrantId":"g","Name":""}]}`},
	} {
		b, err := json.Marshal(tc.out)
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%T) = %s, %v; want %s", tc.out, b, err, tc.json)
		}
	}

	f.answer([]byte(`{"KeyMetadata":{"KeyId":"k","CreationDate":1.5565824E9,"Enabled":false,"KeyState":"PendingDeletion","KeySpec":"ML_KEM_768","KeyUsage":"ENCAPSULATE_DECAPSULATE","EncapsulationAlgorithms":["ML_KEM"],"MultiRegionConfiguration":{"MultiRegionKeyType":"PRIMARY","ReplicaKeys":[{"Arn":"a","Region":"eu-west-1"}]}}}`))
	got, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	md := got.KeyMetadata
	if !md.CreationDate.Equal(time.Unix(1556582400, 0)) || md.Enabled || md.KeyState != "PendingDeletion" ||
		md.KeySpec != "ML_KEM_768" || md.EncapsulationAlgorithms[0] != "ML_KEM" ||
		*md.MultiRegionConfiguration.ReplicaKeys[0].Region != "eu-west-1" {
		t.Errorf("SDK parsed %+v", md)
	}
	if !strings.Contains(string(mustJSON(t, &KeyMetadata{MultiRegion: Bool(false)})), `"MultiRegion":false`) {
		t.Error("false booleans must be sent")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
