package main

import (
	"fmt"
	"time"
)

// usesLeft accounts for the key uses the rounds leave behind. A kmsd
// writes a flush of many uses as runs, and merges the runs into place
// once they hold a million uses: the rounds' uses wait in runs, and their
// merge, which they will cost, mostly falls after the rounds. The bench
// times the merge of the ciphertexts' uses (one a key, before the rounds)
// and charges the uses left unmerged at that cost.
type usesLeft struct {
	// Server CPU from the ciphertexts' last use to their uses' merge,
	// divided by those uses: the last flush's runs, the merge, and
	// whatever else the server did meanwhile (the audit index catching
	// up), so it errs high.
	MergeCPUPerUse time.Duration `json:"merge_cpu_per_use_ns"`
	Unmerged       float64       `json:"unmerged_uses_after"`
	// The whole run's CPU per request, with the unmerged uses charged.
	WholeWithMerge time.Duration `json:"whole_run_with_merge_cpu_per_request_many_ns"`
}

// timeUsesWritten is waitUsesWritten, and the server CPU it saw spent
// per use of the uses made before it.
func timeUsesWritten(pid int, url string, uses int, limit time.Duration) (time.Duration, error) {
	before, err := procStatOf(pid)
	if err != nil {
		return 0, err
	}
	if err := waitUsesWritten(url, limit, time.Second); err != nil {
		return 0, err
	}
	after, err := procStatOf(pid)
	if err != nil || uses <= 0 {
		return 0, err
	}
	return (after.cpu - before.cpu) / time.Duration(uses), nil
}

// charge sets Unmerged from the server's metrics at url and WholeWithMerge
// from whole, the CPU per request over requests requests.
func (u *usesLeft) charge(url string, whole time.Duration, requests float64) error {
	m, err := metricsOf(url, "kmsd_key_last_usage_unmerged", "kmsd_key_last_usage_pending")
	if err != nil {
		return err
	}
	u.Unmerged = m["kmsd_key_last_usage_unmerged"] + m["kmsd_key_last_usage_pending"]
	u.WholeWithMerge = whole
	if requests > 0 {
		u.WholeWithMerge += time.Duration(u.Unmerged * float64(u.MergeCPUPerUse) / requests)
	}
	return nil
}

func (u *usesLeft) String(wholeOne time.Duration) string {
	return fmt.Sprintf("%.2f× (%s) with the %.0f key uses the rounds left to merge charged at %s a use, what the ciphertexts' uses took to write and merge",
		float64(u.WholeWithMerge)/float64(wholeOne), u.WholeWithMerge.Round(100*time.Nanosecond), u.Unmerged, u.MergeCPUPerUse.Round(10*time.Nanosecond))
}
