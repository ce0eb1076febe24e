package xks

// Health is a GetHealthStatus answer.
type Health struct {
	XksProxyFleetSize int
	XksProxyVendor    string
	XksProxyModel     string
	EkmVendor         string
	EkmFleetDetails   []EkmFleetDetail // 1 to 10 entries
}

// EkmFleetDetail describes one external key manager behind the proxy.
type EkmFleetDetail struct {
	ID           string
	Model        string
	HealthStatus string // ACTIVE, DEGRADED or UNAVAILABLE
}

// Unavailable reports whether every external key manager is UNAVAILABLE,
// the case AWS KMS treats as an unreachable proxy.
func (h *Health) Unavailable() bool {
	for _, d := range h.EkmFleetDetails {
		if d.HealthStatus != "UNAVAILABLE" {
			return false
		}
	}
	return true
}

type healthWire struct {
	XksProxyFleetSize *int    `json:"xksProxyFleetSize"`
	XksProxyVendor    *string `json:"xksProxyVendor"`
	XksProxyModel     *string `json:"xksProxyModel"`
	EkmVendor         *string `json:"ekmVendor"`
	EkmFleetDetails   *[]struct {
		ID           *string `json:"id"`
		Model        *string `json:"model"`
		HealthStatus *string `json:"healthStatus"`
	} `json:"ekmFleetDetails"`
}

func (w *healthWire) check() (*Health, error) {
	bad := func(format string, args ...any) (*Health, error) {
		return nil, malformed(OpGetHealthStatus, 200, format, args...)
	}
	switch {
	case w.XksProxyFleetSize == nil || *w.XksProxyFleetSize < 1:
		return bad("xksProxyFleetSize is missing or not an integer greater than zero")
	case w.XksProxyVendor == nil || w.XksProxyModel == nil || w.EkmVendor == nil:
		return bad("xksProxyVendor, xksProxyModel and ekmVendor are required")
	case w.EkmFleetDetails == nil || len(*w.EkmFleetDetails) < 1 || len(*w.EkmFleetDetails) > 10:
		return bad("ekmFleetDetails must have 1 to 10 entries")
	}
	h := &Health{
		XksProxyFleetSize: *w.XksProxyFleetSize,
		XksProxyVendor:    sanitize(*w.XksProxyVendor),
		XksProxyModel:     sanitize(*w.XksProxyModel),
		EkmVendor:         sanitize(*w.EkmVendor),
	}
	for i, d := range *w.EkmFleetDetails {
		if d.ID == nil || d.Model == nil || d.HealthStatus == nil {
			return bad("ekmFleetDetails[%d] needs id, model and healthStatus", i)
		}
		switch *d.HealthStatus {
		case "ACTIVE", "DEGRADED", "UNAVAILABLE":
		default:
			return bad("ekmFleetDetails[%d].healthStatus is not ACTIVE, DEGRADED or UNAVAILABLE", i)
		}
		h.EkmFleetDetails = append(h.EkmFleetDetails, EkmFleetDetail{
			ID: sanitize(*d.ID), Model: sanitize(*d.Model), HealthStatus: *d.HealthStatus})
	}
	return h, nil
}
