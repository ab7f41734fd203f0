package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/scripts/peers"
)

// After a good call and a call whose far end's RTP never arrives (SIPp
// answering without media: the far-to-near direction is dropped), the
// bundle from the running firmware holds both calls with their times,
// numbers and codes, and its summary names one-way audio with that call
// as evidence. Then the customer sends it from the handset with *47: the
// support server gets the bundle and the phone hears the ticket spoken.
func TestBundleAfterCallsNamesOneWayAudio(t *testing.T) {
	mute := peers.User{Name: "2001", Password: "pass2001"}
	k := peers.StartKamailio(t, []peers.User{alice, far, mute})
	good := peers.StartSIPp(t, "uas_answer_tone.xml", "-m", "1", "-d", "3000")
	k.RegisterContact(t, far, good.Addr)
	oneWay := peers.StartSIPp(t, "uas_echo.xml", "-m", "1", "-d", "8000") // no -rtp_echo: it sends nothing
	k.RegisterContact(t, mute, oneWay.Addr)

	type upload struct {
		ticket string
		files  []diag.File
	}
	uploads := make(chan upload, 2)
	support := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files, err := diag.ReadArchive(r.Body)
		if err != nil {
			t.Errorf("support got no bundle: %v", err)
		}
		uploads <- upload{r.Header.Get("X-Tipring-Ticket"), files}
		w.WriteHeader(http.StatusCreated)
	}))
	defer support.Close()

	d := startDeviceWith(t, deviceSetup{
		Region:   "us",
		Accounts: []account{{User: alice.Name, Password: alice.Password, Registrar: k.Addr}},
		Diag:     `support_url = "` + support.URL + `/bundles"`,
	})
	d.waitRegistered(1)
	start := time.Now().Add(-time.Second)

	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	d.waitHearing(1, "reorder", 0, 10*time.Second) // the far end hung up
	d.hook(1, false)
	time.Sleep(1200 * time.Millisecond)

	d.hook(1, true)
	d.dial(1, mute.Name)
	d.eventually("the mute far end answered", 10*time.Second, func() bool { return d.status().Lines[0].CallState == "connected" })
	d.send(1, 700, 4000) // the customer speaks; nothing comes back
	time.Sleep(4500 * time.Millisecond)
	d.hook(1, false)
	time.Sleep(1200 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	took := time.Now()
	b, err := d.API.Bundle(ctx, api.BundleOptions{Problem: "the other side cannot be heard"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bundle: %d bytes in %v", len(b), time.Since(took))
	files, err := diag.ReadArchive(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Name] = string(f.Data)
	}
	var e diag.Evidence
	if err := json.Unmarshal([]byte(got["diag.json"]), &e); err != nil {
		t.Fatalf("diag.json: %v", err)
	}
	calls := map[string]diag.Call{}
	for _, c := range e.Calls {
		if c.Start.Before(start) || c.Start.After(time.Now()) {
			t.Errorf("call to %s at %v, outside the test's %v..now", c.Number, c.Start, start)
		}
		calls[c.Number] = c
	}
	for _, n := range []string{far.Name, mute.Name} {
		c, ok := calls[n]
		if !ok || c.SIPCode != 200 || c.Direction != "outgoing" {
			t.Errorf("call to %s in the bundle: %+v (found %v)", n, c, ok)
		}
	}
	if c := calls[mute.Name]; c.RTPSent == 0 || c.RTPReceived != 0 || c.Quality.OneWay == "" {
		t.Errorf("the mute call is not one-way in the evidence: sent %d, received %d, one-way %q", c.RTPSent, c.RTPReceived, c.Quality.OneWay)
	}
	if c := calls[far.Name]; c.Quality.OneWay != "" {
		t.Errorf("the good call is flagged one-way: %q", c.Quality.OneWay)
	}
	sum := got["summary.txt"]
	causes, _, _ := strings.Cut(sum, "SUPPORT CHECKLIST")
	if !strings.Contains(causes, "One-way audio") || !strings.Contains(causes, mute.Name) {
		t.Errorf("the likely causes do not name one-way audio on the call to %s:\n%s", mute.Name, sum)
	}
	// Real Kamailio on loopback rewrites nothing: the ALG check must not
	// cry wolf on it.
	for _, l := range e.Lines {
		if l.ALGSuspect {
			t.Errorf("line %d: SIP ALG suspected on a clean path: %s", l.Port, l.ALGWhy)
		}
	}
	if !strings.Contains(got["sip-trace.txt"], "INVITE sip:"+mute.Name) {
		t.Errorf("sip-trace.txt lacks the INVITE to %s", mute.Name)
	}
	if strings.Contains(strings.Join([]string{got["diag.json"], got["sip-trace.txt"], got["log.txt"]}, ""), alice.Password) {
		t.Error("the SIP password reached the bundle")
	}

	// The customer sends it from the handset.
	d.hook(1, true)
	d.dial(1, "*47")
	select {
	case up := <-uploads:
		if len(up.ticket) != 6 || len(up.files) == 0 || up.files[0].Name != "summary.txt" {
			t.Fatalf("support got ticket %q with %d files", up.ticket, len(up.files))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("*47 sent nothing to the support server")
	}
	d.waitHearing(1, "speech", 0, 10*time.Second)
	d.hook(1, false)
}
