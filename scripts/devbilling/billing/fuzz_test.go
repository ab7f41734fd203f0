package billing

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tipring/tipring/meter"
)

// Seeds for both are in testdata/fuzz.

// A switch body either changes the state (200) or changes nothing (400);
// it never panics.
func FuzzStateChange(f *testing.F) {
	f.Add(`{"status":"suspended","outage":"hang"}`)
	f.Fuzz(func(t *testing.T, body string) {
		s, err := New(Config{Account: "1", Token: "t", Balance: meter.Unit})
		if err != nil {
			t.Fatal(err)
		}
		before := s.State()
		req := httptest.NewRequest("POST", "/dev/state", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:4000"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		after := s.State()
		switch rec.Code {
		case http.StatusOK:
			if after.Status != meter.Active && after.Status != meter.Suspended {
				t.Fatalf("status %q accepted", after.Status)
			}
			if after.Recharge != "approve" && after.Recharge != "decline" {
				t.Fatalf("recharge %q accepted", after.Recharge)
			}
		case http.StatusBadRequest:
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused switch changed the state:\n%+v\n%+v", before, after)
			}
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

// A usage body is applied at most once, never raises the balance, and is
// refused unless it is one record with an id and a cost of zero or more.
func FuzzUsagePost(f *testing.F) {
	f.Add(`{"id":"a","cost":"1.00"}`)
	f.Fuzz(func(t *testing.T, body string) {
		s, err := New(Config{Account: "1", Token: "t", Balance: 5 * meter.Unit})
		if err != nil {
			t.Fatal(err)
		}
		post := func() int {
			req := httptest.NewRequest("POST", "/v1/accounts/1/usage", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer t")
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			return rec.Code
		}
		code := post()
		st := s.State()
		switch code {
		case http.StatusOK:
			u := s.Usage()
			if len(u) != 1 || u[0].ID == "" || u[0].Cost < 0 || st.Balance-st.Overdraft != 5*meter.Unit-u[0].Cost {
				t.Fatalf("usage %+v, state %+v", u, st)
			}
			if post() != http.StatusOK || s.State().Balance != st.Balance || s.Usage()[0].Posts != 2 {
				t.Fatal("the repeat was not idempotent")
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if st.Balance != 5*meter.Unit || len(s.Usage()) != 0 {
				t.Fatalf("a refused post was applied: %+v", st)
			}
		default:
			t.Fatalf("HTTP %d", code)
		}
	})
}
