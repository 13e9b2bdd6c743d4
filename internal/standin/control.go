package standin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

const controlPrefix = "/_standin/"

// Control is the body of POST /_standin/control: every set field is applied.
// Durations use Go syntax ("3s", "12h").
type Control struct {
	Reset         bool   `json:"reset,omitempty"`
	TokenLifetime string `json:"token_lifetime,omitempty"`
	// SessionLifetime caps role sessions minted from now on ("0s": no cap).
	SessionLifetime string `json:"session_lifetime,omitempty"`
	Skew            string `json:"skew,omitempty"`
	Latency         string `json:"latency,omitempty"`
	// RegistryLatency applies to every registry front of this server.
	RegistryLatency string `json:"registry_latency,omitempty"`
	RefuseRole      string `json:"refuse_role,omitempty"`
	AllowRole       string `json:"allow_role,omitempty"`
	Throttle        *struct {
		Action string `json:"action"`
		Count  int    `json:"count"`
	} `json:"throttle,omitempty"`
}

// Apply performs a Control request: Reset first, then the rest. A malformed
// duration rejects the whole request before anything changes.
func (s *Server) Apply(c Control) error {
	fronts := s.fronts()
	var sets []func()
	for _, d := range []struct {
		name, raw string
		set       func(time.Duration)
	}{
		{"token_lifetime", c.TokenLifetime, s.SetTokenLifetime},
		{"session_lifetime", c.SessionLifetime, s.SetSessionLifetime},
		{"skew", c.Skew, s.SetSkew},
		{"latency", c.Latency, s.SetLatency},
		{"registry_latency", c.RegistryLatency, func(v time.Duration) {
			for _, r := range fronts {
				r.SetLatency(v)
			}
		}},
	} {
		if d.raw == "" {
			continue
		}
		v, err := time.ParseDuration(d.raw)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		set := d.set
		sets = append(sets, func() { set(v) })
	}
	if c.Throttle != nil && !slices.Contains(Actions, c.Throttle.Action) {
		return fmt.Errorf("throttle: unknown action %q (one of %s)", c.Throttle.Action, strings.Join(Actions, ", "))
	}
	if c.Reset {
		s.Reset()
		for _, r := range fronts {
			r.Reset()
		}
	}
	for _, set := range sets {
		set()
	}
	if c.RefuseRole != "" {
		s.RefuseRole(c.RefuseRole, true)
	}
	if c.AllowRole != "" {
		s.RefuseRole(c.AllowRole, false)
	}
	if c.Throttle != nil {
		s.Throttle(c.Throttle.Action, c.Throttle.Count)
	}
	return nil
}

// RegistryStats sums the counters of every registry front of this server.
func (s *Server) RegistryStats() RegistryStats {
	var sum RegistryStats
	for _, r := range s.fronts() {
		st := r.Requests()
		sum.Requests += st.Requests
		sum.Authorized += st.Authorized
		sum.Unauthorized += st.Unauthorized
		sum.Expired += st.Expired
		sum.ManifestGets += st.ManifestGets
		sum.BlobGets += st.BlobGets
		sum.Uploads += st.Uploads
		sum.Gets += st.Gets
		sum.Heads += st.Heads
		sum.BytesIn += st.BytesIn
		sum.BytesOut += st.BytesOut
	}
	return sum
}

// serveControl is the HTTP face of the controls, for the stand-in process:
// GET /_standin/counts, /_standin/calls and /_standin/attempts answer Counts
// as JSON,
// GET /_standin/registry the summed RegistryStats of its registry fronts,
// POST /_standin/control takes a Control and answers the counts.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == controlPrefix+"counts" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Counts())
	case r.URL.Path == controlPrefix+"calls" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Calls())
	case r.URL.Path == controlPrefix+"attempts" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Attempts())
	case r.URL.Path == controlPrefix+"registry" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.RegistryStats())
	case r.URL.Path == controlPrefix+"idtoken" && r.Method == http.MethodPost:
		s.serveSignIDToken(w, r)
	case r.URL.Path == controlPrefix+"control" && r.Method == http.MethodPost:
		var c Control
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if err := s.Apply(c); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(s.Counts())
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}
