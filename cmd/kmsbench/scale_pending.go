package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// waitUsesWritten waits, up to limit, until the kmsd whose metrics are at
// url has written every key use it recorded (kmsd_key_last_usage_pending
// is 0). Making the ciphertexts uses every key once; left pending, those
// uses would be written during the first samples, a flush of up to a
// million uses landing in whichever sample it meets.
func waitUsesWritten(url string, limit, poll time.Duration) error {
	const series = "kmsd_key_last_usage_pending"
	t0 := time.Now()
	for {
		m, err := metricsOf(url, series)
		if err != nil {
			return err
		}
		n, ok := m[series]
		switch {
		case !ok:
			return fmt.Errorf("%s: no %s series", url, series)
		case n == 0:
			if d := time.Since(t0); d >= poll {
				fmt.Printf("waited %s for the key uses to be written\n", d.Round(time.Second))
			}
			return nil
		case time.Since(t0) > limit:
			return fmt.Errorf("%.0f keys' uses still unwritten after %s", n, limit)
		}
		time.Sleep(poll)
	}
}

// flushWait is how long a kmsd started with extra may take to write the
// key uses it holds: two of its jobs intervals (--jobs-interval or
// KMSD_JOBS_INTERVAL, a minute by default) and a minute for the flush.
func flushWait(extra []string) time.Duration {
	every := time.Minute
	set := func(v string) {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			every = d
		}
	}
	if v, ok := os.LookupEnv("KMSD_JOBS_INTERVAL"); ok {
		set(v)
	}
	for i, a := range extra {
		name, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "jobs-interval" || !strings.HasPrefix(a, "-") {
			continue
		}
		if !hasValue && i+1 < len(extra) {
			v = extra[i+1]
		}
		set(v)
	}
	return 2*every + time.Minute
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
