package quota

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Rates is a quota setting: AWS's default quotas, scaled or not, or none,
// with overrides for single quotas.
type Rates struct {
	// scale multiplies AWS's defaults; 0 leaves only the overrides.
	scale float64
	// overrides are requests per second by quota name; +Inf is unlimited.
	overrides map[string]float64
}

// AWS is AWS's default quotas.
func AWS() Rates { return Rates{scale: 1} }

// Parse reads a quota setting, a comma-separated list that starts with
// the base and goes on with overrides:
//
//	aws                      AWS's default quotas
//	off                      no quotas
//	0.1                      AWS's defaults times 0.1 (any positive number)
//	aws,CreateKey=1          AWS's defaults, but CreateKey at 1 request per second
//	off,symmetric=50         only the symmetric cryptographic quota, at 50
//	aws,ListKeys=off         AWS's defaults, but ListKeys unlimited
//
// An override alone ("CreateKey=1") applies to AWS's defaults. Names are
// operation names, the shared cryptographic quotas (symmetric, rsa, ecc,
// ml-dsa, ml-kem) and GenerateDataKeyPair/<KeyPairSpec>.
func Parse(spec string) (Rates, error) {
	r := AWS()
	items := strings.Split(spec, ",")
	for i, item := range items {
		item = strings.TrimSpace(item)
		name, value, isOverride := strings.Cut(item, "=")
		if !isOverride {
			if i > 0 {
				return Rates{}, fmt.Errorf("quotas %q: %q must come first; the rest are name=rate overrides", spec, item)
			}
			base, err := parseBase(item)
			if err != nil {
				return Rates{}, fmt.Errorf("quotas %q: %w", spec, err)
			}
			r.scale = base
			continue
		}
		name = strings.TrimSpace(name)
		if !known(name) {
			return Rates{}, fmt.Errorf("quotas %q: no quota is named %q (use an operation name such as CreateKey, one of symmetric, rsa, ecc, ml-dsa, ml-kem, or GenerateDataKeyPair/RSA_2048)", spec, name)
		}
		v, err := parseRate(strings.TrimSpace(value))
		if err != nil {
			return Rates{}, fmt.Errorf("quotas %q: %s: %w", spec, name, err)
		}
		if r.overrides == nil {
			r.overrides = map[string]float64{}
		}
		r.overrides[name] = v
	}
	return r, nil
}

func parseBase(s string) (float64, error) {
	switch s {
	case "aws", "":
		return 1, nil
	case "off":
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not aws, off, or a positive scale of AWS's quotas such as 0.1", s)
	}
	return f, nil
}

func parseRate(s string) (float64, error) {
	if s == "off" {
		return math.Inf(1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a positive number of requests per second, or off", s)
	}
	return f, nil
}

// Off reports whether the setting limits nothing.
func (r Rates) Off() bool {
	if r.scale > 0 {
		return false
	}
	for _, v := range r.overrides {
		if !math.IsInf(v, 1) {
			return false
		}
	}
	return true
}

// String writes the setting the way Parse reads it.
func (r Rates) String() string {
	var b strings.Builder
	switch r.scale {
	case 0:
		b.WriteString("off")
	case 1:
		b.WriteString("aws")
	default:
		b.WriteString(strconv.FormatFloat(r.scale, 'g', -1, 64))
	}
	names := make([]string, 0, len(r.overrides))
	for n := range r.overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := "off"
		if !math.IsInf(r.overrides[n], 1) {
			v = strconv.FormatFloat(r.overrides[n], 'g', -1, 64)
		}
		b.WriteString("," + n + "=" + v)
	}
	return b.String()
}

// Rate is the quota name has in region, in requests per second; +Inf
// when it is not limited.
func (r Rates) Rate(name, region string) float64 {
	if v, ok := r.overrides[name]; ok {
		return v
	}
	if v := awsRate(name, region) * r.scale; v > 0 {
		return v
	}
	return math.Inf(1)
}
