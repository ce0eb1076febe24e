package kms

import (
	"context"
	"strconv"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// checkNewTags merges tags into existing ones (a repeated key overwrites),
// refusing what AWS refuses: reserved aws: keys, duplicates in one request,
// and more than max tags in all.
func checkNewTags(existing []tagRecord, tags []kmsapi.Tag, max int) ([]tagRecord, error) {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.TagKey), "aws:") {
			return nil, kmserr.New(kmserr.Tag, "Tags beginning with aws: are reserved")
		}
		if seen[t.TagKey] {
			return nil, kmserr.New(kmserr.Tag, "Duplicate tag keys")
		}
		seen[t.TagKey] = true
	}
	out := append([]tagRecord(nil), existing...)
	for _, t := range tags {
		replaced := false
		for i := range out {
			if out[i].Key == t.TagKey {
				out[i].Value, replaced = t.TagValue, true
				break
			}
		}
		if !replaced {
			out = append(out, tagRecord{Key: t.TagKey, Value: t.TagValue})
		}
	}
	if len(out) > max {
		return nil, kmserr.New(kmserr.Tag, "Too many tags")
	}
	return out, nil
}

// TagResource adds or overwrites tags on a key.
func (s *Service) TagResource(ctx context.Context, c *Call, in *kmsapi.TagResourceInput) (*kmsapi.TagResourceOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := checkNewTags(nil, in.Tags, s.limits.TagsPerKey); err != nil {
		return nil, err
	}
	c.conditions = make(map[string][]string, len(in.Tags)+1)
	addTagConditions(c.conditions, in.Tags)
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:TagResource", ruleManage, func(_ store.Tx, r *keyRecord) error {
		tags, err := checkNewTags(r.Tags, in.Tags, s.limits.TagsPerKey)
		r.Tags = tags
		return err
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.TagResourceOutput{}, nil
}

// UntagResource removes tags; keys that are not there are ignored, as in AWS.
func (s *Service) UntagResource(ctx context.Context, c *Call, in *kmsapi.UntagResourceInput) (*kmsapi.UntagResourceOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, kmserr.New(kmserr.Tag, "Tags beginning with aws: are reserved")
		}
	}
	c.conditions = map[string][]string{"aws:tagkeys": in.TagKeys}
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:UntagResource", ruleManage, func(_ store.Tx, r *keyRecord) error {
		drop := make(map[string]bool, len(in.TagKeys))
		for _, k := range in.TagKeys {
			drop[k] = true
		}
		kept := r.Tags[:0]
		for _, t := range r.Tags {
			if !drop[t.Key] {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.UntagResourceOutput{}, nil
}

// ListResourceTags pages through a key's tags in the order they were added.
func (s *Service) ListResourceTags(ctx context.Context, c *Call, in *kmsapi.ListResourceTagsInput) (*kmsapi.ListResourceTagsOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:ListResourceTags", nil, nil)
	if err != nil {
		return nil, err
	}
	limit := limitOf(in.Limit, 50)
	start := 0
	if in.Marker != "" {
		m, err := decodeMarker(in.Marker)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(k.rec.Tags) {
			return nil, kmserr.New(kmserr.InvalidMarker, "Invalid marker")
		}
		start = n
	}
	out := &kmsapi.ListResourceTagsOutput{Tags: []kmsapi.Tag{}, Truncated: kmsapi.Bool(false)}
	for i := start; i < len(k.rec.Tags); i++ {
		if len(out.Tags) == limit {
			out.Truncated = kmsapi.Bool(true)
			out.NextMarker = encodeMarker(strconv.Itoa(i))
			break
		}
		out.Tags = append(out.Tags, kmsapi.Tag{TagKey: k.rec.Tags[i].Key, TagValue: k.rec.Tags[i].Value})
	}
	return out, nil
}
