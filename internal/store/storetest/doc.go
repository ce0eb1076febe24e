// Package storetest is the conformance suite that pins the store.Store
// contract: every backend's tests call Run, so code above the store can rely
// on one behaviour whichever backend holds the data.
//
// Beyond what store.go spells out, the suite requires of a backend:
//   - Put rejects an empty key and an empty bucket name;
//   - Put and Delete fail inside View;
//   - a nil value is stored as a 0-byte value, not as an absent key;
//   - a panic in Update's fn propagates to the caller and rolls back;
//   - a context that is already done, or ends before the commit, makes
//     View/Update fail with the context's error and write nothing.
package storetest
