package kms

import (
	"context"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// DescribeCustomKeyStores lists the account's custom key stores in the
// Region. kmsd has none yet, so the list is empty and a filter names a
// store that does not exist; SDK paginators and tools that list stores
// work as against an account without any.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c *Call, in *kmsapi.DescribeCustomKeyStoresInput) (*kmsapi.DescribeCustomKeyStoresOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, kmserr.New(kmserr.Validation, "You can specify either the CustomKeyStoreId or the CustomKeyStoreName parameter, but not both.")
	}
	// Custom key stores are not key resources: only identity policies
	// decide, as for ListKeys.
	if err := s.authorize(ctx, c, "kms:DescribeCustomKeyStores", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	// The list has no second page, so no marker is valid.
	if in.Marker != "" {
		return nil, kmserr.New(kmserr.InvalidMarker, "Invalid marker")
	}
	switch {
	case in.CustomKeyStoreId != "":
		return nil, kmserr.New(kmserr.CustomKeyStoreNotFound, "Custom key store %s does not exist.", in.CustomKeyStoreId)
	case in.CustomKeyStoreName != "":
		return nil, kmserr.New(kmserr.CustomKeyStoreNotFound, "Custom key store with name %s does not exist.", in.CustomKeyStoreName)
	}
	return &kmsapi.DescribeCustomKeyStoresOutput{CustomKeyStores: []kmsapi.CustomKeyStoresListEntry{}, Truncated: kmsapi.Bool(false)}, nil
}
