// Package schema versions the layout of kmsd's stored records: each kmsd
// migrates an older store forward when it opens it, and refuses a store
// written by a newer kmsd instead of misreading it.
//
// The version is a record of its own (bucket "store-schema", key
// "version"), written through the caller's store; kmsd passes its sealed
// store, so the version is authenticated like every other record. A store
// that records no version has the layout of version 1 (Base): every store
// written before versions were recorded. A migration takes the store from
// one version to the next inside one transaction that also records the new
// version, so a migration cut short by a crash left nothing half done, and
// the next start resumes from the last version recorded. Transactions are
// serializable, so nodes of a cluster starting together apply each
// migration once.
package schema
