// Package metrics is kmsd's Prometheus instrumentation: the series the
// request path and the store update as they work, and a collector that
// reads the audit log, key cache and key states of the serving node when
// Prometheus scrapes. Its handler belongs on the admin listener only: the
// series name operations and key states, which the API port never tells.
package metrics
