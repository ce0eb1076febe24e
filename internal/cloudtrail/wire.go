package cloudtrail

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kmsd/kmsd/internal/kmserr"
)

const contentType = "application/x-amz-json-1.1"

// decodeBody reads a JSON 1.1 request body into v as AWS does: member
// names match exactly, a name given twice is refused, strings must be
// valid UTF-8, and unknown members are ignored. The error never echoes a
// value the caller sent.
func decodeBody(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var (
		sem *json.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return kmserr.New(kmserr.Serialization, "Duplicate member name at byte offset %d", syn.ByteOffset)
	case errors.As(err, &syn):
		return kmserr.New(kmserr.Serialization, "Malformed JSON at byte offset %d", syn.ByteOffset)
	case errors.As(err, &sem):
		if field := memberOf(string(sem.JSONPointer)); field != "" {
			return kmserr.New(kmserr.Serialization, "Value cannot be converted to the type of field %s", field)
		}
		return kmserr.New(kmserr.Serialization, "The request body is not a JSON object")
	}
	return kmserr.New(kmserr.Serialization, "Malformed request body")
}

// memberOf returns the top-level member a JSON pointer is in, if it is one
// of the request's own (a name the caller chose is never echoed).
func memberOf(ptr string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(ptr, "/"), "/")
	switch name {
	case "LookupAttributes", "StartTime", "EndTime", "EventCategory", "MaxResults", "NextToken":
		return name
	}
	return ""
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// wireError is the code and message a client sees for e: a server fault
// is CloudTrail's InternalFailure, never a detail of what failed.
func wireError(e *kmserr.Error) (code, msg string) {
	if e.Code == kmserr.Internal {
		return kmserr.InternalFailure, "An internal error occurred."
	}
	return e.Code, e.Message
}

// writeError answers with AWS's JSON error shape.
func writeError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("x-amzn-ErrorType", code)
	writeJSON(w, kmserr.HTTPStatus(code), errorBody{Type: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"InternalFailure","message":"An internal error occurred."}`)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
