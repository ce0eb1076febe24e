package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// waitUsesWritten waits, up to limit, until the kmsd whose metrics are at
// url has written every key use it recorded in place: none in memory
// (kmsd_key_last_usage_pending), none in runs
// (kmsd_key_last_usage_unmerged), and no flush or merge running or due
// (kmsd_key_last_usage_flushing). Making the ciphertexts uses every key
// once; left unwritten, those uses would be written during the samples,
// a flush or a merge of up to a million uses landing in whichever sample
// it meets. A merge follows, at the latest, the first flush that finds
// nothing new.
func waitUsesWritten(url string, limit, poll time.Duration) error {
	const pending, unmerged, busy = "kmsd_key_last_usage_pending", "kmsd_key_last_usage_unmerged", "kmsd_key_last_usage_flushing"
	t0 := time.Now()
	for {
		m, err := metricsOf(url, pending, unmerged, busy)
		if err != nil {
			return err
		}
		n, ok := m[pending]
		switch {
		case !ok:
			return fmt.Errorf("%s: no %s series", url, pending)
		case n == 0 && m[unmerged] == 0 && m[busy] == 0:
			if d := time.Since(t0); d >= poll {
				fmt.Printf("waited %s for the key uses to be written\n", d.Round(time.Second))
			}
			return nil
		case time.Since(t0) > limit:
			return fmt.Errorf("%.0f keys' uses still unwritten, %.0f unmerged (busy %.0f) after %s", n, m[unmerged], m[busy], limit)
		}
		time.Sleep(poll)
	}
}

// flushWait is how long a kmsd dev started from bin with extra may take
// to write the key uses it holds: two of its jobs intervals and three
// minutes for the flush and its merge. The interval is the one kmsd itself settles on (flag,
// KMSD_JOBS_INTERVAL or a --config file), as --print-config shows it.
func flushWait(bin string, extra []string) (time.Duration, error) {
	// --print-config first: a flag at the end of extra left without its
	// value would take it as that value, and kmsd would start serving.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"dev", "--print-config"}, extra...)...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return 0, fmt.Errorf("%s dev --print-config: %w", bin, err)
	}
	every, err := jobsInterval(out)
	if err != nil {
		return 0, fmt.Errorf("%s dev --print-config: %w", bin, err)
	}
	return 2*every + 3*time.Minute, nil
}

// jobsInterval reads jobs_interval from kmsd's --print-config output.
func jobsInterval(config []byte) (time.Duration, error) {
	for line := range strings.Lines(string(config)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "jobs_interval:"); ok {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				return 0, fmt.Errorf("jobs_interval %q", strings.TrimSpace(v))
			}
			return d, nil
		}
	}
	return 0, errors.New("no jobs_interval")
}

// metricsOf reads the named series, those without labels, from a
// Prometheus text endpoint; a series it does not find is left out.
func metricsOf(url string, names ...string) (map[string]float64, error) {
	m := make(map[string]float64, len(names))
	err := scrape(url, func(series string, v float64) {
		if slices.Contains(names, series) {
			m[series] = v
		}
	})
	return m, err
}

// scrape calls each with every sample of a Prometheus text endpoint: the
// series as written (name and labels) and its value.
func scrape(url string, each func(series string, v float64)) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		cut := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || cut <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", url, line[:cut], err)
		}
		each(line[:cut], v)
	}
	return sc.Err()
}
